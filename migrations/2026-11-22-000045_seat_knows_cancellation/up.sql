-- A flight's cancellation marks each of its seats, so sales and the cancellation meet on the
-- seat rows they both write. Reading the segment FOR SHARE in every hold and sale did the same,
-- but wrote a lock (WAL, a multixact) on one hot row per flight for every seat sold.
ALTER TABLE seats ADD COLUMN flight_cancelled boolean NOT NULL DEFAULT false;
UPDATE seats s SET flight_cancelled = true FROM segments g WHERE g.segment_id = s.segment_id AND g.cancelled_at IS NOT NULL;
