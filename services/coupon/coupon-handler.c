/* Coupons: issue (idempotent by id), redeem once for the same customer and
 * store, return on compensation. Commands without an order (a store owner's
 * coupon) get no reply: nobody waits for one. */
#include "coupon-handler.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "food.pb-c.h"
#include "log.h"
#include "metrics.h"

static Metric *m_issued, *m_redeemed, *m_rejected, *m_returned;

static const PgStmt st_issue = {
        "coupon_issue",
        "INSERT INTO coupons (id, customer_id, store_id, discount, source, expires_at)"
        " VALUES ($1, $2, $3, $4::bigint, $5, now() + make_interval(days => $6::int)) ON CONFLICT (id) DO NOTHING"};
/* Redemption and return of a coupon take its row lock first, each in a statement of its own: a
 * statement that follows sees what the lock's previous holder committed (its own snapshot is taken
 * after the wait). Two transactions do meet here: a killed worker's backend may still commit the batch
 * it had been sent while the next worker applies the return. */
static const PgStmt st_lock = {"coupon_lock",
                               "SELECT customer_id, store_id, status, coalesce(order_id, ''), discount,"
                               " (expires_at < now())::int FROM coupons WHERE id = $1 FOR UPDATE"};
static const PgStmt st_returned = {"coupon_returned",
                                   "SELECT EXISTS (SELECT 1 FROM coupon_returns WHERE coupon_id = $1 AND order_id = $2)::int"};
static const PgStmt st_redeem = {"coupon_redeem",
                                 "UPDATE coupons SET status = 'REDEEMED', order_id = $2, updated_at = now()"
                                 " WHERE id = $1"};
/* The mark is left even when the redemption has not arrived yet: it must not take the coupon later. */
static const PgStmt st_return = {"coupon_return",
                                 "WITH mark AS (INSERT INTO coupon_returns (coupon_id, order_id) VALUES ($1, $2)"
                                 " ON CONFLICT DO NOTHING)"
                                 " UPDATE coupons SET status = 'ISSUED', order_id = NULL, updated_at = now()"
                                 " WHERE id = $1 AND status = 'REDEEMED' AND order_id = $2"};

void coupon_metrics_init(void) {
        m_issued = metrics_counter("food_coupons_total{outcome=\"issued\"}", "Coupon commands by outcome");
        m_redeemed = metrics_counter("food_coupons_total{outcome=\"redeemed\"}", "");
        m_rejected = metrics_counter("food_coupons_total{outcome=\"rejected\"}", "");
        m_returned = metrics_counter("food_coupons_total{outcome=\"returned\"}", "");
}

const char *coupon_refusal(const char *coupon_customer, const char *coupon_store, const char *status,
                           const char *redeemed_by, int expired, int returned, const char *customer_id,
                           const char *store_id, const char *order_id) {
        if (strcmp(coupon_customer, customer_id) != 0)
                return "this coupon belongs to another customer";
        if (strcmp(coupon_store, store_id) != 0)
                return "this coupon is for another store";
        if (returned)
                return "this coupon was given back for this order";
        if (strcmp(status, "REDEEMED") == 0 && strcmp(redeemed_by, order_id) != 0)
                return "this coupon was already used";
        if (strcmp(status, "REDEEMED") != 0 && expired)
                return "this coupon has expired";
        return NULL;
}

int coupon_check(const ProtobufCMessage *msg) {
        const Food__V1__Correlation *corr = codec_correlation(msg);

        if (msg->descriptor == &food__v1__issue_coupon__descriptor) {
                const Food__V1__IssueCoupon *m = (const Food__V1__IssueCoupon *)msg;
                return !*m->coupon_id || !*m->customer_id || !*m->store_id || m->discount <= 0 ? WORKER_POISON : 0;
        }
        /* Redeem and return always belong to an order. */
        if (!corr || !*corr->order_id)
                return WORKER_POISON;
        if (msg->descriptor == &food__v1__redeem_coupon__descriptor)
                return *((const Food__V1__RedeemCoupon *)msg)->coupon_id ? 0 : WORKER_POISON;
        if (msg->descriptor == &food__v1__return_coupon__descriptor)
                return *((const Food__V1__ReturnCoupon *)msg)->coupon_id ? 0 : WORKER_POISON;
        return WORKER_POISON;
}

static int issue(const CouponConfig *cfg, Pg *pg, const Food__V1__IssueCoupon *m, WorkerOut *out) {
        char discount[24], days[16];
        const Food__V1__Correlation *corr = m->corr;
        bool from_order = corr && corr->order_id && *corr->order_id;
        snprintf(discount, sizeof(discount), "%" PRId64, m->discount);
        snprintf(days, sizeof(days), "%" PRId64, cfg->valid_days);
        const char *vals[] = {m->coupon_id, m->customer_id, m->store_id, discount, from_order ? "cooked" : "store",
                              days};
        int r = pg_run(pg, &st_issue, 6, vals, NULL, NULL, NULL);
        if (r < 0)
                return r;
        metric_add(m_issued, 1);
        if (!from_order)
                return 0;
        Food__V1__CouponIssued reply = FOOD__V1__COUPON_ISSUED__INIT;
        reply.corr = m->corr;
        reply.coupon_id = m->coupon_id;
        reply.customer_id = m->customer_id;
        return worker_answer(out, &reply.base);
}

static int redeem(Pg *pg, const Food__V1__RedeemCoupon *m, WorkerOut *out) {
        const char *vals[] = {m->coupon_id, m->corr->order_id};
        const char *why = "no such coupon";
        PGresult *res = NULL;
        int64_t discount = 0;
        PGresult *mark = NULL;
        int r = pg_run(pg, &st_lock, 1, vals, NULL, NULL, &res);
        if (r == 0)
                r = pg_run(pg, &st_returned, 2, vals, NULL, NULL, &mark);
        if (r < 0) {
                PQclear(res);
                return r;
        }
        if (PQntuples(res) == 1) {
                why = coupon_refusal(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
                                     PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 5)[0] == '1',
                                     PQgetvalue(mark, 0, 0)[0] == '1', m->customer_id, m->store_id,
                                     m->corr->order_id);
                discount = pg_ll(res, 0, 4);
        }
        PQclear(res);
        PQclear(mark);
        if (why) {
                metric_add(m_rejected, 1);
                Food__V1__CouponRejected reply = FOOD__V1__COUPON_REJECTED__INIT;
                reply.corr = m->corr;
                reply.coupon_id = m->coupon_id;
                reply.reason = (char *)why;
                return worker_answer(out, &reply.base);
        }
        r = pg_run(pg, &st_redeem, 2, vals, NULL, NULL, NULL);
        if (r < 0)
                return r;
        metric_add(m_redeemed, 1);
        Food__V1__CouponRedeemed reply = FOOD__V1__COUPON_REDEEMED__INIT;
        reply.corr = m->corr;
        reply.coupon_id = m->coupon_id;
        reply.discount = discount;
        return worker_answer(out, &reply.base);
}

static int give_back(Pg *pg, const Food__V1__ReturnCoupon *m, WorkerOut *out) {
        const char *vals[] = {m->coupon_id, m->corr->order_id};
        int r = pg_run(pg, &st_lock, 1, vals, NULL, NULL, NULL);
        if (r == 0)
                r = pg_run(pg, &st_return, 2, vals, NULL, NULL, NULL);
        if (r < 0)
                return r;
        metric_add(m_returned, 1);
        Food__V1__CouponReturned reply = FOOD__V1__COUPON_RETURNED__INIT;
        reply.corr = m->corr;
        reply.coupon_id = m->coupon_id;
        return worker_answer(out, &reply.base);
}

int coupon_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, WorkerOut *out) {
        const CouponConfig *cfg = ctx;

        if (coupon_check(msg) != 0) {
                log_warn("coupon: impossible %s", msg->descriptor->name);
                return WORKER_POISON;
        }
        if (msg->descriptor == &food__v1__issue_coupon__descriptor)
                return issue(cfg, pg, (const Food__V1__IssueCoupon *)msg, out);
        if (msg->descriptor == &food__v1__redeem_coupon__descriptor)
                return redeem(pg, (const Food__V1__RedeemCoupon *)msg, out);
        return give_back(pg, (const Food__V1__ReturnCoupon *)msg, out);
}
