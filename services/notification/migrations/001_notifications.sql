-- notification worker: what each customer was told, one row per order status event (dedup by its
-- Nats-Msg-Id) or NotifyCustomer command.
CREATE TABLE IF NOT EXISTS notification.notifications (
        id bigserial PRIMARY KEY,
        msg_id text NOT NULL UNIQUE,
        customer_id text NOT NULL,
        order_id text,
        status text NOT NULL,   -- the order status, or the NotifyCustomer kind
        message text NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS notifications_customer ON notification.notifications (customer_id, id);

-- The worker loops' dedupe table (lib/worker.c creates the same); created here under the
-- migration lock: this process runs two loops, and replicas may start together.
CREATE TABLE IF NOT EXISTS notification.processed (
        msg_id text PRIMARY KEY,
        reply_subject text,
        reply_type text,
        reply bytea,
        at timestamptz NOT NULL DEFAULT now()
);
