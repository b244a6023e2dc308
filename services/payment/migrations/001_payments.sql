-- payment worker: one row per charge or refund decision, keyed by the provider idempotency key.
CREATE TABLE IF NOT EXISTS payment.payments (
        id bigserial PRIMARY KEY,
        order_id text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('charge', 'refund')),
        idempotency_key text NOT NULL,
        provider_id text,            -- provider's charge id (ch_...) or refund id (rf_...)
        charge_id text,              -- refunds: the charge refunded
        amount bigint NOT NULL CHECK (amount >= 0),
        status text NOT NULL CHECK (status IN ('approved', 'declined', 'failed', 'refunded')),
        reason text,
        at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (kind, idempotency_key)
);
CREATE INDEX IF NOT EXISTS payments_order ON payment.payments (order_id);
