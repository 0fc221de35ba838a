DROP TRIGGER seat_events ON seats;
CREATE OR REPLACE FUNCTION seat_events() RETURNS trigger LANGUAGE plpgsql AS $$
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
