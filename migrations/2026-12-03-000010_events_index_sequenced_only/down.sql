DROP INDEX events_seq_key;
ALTER TABLE events ADD CONSTRAINT events_seq_key UNIQUE (seq);
DROP INDEX events_of_user;
CREATE INDEX events_of_user ON events (user_id, seq) WHERE user_id IS NOT NULL;
