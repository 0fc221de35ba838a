ALTER TABLE outbox ADD COLUMN peer TEXT;
INSERT INTO outbox (peer, kind, payload, attempts, next_attempt_at, last_error, created_at, peers)
  SELECT p, kind, payload, attempts, next_attempt_at, last_error, created_at, ARRAY[p]
    FROM outbox, unnest(peers) AS p WHERE cardinality(peers) > 1;
DELETE FROM outbox WHERE cardinality(peers) > 1;
UPDATE outbox SET peer = peers[1];
ALTER TABLE outbox ALTER COLUMN peer SET NOT NULL;
ALTER TABLE outbox DROP COLUMN peers;
