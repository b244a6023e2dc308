-- delivery worker: one delivery per order (id dlv_<order suffix>), OPEN -> PICKED_UP -> DELIVERED,
-- or CANCELLED (a cancellation arriving first leaves a tombstone the opening cannot overwrite).
CREATE TABLE IF NOT EXISTS delivery.deliveries (
        id text PRIMARY KEY,
        order_id text NOT NULL UNIQUE,
        store_id text,
        status text NOT NULL CHECK (status IN ('OPEN', 'PICKED_UP', 'DELIVERED', 'CANCELLED')),
        rider_id text,
        pickup_text text,
        pickup_region text,
        pickup_lat float8,
        pickup_lon float8,
        dropoff_text text,
        region text,          -- dropoff region: riders of that region see it
        lat float8,           -- dropoff
        lon float8,
        distance_m float8,    -- pickup to dropoff, great circle
        reason text,          -- why it was cancelled
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS deliveries_status_region ON delivery.deliveries (status, region);
