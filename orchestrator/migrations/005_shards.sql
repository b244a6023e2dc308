-- The batch-writing orchestrator: every saga belongs to one of 16 shards (by its order id), each
-- owned by one process at a time (a session advisory lock on its writing connection). What a
-- saga waits for and its history live in one record per saga; status events wait in an
-- append-only log until published (watermark per shard); no outbox or inbox rows.
ALTER TABLE sagas ADD COLUMN shard int;
ALTER TABLE sagas ADD COLUMN settled boolean NOT NULL DEFAULT false;
ALTER TABLE sagas ADD COLUMN record_pb bytea;  -- food.v1.SagaRecord: unanswered commands, history
-- The shard of an order id made by the gateway ("ord_" + 12 hex of time + a selector byte + ...).
UPDATE sagas SET shard = CASE WHEN order_id ~ '^[a-z]+_[0-9a-f]{24}$'
                              THEN ('x' || substr(order_id, strpos(order_id, '_') + 13, 2))::bit(8)::int % 16
                              ELSE 0 END,
                 settled = state IN ('COMPLETED', 'REJECTED', 'REFUSED', 'CANCELLED');
ALTER TABLE sagas ALTER COLUMN shard SET NOT NULL;
DROP INDEX IF EXISTS sagas_deadline;
DROP INDEX IF EXISTS sagas_open;
DROP INDEX IF EXISTS sagas_compensation_failed;
DROP INDEX IF EXISTS sagas_step_deadline;
-- A shard's owner loads its unsettled sagas; stuck sagas are among them.
CREATE INDEX sagas_unsettled ON sagas (shard) WHERE NOT settled;

DROP TABLE outbox;
DROP TABLE inbox;

CREATE TABLE events (
    shard    int NOT NULL,
    seq      bigint NOT NULL,          -- given by the shard's owner, gapless per shard
    order_id text NOT NULL,
    msg_id   text NOT NULL,            -- Nats-Msg-Id: a UUIDv7, never reused
    payload  bytea NOT NULL,           -- food.v1.OrderStatusChanged
    at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shard, seq)
);
CREATE TABLE shards (
    shard     int PRIMARY KEY,
    published bigint NOT NULL DEFAULT 0  -- every event of the shard up to this seq is in JetStream
);
CREATE INDEX idempotency_created ON idempotency (created_at);
