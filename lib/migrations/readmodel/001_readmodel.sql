-- projector: the CQRS read model of orders and open deliveries (read by the gateway, written
-- only here). A row changes only for an event whose order.version is above the stored one.
CREATE TABLE IF NOT EXISTS readmodel.orders (
        id text PRIMARY KEY,
        customer_id text NOT NULL,
        store_id text NOT NULL,
        status text NOT NULL,
        version bigint NOT NULL,
        view jsonb NOT NULL,              -- lib/order-json.h order_json_view
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_customer_created ON readmodel.orders (customer_id, created_at DESC);
CREATE INDEX IF NOT EXISTS orders_store_status_created ON readmodel.orders (store_id, status, created_at);

CREATE TABLE IF NOT EXISTS readmodel.deliveries (
        id text PRIMARY KEY,              -- dlv_<order suffix>
        order_id text NOT NULL UNIQUE,
        store_id text NOT NULL,
        status text NOT NULL,             -- OPEN PICKED_UP DELIVERED CANCELLED
        rider_id text,
        region text,                      -- dropoff region
        lat float8,                       -- dropoff
        lon float8,
        view jsonb NOT NULL,              -- lib/order-json.h order_json_delivery
        version bigint NOT NULL,
        updated_at timestamptz NOT NULL
);
-- Riders list the open deliveries of a region.
CREATE INDEX IF NOT EXISTS deliveries_status_region ON readmodel.deliveries (status, region);
