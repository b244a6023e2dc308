-- Commands come in batches applied by business key (newer versions win, ids are unique): no dedupe
-- table any more.
DROP TABLE IF EXISTS coupon.processed;
