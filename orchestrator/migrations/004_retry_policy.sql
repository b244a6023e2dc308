-- Per-step retry policies: each command knows when its next try is due and
-- how many tries its step allows (set from orchestrator/saga-retry.c).
ALTER TABLE outbox ADD COLUMN next_try_at timestamptz;
ALTER TABLE outbox ADD COLUMN max_budget int NOT NULL DEFAULT 20;
UPDATE outbox SET next_try_at = published_at + interval '10 seconds'
 WHERE needs_ack AND acked_at IS NULL AND published_at IS NOT NULL;
DROP INDEX outbox_unacked;
CREATE INDEX outbox_due ON outbox (next_try_at) WHERE needs_ack AND acked_at IS NULL;
