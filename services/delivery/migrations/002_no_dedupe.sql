-- Commands come in batches applied by business key (newer versions win, ids are unique): no dedupe
-- table any more.
DROP TABLE IF EXISTS delivery.processed;
-- Each command states the delivery at an order version; the newest version wins.
ALTER TABLE delivery.deliveries ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0;
