-- Saga visibility: a compensation that kept failing is flagged for operators,
-- and every command has a try budget that an operator's redrive renews.
ALTER TABLE sagas ADD COLUMN compensation_failed boolean NOT NULL DEFAULT false;
ALTER TABLE outbox ADD COLUMN budget int NOT NULL DEFAULT 1;  -- tries since created or last redriven
CREATE INDEX sagas_compensation_failed ON sagas (order_id) WHERE compensation_failed;
