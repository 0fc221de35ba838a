DROP INDEX seats_taken;
CREATE INDEX seats_available ON seats (segment_id) WHERE status = 'available';
ALTER TABLE segments DROP COLUMN seats_total;
