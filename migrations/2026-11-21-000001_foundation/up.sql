-- One airline's own data: its segments and seats (it alone decides whether a seat is sold),
-- plus the replicated accounts and passes of the whole federation.

CREATE TABLE segments (
    segment_id       TEXT PRIMARY KEY,
    flight_no        TEXT NOT NULL,
    origin           TEXT NOT NULL,
    origin_key       TEXT NOT NULL,
    destination      TEXT NOT NULL,
    destination_key  TEXT NOT NULL,
    departs_at       TIMESTAMPTZ NOT NULL,
    arrives_at       TIMESTAMPTZ NOT NULL,
    price_cents      BIGINT NOT NULL CHECK (price_cents >= 0),
    currency         TEXT NOT NULL,
    CHECK (arrives_at > departs_at),
    CHECK (origin_key <> destination_key)
);
CREATE INDEX segments_by_origin ON segments (origin_key, departs_at);
CREATE INDEX segments_by_departure ON segments (departs_at);

CREATE TABLE seats (
    segment_id  TEXT NOT NULL REFERENCES segments (segment_id) ON DELETE CASCADE,
    seat        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'held', 'sold')),
    booking_id  UUID,
    held_until  TIMESTAMPTZ,
    PRIMARY KEY (segment_id, seat),
    -- A held or sold seat always names its booking; a free one never does.
    CHECK ((status = 'available') = (booking_id IS NULL)),
    CHECK ((status = 'held') = (held_until IS NOT NULL))
);
CREATE INDEX seats_by_booking ON seats (booking_id) WHERE booking_id IS NOT NULL;
CREATE INDEX seats_available ON seats (segment_id) WHERE status = 'available';

CREATE TABLE users (
    user_id        UUID PRIMARY KEY,
    login          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    home_airline   TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE passes (
    pass_id       UUID PRIMARY KEY,
    user_id       UUID NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    sold_by       TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    total_cents   BIGINT NOT NULL,
    currency      TEXT NOT NULL
);
CREATE INDEX passes_by_user ON passes (user_id, created_at);

CREATE TABLE pass_legs (
    pass_id      UUID NOT NULL REFERENCES passes (pass_id) ON DELETE CASCADE,
    leg_no       SMALLINT NOT NULL,
    airline      TEXT NOT NULL,
    segment_id   TEXT NOT NULL,
    flight_no    TEXT NOT NULL,
    origin       TEXT NOT NULL,
    destination  TEXT NOT NULL,
    departs_at   TIMESTAMPTZ NOT NULL,
    arrives_at   TIMESTAMPTZ NOT NULL,
    seat         TEXT NOT NULL,
    price_cents  BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    PRIMARY KEY (pass_id, leg_no)
);
