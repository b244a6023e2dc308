-- The orders a coupon was given back for. A redemption re-sent or redelivered after its order was compensated
-- must not take the coupon again: the return leaves this mark, and a redemption for a marked order is refused.
CREATE TABLE coupon_returns (
    coupon_id text NOT NULL,
    order_id  text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (coupon_id, order_id)
);
