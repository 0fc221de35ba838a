ALTER TABLE seats DROP COLUMN flight_cancelled;
