-- Published status events are deleted oldest first once past EVENTS_KEEP_S, a chunk at a time between the
-- writer's batches: an index on their age lets each chunk read only what it deletes (without it, a prune
-- scanned the table sequentially).
CREATE INDEX IF NOT EXISTS events_at ON events (at);
