-- Coupons (F14): issued to a customer for one store, redeemed at payment once,
-- given back when the order that used it is cancelled, refused or rejected.
CREATE TABLE coupons (
    id          text PRIMARY KEY,
    customer_id text NOT NULL,
    store_id    text NOT NULL,
    discount    bigint NOT NULL CHECK (discount > 0),
    status      text NOT NULL DEFAULT 'ISSUED',      -- ISSUED or REDEEMED
    order_id    text,                                -- the order that redeemed it
    source      text NOT NULL,                       -- cooked (automatic) or store
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupons_customer ON coupons (customer_id, created_at);
