-- A ticket is rewritten at each status of its order; nothing reads tickets by status (the store
-- inbox is the read model's), so the index only made every rewrite dearer.
DROP INDEX IF EXISTS store.tickets_store_status;
ALTER TABLE store.tickets SET (fillfactor = 70);
