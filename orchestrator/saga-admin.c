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

/* Not terminal and not advancing, with no timer still to come; or a compensation that gave up.
 * Both are unsettled: the partial index of the shards' owners finds them. */
#define STUCK_WHERE                                                                                                    \
        " WHERE NOT settled AND (compensation_failed OR (state NOT IN ('COMPLETED', 'REJECTED', 'REFUSED',"         \
        " 'CANCELLED') AND updated_at < now() - make_interval(secs => $1::bigint / 1000.0)"                         \
        " AND (deadline_at IS NULL OR deadline_at < now() - make_interval(secs => $1::bigint / 1000.0))))"

static const PgStmt st_stuck = {
        "admin_stuck",
        "SELECT order_id, state, step, attempt, version, definition_version,"
        " coalesce((extract(epoch FROM deadline_at) * 1000)::bigint, 0), compensation_failed,"
        " (extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM updated_at) * 1000)::bigint"
        " FROM sagas" STUCK_WHERE " ORDER BY updated_at LIMIT $2"};
static const PgStmt st_count_stuck = {"admin_count_stuck", "SELECT count(*) FROM sagas" STUCK_WHERE};

static int64_t admin_stuck_after_ms;

static const char *const detail_names[] = {
        [LOG_SENT] = "published, awaiting answer",
        [LOG_ANSWERED] = "answered",
        [LOG_SUPERSEDED] = "no longer awaited",
        [LOG_GAVE_UP] = "failed after its tries",
        [LOG_PUBLISHED] = "published",
        [LOG_APPLIED] = "applied",
        [LOG_STALE] = "stale: ignored",
};

void saga_admin_setup(int64_t stuck_after_ms) {
        admin_stuck_after_ms = stuck_after_ms;
}

int saga_admin_show(const SagaRow *row, EngineReply *reply) {
        Food__V1__SagaHistory h = FOOD__V1__SAGA_HISTORY__INIT, *hp = &h;
        Food__V1__RpcReply m = FOOD__V1__RPC_REPLY__INIT;
        Food__V1__SagaStep *steps = calloc(row->n_log + 1, sizeof(*steps));
        Food__V1__SagaStep **ptrs = calloc(row->n_log + 1, sizeof(*ptrs));
        int r = -ENOMEM;

        if (!steps || !ptrs)
                goto out;
        for (size_t i = 0; i < row->n_log; i++) {
                const SagaLogEntry *l = &row->log[i];
                const CodecType *t = l->type ? codec_type_at(l->type - 1u) : NULL;
                const SagaStep *st = l->step ? saga_step_at(l->step - 1u) : NULL;
                Food__V1__SagaStep *s = &steps[i];
                food__v1__saga_step__init(s);
                s->kind = l->kind == LOG_EVENT ? "event"
                          : l->kind == LOG_REPLY ? "reply"
                          : st && st->compensation ? "compensation"
                                                   : "command";
                s->type = (char *)(t ? t->desc->name : "?");
                s->step = (char *)(st ? st->name : l->kind == LOG_EVENT ? "status" : "?");
                s->attempt = l->attempt;
                s->at_ms = l->at_ms;
                s->detail = (char *)(l->detail < sizeof(detail_names) / sizeof(detail_names[0]) &&
                                                     detail_names[l->detail]
                                             ? detail_names[l->detail]
                                             : "?");
                /* A command still unanswered shows its tries so far. */
                for (size_t k = 0; l->kind == LOG_COMMAND && k < row->n_commands; k++)
                        if (row->commands[k].command_id == l->command_id)
                                s->attempt = row->commands[k].attempt;
                ptrs[i] = s;
        }
        h.order_id = (char *)row->order_id;
        h.state = (char *)saga_state_name(row->state);
        h.step = (char *)row->step;
        h.attempt = (uint32_t)row->attempt;
        h.version = row->version;
        h.definition_version = SAGA_DEFINITION_VERSION;
        h.deadline_ms = row->deadline_ms;
        h.compensation_failed = row->compensation_failed;
        h.created_ms = row->created_ms;
        h.updated_ms = row->updated_ms;
        h.steps = ptrs;
        h.n_steps = row->n_log;
        m.http_status = 200;
        m.sagas = &hp;
        m.n_sagas = 1;
        r = engine_reply_message(reply, &m);
out:
        free(steps);
        free(ptrs);
        return r;
}

int saga_admin_stuck(Pg *pg, const Food__V1__SagaQuery *q, EngineReply *reply) {
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
                Food__V1__SagaHistory *h = &rows[i];
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
                ptrs[i] = h;
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

bool saga_admin_redrive(SagaRow *row, int64_t now_ms) {
        bool changed = row->compensation_failed;
        for (size_t i = 0; i < row->n_commands; i++) {
                SagaPending *p = &row->commands[i];
                p->budget = 0; /* the re-send about to happen is try 1 of a fresh budget */
                p->next_try_ms = now_ms;
                changed = true;
        }
        if (changed)
                log_info("saga %s: redriven by an operator", row->order_id);
        row->compensation_failed = false;
        return changed;
}
