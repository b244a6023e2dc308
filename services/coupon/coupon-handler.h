/* The coupon worker's handler (durable "coupon"): issue, redeem, return. */
#pragma once
#include <stdint.h>

#include "pg.h"
#include "worker.h"

typedef struct {
        int64_t valid_days; /* how long an issued coupon can be redeemed */
} CouponConfig;

void coupon_metrics_init(void);

/* Pure decision of a redemption: 0 when coupon (customer, store, status,
 * expired) may pay for an order of `customer_id` at `store_id`, else a
 * static reason. `redeemed_by` is the order that redeemed it ("" if none); `returned` says the coupon
 * was already given back for `order_id` (a late redemption of a compensated order). */
const char *coupon_refusal(const char *coupon_customer, const char *coupon_store, const char *status,
                           const char *redeemed_by, int expired, int returned, const char *customer_id,
                           const char *store_id, const char *order_id);

/* The pure checks coupon_handle makes before touching the coupons table: 0, or WORKER_POISON for
 * another type, an IssueCoupon without coupon, customer or store id or with a discount <= 0, a
 * Redeem/ReturnCoupon without an order in its correlation or without a coupon id. */
int coupon_check(const ProtobufCMessage *msg);

int coupon_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, WorkerOut *out);
/* A fetch's commands in order, as coupon_handle one by one, each run of issues in one statement. */
int coupon_handle_batch(void *ctx, Pg *pg, const ProtobufCMessage *const *cmds, int *res, WorkerOut *const *outs,
                        int n);
