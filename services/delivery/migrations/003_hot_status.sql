-- Nothing reads the worker's deliveries by status or region (riders list the read model's): the index
-- only made every status change a new row version with three index entries. Without it, and with
-- room left in each page, a status change is rewritten in place (HOT).
DROP INDEX IF EXISTS delivery.deliveries_status_region;
ALTER TABLE delivery.deliveries SET (fillfactor = 70);
