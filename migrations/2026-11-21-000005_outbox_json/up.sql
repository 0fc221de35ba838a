-- The outbox only stores and forwards its payloads: plain json skips jsonb's parse into binary
-- form on every insert, which showed in the booking benchmark.
ALTER TABLE outbox ALTER COLUMN payload TYPE json;
