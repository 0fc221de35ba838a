DROP INDEX segments_by_departure_and_id;
ALTER TABLE passes DROP COLUMN passengers;
