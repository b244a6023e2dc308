-- Saga state, the transactional outbox, the inbox of received replies and
-- idempotency keys: everything the orchestrator needs to resume after a crash.
CREATE TABLE sagas (
    order_id           text PRIMARY KEY,
    definition_version int NOT NULL,
    state              text NOT NULL,
    step               text NOT NULL DEFAULT '',   -- step whose reply is awaited ('' = none)
    attempt            int NOT NULL DEFAULT 1,      -- try of that step; replies must match
    version            bigint NOT NULL,             -- = order.version; optimistic check on update
    customer_id        text NOT NULL,
    store_id           text NOT NULL,
    order_pb           bytea NOT NULL,              -- food.v1.Order snapshot
    card_token         text NOT NULL DEFAULT '',
    reply_to           text NOT NULL DEFAULT '',    -- RPC inbox awaiting the payment outcome
    deadline_at        timestamptz,                 -- durable timer: store answer, auto-complete
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sagas_deadline ON sagas (deadline_at) WHERE deadline_at IS NOT NULL;
CREATE INDEX sagas_open ON sagas (updated_at) WHERE state NOT IN ('COMPLETED', 'REJECTED', 'REFUSED', 'CANCELLED');

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    order_id     text NOT NULL,
    step         text NOT NULL,
    subject      text NOT NULL,
    type         text NOT NULL,
    payload      bytea NOT NULL,
    attempt      int NOT NULL DEFAULT 1,
    needs_ack    boolean NOT NULL,                 -- a command awaiting a worker's reply
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    acked_at     timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_unacked ON outbox (published_at) WHERE needs_ack AND acked_at IS NULL;
CREATE INDEX outbox_order ON outbox (order_id);

CREATE TABLE inbox (
    msg_id   text PRIMARY KEY,
    order_id text NOT NULL,
    type     text NOT NULL,
    outcome  text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_order ON inbox (order_id);

CREATE TABLE idempotency (
    customer_id  text NOT NULL,
    key          text NOT NULL,
    order_id     text NOT NULL,
    request_hash text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, key)
);
