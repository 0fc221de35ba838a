-- A booking may carry a party of up to nine named passengers; each leg of the pass lists one
-- seat per passenger (inside `legs`). Passes sold before keep an empty list: a party of one.
ALTER TABLE passes ADD COLUMN passengers JSONB NOT NULL DEFAULT '[]';
-- Pages of the catalog walk (departure, id); this index serves them in that order.
CREATE INDEX segments_by_departure_and_id ON segments (departs_at, segment_id);
