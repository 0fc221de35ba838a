-- Only a seat that becomes sold, or stops being sold, makes an event: a row trigger whose WHEN
-- PostgreSQL checks without calling the function, instead of a statement trigger that collected
-- the old and new rows of every seat UPDATE (holds and aborts included) to find the few that
-- mattered. A booking's seats now make a row each; the sequencer merges a transaction's rows
-- per pass and segment before numbering them, as it already did for a party's seats.
DROP TRIGGER seat_events ON seats;
CREATE OR REPLACE FUNCTION seat_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (audience, kind, segment_id, pass_id, seats, cents)
    VALUES ('airline',
            CASE WHEN NEW.status = 'sold' THEN 'sale' ELSE 'cancellation' END,
            NEW.segment_id, coalesce(NEW.booking_id, OLD.booking_id), 1,
            coalesce(OLD.price_cents, NEW.price_cents,
                     (SELECT g.price_cents FROM segments g WHERE g.segment_id = NEW.segment_id)));
    RETURN NULL;
END $$;
CREATE TRIGGER seat_events AFTER UPDATE OF status ON seats
    FOR EACH ROW WHEN ((OLD.status = 'sold') <> (NEW.status = 'sold'))
    EXECUTE FUNCTION seat_events();
