-- Every decision rewrites its order's row: keep the rewrite in place (HOT) where the indexes allow.
-- The store inbox reads by store and creation time and filters the status (it changes at every
-- step, so it is no longer indexed); views are stored as the JSON text the orchestrator writes
-- (nothing queries inside them, and jsonb's parse was a cost of every write).
DROP INDEX IF EXISTS readmodel.orders_store_status_created;
CREATE INDEX IF NOT EXISTS orders_store_created ON readmodel.orders (store_id, created_at);
ALTER TABLE readmodel.orders ALTER COLUMN view TYPE text;
ALTER TABLE readmodel.deliveries ALTER COLUMN view TYPE text;
ALTER TABLE readmodel.orders SET (fillfactor = 70);
ALTER TABLE readmodel.deliveries SET (fillfactor = 70);
