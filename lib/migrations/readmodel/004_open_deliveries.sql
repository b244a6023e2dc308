-- Riders list only OPEN deliveries (by region or distance): index those alone. The index on
-- (status, region) held every delivery ever made, and took a new entry at each status change;
-- this one holds the few open at a time, so its size does not grow with history.
CREATE INDEX IF NOT EXISTS deliveries_open ON readmodel.deliveries (region) WHERE status = 'OPEN';
DROP INDEX IF EXISTS readmodel.deliveries_status_region;
