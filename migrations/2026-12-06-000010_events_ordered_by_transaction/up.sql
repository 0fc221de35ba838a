-- Events are read in the order their transactions wrote them, below the oldest transaction
-- still running, instead of being numbered by a sequencer after they commit: the sequencer's
-- UPDATE wrote every event a second time (a new row version and its index entries, and the
-- dead one for vacuum). A transaction's events carry its id; a reader takes only events of
-- transactions older than every running one (`pg_snapshot_xmin`), which are all finished, so a
-- transaction that commits late can never land behind what a reader has already seen.
ALTER TABLE events ADD COLUMN tx xid8;
-- Earlier events keep their order, before every new one, as one old transaction: a reader
-- places an event by its row id within its transaction, and the old transaction's must span
-- fewer than 2^24 ids (older events are dropped). The sequencer merged each transaction's seat
-- events; events of one pass and segment from different transactions, if any, are merged here
-- for the index below.
DELETE FROM events WHERE id < (SELECT max(id) FROM events) - 16777214;
WITH dup AS MATERIALIZED (
         SELECT min(id) AS keep, array_agg(id) AS ids, sum(seats) AS seats, sum(cents) AS cents
           FROM events WHERE kind IN ('sale', 'cancellation')
          GROUP BY kind, segment_id, pass_id HAVING count(*) > 1),
     gone AS (DELETE FROM events e USING dup WHERE e.id = ANY (dup.ids) AND e.id <> dup.keep)
UPDATE events e SET seats = dup.seats, cents = dup.cents FROM dup WHERE e.id = dup.keep;
UPDATE events SET tx = '1';
ALTER TABLE events ALTER COLUMN tx SET NOT NULL, ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
DROP INDEX events_seq_key;
DROP INDEX events_unsequenced;
DROP INDEX events_of_user;
ALTER TABLE events DROP COLUMN seq;
CREATE INDEX events_in_order ON events (tx, id);
CREATE INDEX events_of_user ON events (user_id, tx, id) WHERE user_id IS NOT NULL;

-- One event per pass, segment and transaction for the seats it sells or frees (a party's seats,
-- or every seat of a cancelled pass): the trigger fires per seat and adds each one to the row
-- the first one wrote, where the sequencer used to merge the rows afterwards.
CREATE UNIQUE INDEX events_one_per_pass ON events (tx, kind, segment_id, pass_id)
    WHERE kind IN ('sale', 'cancellation');
CREATE OR REPLACE FUNCTION seat_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (audience, kind, segment_id, pass_id, seats, cents)
    VALUES ('airline',
            CASE WHEN NEW.status = 'sold' THEN 'sale' ELSE 'cancellation' END,
            NEW.segment_id, coalesce(NEW.booking_id, OLD.booking_id), 1,
            coalesce(OLD.price_cents, NEW.price_cents,
                     (SELECT g.price_cents FROM segments g WHERE g.segment_id = NEW.segment_id)))
    ON CONFLICT (tx, kind, segment_id, pass_id) WHERE kind IN ('sale', 'cancellation')
    DO UPDATE SET seats = events.seats + EXCLUDED.seats, cents = events.cents + EXCLUDED.cents;
    RETURN NULL;
END $$;

-- How far the low-availability alerts have looked: every sale or cancellation of a transaction
-- below this id has been counted.
CREATE TABLE event_watermark (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    tx xid8 NOT NULL
);
INSERT INTO event_watermark (tx) VALUES (pg_snapshot_xmin(pg_current_snapshot()));
