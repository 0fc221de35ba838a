-- A pass's legs never change once sold, and are always read with their pass: kept inline they
-- cost one INSERT per copy of a pass instead of two (and a pass is written at every airline).
ALTER TABLE passes ADD COLUMN legs json;
UPDATE passes p SET legs = (
    SELECT json_agg(json_build_object(
               'airline', l.airline, 'segment_id', l.segment_id, 'flight_no', l.flight_no,
               'origin', l.origin, 'destination', l.destination,
               'departs_at', l.departs_at, 'arrives_at', l.arrives_at, 'seat', l.seat,
               'price', json_build_object(
                   'amount', (l.price_cents / 100)::text || '.' || lpad((l.price_cents % 100)::text, 2, '0'),
                   'currency', l.currency))
           ORDER BY l.leg_no)
      FROM pass_legs l WHERE l.pass_id = p.pass_id);
UPDATE passes SET legs = '[]' WHERE legs IS NULL;
ALTER TABLE passes ALTER COLUMN legs SET NOT NULL;
DROP TABLE pass_legs;
