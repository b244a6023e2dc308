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
/* The issues of a fetch in one statement (a duplicate id, also within it, is already issued). */
static const PgStmt st_issue_many = {
        "coupon_issue_many",
        "INSERT INTO coupons (id, customer_id, store_id, discount, source, expires_at)"
        " SELECT i, c, s, d, src, now() + make_interval(days => $6::int)"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[]) AS u(i, c, s, d, src)"
        " ON CONFLICT (id) DO NOTHING"};
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

/* The answer to an issue once it is written: only an order's coupon (given when its cooking finished) has a
 * saga waiting for it. */
static int issued(const Food__V1__IssueCoupon *m, WorkerOut *out) {
        metric_add(m_issued, 1);
        if (!m->corr || !m->corr->order_id || !*m->corr->order_id)
                return 0;
        Food__V1__CouponIssued reply = FOOD__V1__COUPON_ISSUED__INIT;
        reply.corr = m->corr;
        reply.coupon_id = m->coupon_id;
        reply.customer_id = m->customer_id;
        return worker_answer(out, &reply.base);
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
        return r < 0 ? r : issued(m, out);
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

/* Writes the issues cmds[from..to) (those not refused) in one statement and answers them. */
static int issue_many(const CouponConfig *cfg, Pg *pg, const ProtobufCMessage *const *cmds, int *res,
                      WorkerOut *const *outs, int from, int to) {
        PgArray id, customer, store, discount, source;
        PgArray *const arrays[5] = {&id, &customer, &store, &discount, &source};
        const char *vals[6];
        int lens[6], fmts[6], r = 0, n = 0;
        char days[24];

        pg_array_init(&id, PG_OID_TEXT);
        pg_array_init(&customer, PG_OID_TEXT);
        pg_array_init(&store, PG_OID_TEXT);
        pg_array_init(&discount, PG_OID_INT8);
        pg_array_init(&source, PG_OID_TEXT);
        for (int i = from; i < to; i++) {
                const Food__V1__IssueCoupon *m = (const Food__V1__IssueCoupon *)cmds[i];
                if (res[i] != 0)
                        continue;
                pg_array_text(&id, m->coupon_id);
                pg_array_text(&customer, m->customer_id);
                pg_array_text(&store, m->store_id);
                pg_array_int8(&discount, m->discount);
                pg_array_text(&source, m->corr && m->corr->order_id && *m->corr->order_id ? "cooked" : "store");
                n++;
        }
        if (n > 0) {
                snprintf(days, sizeof(days), "%" PRId64, cfg->valid_days);
                r = pg_array_params(arrays, 5, vals, lens, fmts);
                vals[5] = days; /* one number, as text */
                lens[5] = fmts[5] = 0;
                if (r == 0)
                        r = pg_run(pg, &st_issue_many, 6, vals, lens, fmts, NULL);
        }
        for (int i = from; i < to && r == 0; i++)
                if (res[i] == 0)
                        r = issued((const Food__V1__IssueCoupon *)cmds[i], outs[i]);
        for (int k = 0; k < 5; k++)
                pg_array_free(arrays[k]);
        return r;
}

int coupon_handle_batch(void *ctx, Pg *pg, const ProtobufCMessage *const *cmds, int *res, WorkerOut *const *outs,
                        int n) {
        const CouponConfig *cfg = ctx;
        int run = 0, r = 0; /* cmds[run..i) are issues not yet written */

        /* In order, as one by one: a run of issues goes in one statement before whatever follows it. */
        for (int i = 0; i <= n && r == 0; i++) {
                bool issue = i < n && cmds[i]->descriptor == &food__v1__issue_coupon__descriptor;
                if (i < n) {
                        res[i] = coupon_check(cmds[i]);
                        if (res[i] != 0)
                                log_warn("coupon: impossible %s", cmds[i]->descriptor->name);
                }
                if (issue)
                        continue;
                if (run < i)
                        r = issue_many(cfg, pg, cmds, res, outs, run, i);
                run = i + 1;
                if (i < n && res[i] == 0 && r == 0)
                        res[i] = coupon_handle(ctx, pg, cmds[i], outs[i]);
                if (i < n && res[i] < 0) {
                        r = res[i];
                        res[i] = 0;
                }
        }
        return r;
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
