-- The coordinator's durable log: one row per booking this airline coordinates. The UPDATE to
-- 'committed' (in the transaction that also writes the pass) is the commit point.
CREATE TABLE bookings (
    booking_id   UUID PRIMARY KEY,
    user_id      UUID NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('preparing', 'committed', 'aborted')),
    legs         JSONB NOT NULL,
    -- Every participant has acknowledged the outcome; recovery has nothing left to do.
    finished     BOOLEAN NOT NULL DEFAULT false,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX bookings_unfinished ON bookings (created_at) WHERE NOT finished;

-- The participant side: which coordinator to ask about a hold that outlived its deadline.
ALTER TABLE seats ADD COLUMN coordinator TEXT;

-- Stripe-style idempotency keys: the stored response is replayed for a repeat of the key.
CREATE TABLE idempotency_keys (
    user_id          UUID NOT NULL,
    key              TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    booking_id       UUID NOT NULL,
    response_status  SMALLINT,
    response_body    JSONB,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
