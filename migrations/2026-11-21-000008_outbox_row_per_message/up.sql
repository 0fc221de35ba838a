-- One outbox row per message, naming the peers still to receive it, instead of one row per
-- peer: a booking writes and later deletes one row, not one per airline.
ALTER TABLE outbox ADD COLUMN peers TEXT[];
UPDATE outbox SET peers = ARRAY[peer];
ALTER TABLE outbox ALTER COLUMN peers SET NOT NULL;
ALTER TABLE outbox DROP COLUMN peer;
