-- store worker: the ticket of each paid order in its store's inbox, newest order snapshot wins.
CREATE TABLE IF NOT EXISTS store.tickets (
        order_id text PRIMARY KEY,
        store_id text,
        customer_id text,
        status text NOT NULL,          -- the order's status, or WITHDRAWN (final) after a compensation
        version bigint NOT NULL DEFAULT 0,
        total bigint NOT NULL DEFAULT 0,
        items jsonb NOT NULL DEFAULT '[]', -- [{"menu_item_id","name","quantity","unit_price"}]
        note text,
        reason text,                   -- why it was withdrawn
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tickets_store_status ON store.tickets (store_id, status, created_at);
