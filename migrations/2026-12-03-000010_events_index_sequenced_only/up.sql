-- An event is inserted with no `seq` and given one by the sequencer a moment later. Readers
-- only ever look for sequenced rows (`seq > n`, `max(seq)`), so the indexes on `seq` need not
-- hold the unsequenced ones: every event INSERT (a sale's, a pass's) then writes one or two
-- index entries fewer, on the hot right-hand page that every concurrent writer shares.
ALTER TABLE events DROP CONSTRAINT events_seq_key;
CREATE UNIQUE INDEX events_seq_key ON events (seq) WHERE seq IS NOT NULL;
DROP INDEX events_of_user;
CREATE INDEX events_of_user ON events (user_id, seq) WHERE user_id IS NOT NULL AND seq IS NOT NULL;
