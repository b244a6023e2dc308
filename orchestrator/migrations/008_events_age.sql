-- Published status events are deleted oldest first once past EVENTS_KEEP_S, a chunk at a time between the
-- writer's batches: an index on their age lets each chunk read only what it deletes (without it, every prune
-- scanned the whole table, an hour of events).
CREATE INDEX IF NOT EXISTS events_at ON events (at);
