/* Saga history, stuck sagas and redrive for operators. */
#include "saga-admin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"

#define ADMIN_MAX_SAGAS 200
#define ADMIN_MAX_STEPS 400

static const char *const compensation_steps[] = {"refund", "withdraw_ticket", "cancel_delivery", "return_coupon"};

bool saga_admin_is_compensation(const char *step) {
        for (size_t i = 0; i < sizeof(compensation_steps) / sizeof(compensation_steps[0]); i++)
                if (strcmp(step, compensation_steps[i]) == 0)
                        return true;
        return false;
}

/* Sagas as SagaHistory rows; columns are the same for show and stuck. */
#define SAGA_COLUMNS                                                                                                   \
        "order_id, state, step, attempt, version, definition_version,"                                               \
        " coalesce((extract(epoch from deadline_at) * 1000)::bigint, 0), compensation_failed,"                       \
        " (extract(epoch from created_at) * 1000)::bigint, (extract(epoch from updated_at) * 1000)::bigint"

/* Not terminal and not advancing, with no timer still to come; or a
 * compensation that gave up. */
#define STUCK_WHERE                                                                                                    \
        " WHERE compensation_failed OR (state NOT IN ('COMPLETED', 'REJECTED', 'REFUSED', 'CANCELLED')"              \
        " AND updated_at < now() - make_interval(secs => $1::bigint / 1000.0)"                                     \
        " AND (deadline_at IS NULL OR deadline_at < now() - make_interval(secs => $1::bigint / 1000.0)))"

static const PgStmt st_show = {"admin_show", "SELECT " SAGA_COLUMNS " FROM sagas WHERE order_id = $1"};
static const PgStmt st_stuck = {"admin_stuck", "SELECT " SAGA_COLUMNS " FROM sagas" STUCK_WHERE
                                               " ORDER BY updated_at LIMIT $2"};
static const PgStmt st_count_stuck = {"admin_count_stuck", "SELECT count(*) FROM sagas" STUCK_WHERE};
/* What was sent (commands, compensations, status events) and what came back. */
static const PgStmt st_steps = {
        "admin_steps",
        "SELECT * FROM ("
        " SELECT CASE WHEN NOT needs_ack THEN 'event' ELSE 'command' END, type, step, attempt,"
        "  (extract(epoch from created_at) * 1000)::bigint AS at,"
        "  CASE WHEN acked_at IS NOT NULL THEN 'answered'"
        "       WHEN published_at IS NULL THEN 'waiting to be published'"
        "       WHEN needs_ack THEN 'published, awaiting answer' ELSE 'published' END, id"
        " FROM outbox WHERE order_id = $1"
        " UNION ALL"
        " SELECT 'reply', type, outcome, 0, (extract(epoch from at) * 1000)::bigint, msg_id, 0"
        " FROM inbox WHERE order_id = $1) s ORDER BY at, 7 LIMIT 400"};
static const PgStmt st_redrive = {
        "admin_redrive",
        "WITH cmds AS (UPDATE outbox SET published_at = NULL, next_try_at = NULL, attempt = attempt + 1, budget = 1"
        "  WHERE order_id = $1 AND needs_ack AND acked_at IS NULL RETURNING order_id, step, attempt),"
        " bump AS (UPDATE sagas s SET attempt = c.attempt FROM cmds c WHERE s.order_id = c.order_id AND s.step = c.step),"
        " flag AS (UPDATE sagas SET compensation_failed = false WHERE order_id = $1 AND compensation_failed"
        "  RETURNING order_id)"
        " SELECT (SELECT count(*) FROM cmds) + (SELECT count(*) FROM flag)"};
/* A compensation whose last allowed try has had its full wait unanswered. */
/* A compensation answered after all: the saga is no longer failed once none is left waiting. */
static const PgStmt st_clear_failed = {
        "admin_clear_failed",
        "UPDATE sagas SET compensation_failed = false WHERE order_id = $1 AND compensation_failed"
        " AND NOT EXISTS (SELECT 1 FROM outbox WHERE order_id = $1 AND needs_ack AND acked_at IS NULL"
        " AND step IN ('refund', 'withdraw_ticket', 'cancel_delivery', 'return_coupon'))"};
static const PgStmt st_flag_failed = {
        "admin_flag_failed",
        "UPDATE sagas SET compensation_failed = true WHERE NOT compensation_failed AND order_id IN ("
        " SELECT order_id FROM outbox WHERE needs_ack AND acked_at IS NULL AND next_try_at <= now()"
        " AND budget >= max_budget AND step IN ('refund', 'withdraw_ticket', 'cancel_delivery', 'return_coupon'))"
        " RETURNING order_id"};
static int64_t admin_stuck_after_ms;

void saga_admin_setup(int64_t stuck_after_ms) {
        admin_stuck_after_ms = stuck_after_ms;
}

/* Fills h (strings point into res, which must outlive h) from row i. */
static void history_from_row(Food__V1__SagaHistory *h, PGresult *res, int i) {
        food__v1__saga_history__init(h);
        h->order_id = PQgetvalue(res, i, 0);
        h->state = PQgetvalue(res, i, 1);
        h->step = PQgetvalue(res, i, 2);
        h->attempt = (uint32_t)pg_ll(res, i, 3);
        h->version = pg_ll(res, i, 4);
        h->definition_version = (int32_t)pg_ll(res, i, 5);
        h->deadline_ms = pg_ll(res, i, 6);
        h->compensation_failed = PQgetvalue(res, i, 7)[0] == 't';
        h->created_ms = pg_ll(res, i, 8);
        h->updated_ms = pg_ll(res, i, 9);
}

static int admin_show(Pg *pg, const char *order_id, EngineReply *reply) {
        const char *vals[] = {order_id};
        PGresult *saga = NULL, *steps = NULL;
        Food__V1__SagaHistory h, *hp = &h;
        Food__V1__SagaStep *rows = NULL, **ptrs = NULL;
        Food__V1__RpcReply m = FOOD__V1__RPC_REPLY__INIT;
        int r, n;

        r = pg_run(pg, &st_show, 1, vals, NULL, NULL, &saga);
        if (r < 0)
                return r;
        if (PQntuples(saga) == 0) {
                PQclear(saga);
                return engine_reply_set(reply, 404, "Not found", "no saga for this order", NULL, 0);
        }
        history_from_row(&h, saga, 0);
        r = pg_run(pg, &st_steps, 1, vals, NULL, NULL, &steps);
        if (r < 0)
                goto out;
        n = PQntuples(steps);
        rows = calloc((size_t)n + 1, sizeof(*rows));
        ptrs = calloc((size_t)n + 1, sizeof(*ptrs));
        if (!rows || !ptrs) {
                r = -ENOMEM;
                goto out;
        }
        for (int i = 0; i < n; i++) {
                Food__V1__SagaStep *s = &rows[i];
                food__v1__saga_step__init(s);
                s->kind = PQgetvalue(steps, i, 0);
                s->type = PQgetvalue(steps, i, 1);
                s->step = PQgetvalue(steps, i, 2);
                s->attempt = (uint32_t)pg_ll(steps, i, 3);
                s->at_ms = pg_ll(steps, i, 4);
                s->detail = PQgetvalue(steps, i, 5);
                if (strcmp(s->kind, "command") == 0 && saga_admin_is_compensation(s->step))
                        s->kind = "compensation";
                ptrs[i] = s;
        }
        h.steps = ptrs;
        h.n_steps = (size_t)n;
        m.http_status = 200;
        m.sagas = &hp;
        m.n_sagas = 1;
        r = engine_reply_message(reply, &m);
out:
        free(rows);
        free(ptrs);
        PQclear(steps);
        PQclear(saga);
        return r;
}

static int admin_stuck(Pg *pg, const Food__V1__SagaQuery *q, EngineReply *reply) {
        char older[24], limit[16];
        PGresult *res = NULL;
        Food__V1__SagaHistory *rows = NULL, **ptrs = NULL;
        Food__V1__RpcReply m = FOOD__V1__RPC_REPLY__INIT;
        int r, n;

        snprintf(older, sizeof(older), "%" PRId64, q->older_than_ms > 0 ? q->older_than_ms : admin_stuck_after_ms);
        snprintf(limit, sizeof(limit), "%d", q->limit > 0 && q->limit <= ADMIN_MAX_SAGAS ? q->limit : ADMIN_MAX_SAGAS);
        const char *vals[] = {older, limit};
        r = pg_run(pg, &st_stuck, 2, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        n = PQntuples(res);
        rows = calloc((size_t)n + 1, sizeof(*rows));
        ptrs = calloc((size_t)n + 1, sizeof(*ptrs));
        if (!rows || !ptrs) {
                r = -ENOMEM;
                goto out;
        }
        for (int i = 0; i < n; i++) {
                history_from_row(&rows[i], res, i);
                ptrs[i] = &rows[i];
        }
        m.http_status = 200;
        m.sagas = ptrs;
        m.n_sagas = (size_t)n;
        r = engine_reply_message(reply, &m);
out:
        free(rows);
        free(ptrs);
        PQclear(res);
        return r;
}

static int redrive_one(Pg *pg, const char *order_id, long long *affected) {
        const char *vals[] = {order_id};
        PGresult *res = NULL;
        int r = pg_run(pg, &st_redrive, 1, vals, NULL, NULL, &res);
        if (r == 0 && pg_ll(res, 0, 0) > 0) {
                *affected += 1;
                log_info("saga %s: redriven by an operator", order_id);
        }
        PQclear(res);
        return r;
}

static int admin_redrive(Pg *pg, const Food__V1__SagaQuery *q, EngineReply *reply) {
        Food__V1__RpcReply m = FOOD__V1__RPC_REPLY__INIT;
        long long affected = 0;
        int r = 0;

        if (q->all) {
                char older[24], limit[16];
                PGresult *res = NULL;
                snprintf(older, sizeof(older), "%" PRId64,
                         q->older_than_ms > 0 ? q->older_than_ms : admin_stuck_after_ms);
                snprintf(limit, sizeof(limit), "%d", ADMIN_MAX_SAGAS);
                const char *vals[] = {older, limit};
                r = pg_run(pg, &st_stuck, 2, vals, NULL, NULL, &res);
                for (int i = 0; r == 0 && i < PQntuples(res); i++)
                        r = redrive_one(pg, PQgetvalue(res, i, 0), &affected);
                PQclear(res);
        } else if (*q->order_id)
                r = redrive_one(pg, q->order_id, &affected);
        else
                return engine_reply_set(reply, 400, "Bad request", "redrive needs an order id or all", NULL, 0);
        if (r < 0)
                return r;
        m.http_status = 200;
        m.affected = (int32_t)affected;
        return engine_reply_message(reply, &m);
}

int saga_admin_query(Pg *pg, const Food__V1__SagaQuery *q, EngineReply *reply) {
        if (strcmp(q->query, "show") == 0)
                return admin_show(pg, q->order_id, reply);
        if (strcmp(q->query, "stuck") == 0)
                return admin_stuck(pg, q, reply);
        if (strcmp(q->query, "redrive") == 0)
                return admin_redrive(pg, q, reply);
        return engine_reply_set(reply, 400, "Bad request", "query must be show, stuck or redrive", NULL, 0);
}

int saga_admin_flag_failed_compensations(Pg *pg) {
        PGresult *res = NULL;
        int r, n;

        r = pg_run(pg, &st_flag_failed, 0, NULL, NULL, NULL, &res);
        if (r < 0)
                return r;
        n = PQntuples(res);
        for (int i = 0; i < n; i++)
                log_error("saga %s: COMPENSATION_FAILED: a compensation got no answer in all the tries its "
                          "policy allows; redrive it with `sagactl redrive %s` once the worker is back",
                          PQgetvalue(res, i, 0), PQgetvalue(res, i, 0));
        PQclear(res);
        return n;
}

int saga_admin_count_stuck(Pg *pg, int64_t older_than_ms, long long *ret) {
        char older[24];
        PGresult *res = NULL;
        snprintf(older, sizeof(older), "%" PRId64, older_than_ms);
        const char *vals[] = {older};
        int r = pg_run(pg, &st_count_stuck, 1, vals, NULL, NULL, &res);
        if (r == 0)
                *ret = pg_ll(res, 0, 0);
        PQclear(res);
        return r;
}

int saga_admin_compensation_answered(Pg *pg, const char *order_id) {
        const char *vals[] = {order_id};
        return pg_run(pg, &st_clear_failed, 1, vals, NULL, NULL, NULL);
}
