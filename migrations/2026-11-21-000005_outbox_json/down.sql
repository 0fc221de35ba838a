ALTER TABLE outbox ALTER COLUMN payload TYPE jsonb USING payload::jsonb;
