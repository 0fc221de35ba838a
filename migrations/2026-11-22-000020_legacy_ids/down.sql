ALTER TABLE seats DROP COLUMN legacy_id;
ALTER TABLE segments DROP COLUMN legacy_id;
