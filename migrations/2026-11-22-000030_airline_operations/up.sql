-- Airline operations: staff accounts, a schedule staff can change, cancelled flights and the
-- passes they disrupt, and a feed of events for staff and passengers.

-- Staff are users of this airline with a role: their token's `sub` names a row of `users`
-- like a passenger's does. Staff rows are created by `passcom-server staff add` and never
-- replicated (only registration writes an account to the outbox).
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'passenger' CHECK (role IN ('passenger', 'staff'));

-- A cancelled flight keeps its row (its passes point at it); `cancelled_at` takes it off sale.
ALTER TABLE segments ADD COLUMN cancelled_at TIMESTAMPTZ;
ALTER TABLE segments ADD COLUMN cancel_reason TEXT;
ALTER TABLE segments ADD CHECK ((cancelled_at IS NULL) = (cancel_reason IS NULL));

-- The price a seat was held or sold at (the owner's price at that moment), so that revenue is
-- what was sold, whatever the price is now. Seats sold before this column read the segment's.
ALTER TABLE seats ADD COLUMN price_cents BIGINT;

ALTER TABLE passes DROP CONSTRAINT passes_status_check;
ALTER TABLE passes ADD CONSTRAINT passes_status_check CHECK (status IN ('confirmed', 'disrupted', 'cancelled'));

-- Why a pass is disrupted: one row per cancelled leg, kept at every airline. A disruption may
-- arrive before the pass it disrupts (they travel from different airlines), so it is stored on
-- its own and applied when the pass arrives.
CREATE TABLE pass_disruptions (
    pass_id      UUID NOT NULL,
    airline      TEXT NOT NULL,
    segment_id   TEXT NOT NULL,
    reason       TEXT NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pass_id, airline, segment_id)
);

-- Events, written in the transaction of the change they describe, so that nothing a rollback
-- undoes is ever announced. `id` is given at INSERT and so does not follow commit order;
-- `seq` is given later, by one sequencer at a time, to committed rows only, in id order: a
-- reader that has seen `seq` n has seen every event with a lower one, whenever it committed.
CREATE TABLE events (
    id          BIGSERIAL PRIMARY KEY,
    seq         BIGINT UNIQUE,
    -- Staff events concern this airline's own flights; pass events, one passenger's pass.
    audience    TEXT NOT NULL CHECK (audience IN ('airline', 'passenger')),
    user_id     UUID,
    kind        TEXT NOT NULL,
    segment_id  TEXT,
    pass_id     UUID,
    seats       INTEGER,
    cents       BIGINT,
    detail      JSONB NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    CHECK ((audience = 'passenger') = (user_id IS NOT NULL))
);
CREATE INDEX events_unsequenced ON events (id) WHERE seq IS NULL;
CREATE INDEX events_of_user ON events (user_id, seq) WHERE user_id IS NOT NULL;

-- Whether the low-availability alert of a segment is raised; kept off the segment row, which
-- every sale locks FOR SHARE.
CREATE TABLE segment_alerts (
    segment_id  TEXT PRIMARY KEY REFERENCES segments (segment_id) ON DELETE CASCADE,
    low         BOOLEAN NOT NULL
);

-- Sales and cancellations are seen where they happen, whatever path sold or freed the seat
-- (a one-phase sale, a decision, a participant's commit, recovery, a release): one event per
-- booking and segment and statement.
CREATE FUNCTION seat_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (audience, kind, segment_id, pass_id, seats, cents)
    SELECT 'airline',
           CASE WHEN n.status = 'sold' THEN 'sale' ELSE 'cancellation' END,
           n.segment_id, coalesce(n.booking_id, o.booking_id), count(*),
           sum(coalesce(o.price_cents, n.price_cents, g.price_cents))
      FROM new_seats n
      JOIN old_seats o ON o.segment_id = n.segment_id AND o.seat = n.seat
      JOIN segments g ON g.segment_id = n.segment_id
     WHERE (n.status = 'sold' AND o.status <> 'sold') OR (o.status = 'sold' AND n.status <> 'sold')
     GROUP BY n.segment_id, coalesce(n.booking_id, o.booking_id), n.status = 'sold';
    RETURN NULL;
END $$;
CREATE TRIGGER seat_events AFTER UPDATE ON seats
    REFERENCING OLD TABLE AS old_seats NEW TABLE AS new_seats
    FOR EACH STATEMENT EXECUTE FUNCTION seat_events();

-- A passenger hears of their pass wherever it is stored: confirmed when it arrives, then each
-- change of status.
CREATE FUNCTION pass_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO events (audience, user_id, kind, pass_id) VALUES ('passenger', NEW.user_id, NEW.status, NEW.pass_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER pass_events AFTER INSERT OR UPDATE OF status ON passes
    FOR EACH ROW EXECUTE FUNCTION pass_events();
