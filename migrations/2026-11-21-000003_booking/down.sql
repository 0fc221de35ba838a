DROP TABLE idempotency_keys;
ALTER TABLE seats DROP COLUMN coordinator;
DROP TABLE bookings;
