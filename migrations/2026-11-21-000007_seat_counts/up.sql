-- The catalog is read every second; counting every seat of every segment for it cost tens of
-- milliseconds. A segment's seat map never changes, so its size is stored once, and only the
-- taken seats (far fewer) are counted, through an index that holds just them.
ALTER TABLE segments ADD COLUMN seats_total INTEGER NOT NULL DEFAULT 0;
UPDATE segments s SET seats_total = (SELECT count(*) FROM seats t WHERE t.segment_id = s.segment_id);
DROP INDEX seats_available;
CREATE INDEX seats_taken ON seats (segment_id) WHERE status <> 'available';
