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
