/* The outbox relay: publishes committed outbox rows to JetStream in batches
 * (claimed FOR UPDATE SKIP LOCKED, so replicas never publish the same row at
 * once), and its sweeper: re-sends commands nobody answered and fires the
 * durable timers (store answer deadline, auto-complete). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "orchestrator.h"
#include "saga-admin.h"
#include "saga-retry.h"

#define RELAY_BATCH 256

static Metric *m_published, *m_resent, *m_timers, *m_stuck, *m_comp_failed;

static const PgStmt st_claim = {"relay_claim",
                                "SELECT id, subject, type, payload, attempt, needs_ack, step, budget FROM outbox"
                                " WHERE published_at IS NULL ORDER BY id LIMIT 256 FOR UPDATE SKIP LOCKED"};
/* Published; a command's next try falls due after its step's wait (ms). */
static const PgStmt st_mark = {
        "relay_mark",
        "UPDATE outbox o SET published_at = now(),"
        " next_try_at = CASE WHEN v.wait > 0 THEN now() + v.wait * interval '1 millisecond' END"
        " FROM unnest($1::bigint[], $2::bigint[]) AS v(id, wait) WHERE o.id = v.id"};
/* Commands whose answer is overdue by their step's policy (saga-retry.c). */
static const PgStmt st_resend = {
        "relay_resend",
        "WITH due AS (SELECT id FROM outbox WHERE needs_ack AND acked_at IS NULL AND next_try_at <= now()"
        "  AND budget < max_budget ORDER BY next_try_at LIMIT 200 FOR UPDATE SKIP LOCKED)"
        " UPDATE outbox o SET published_at = NULL, next_try_at = NULL, attempt = o.attempt + 1,"
        " budget = o.budget + 1 FROM due WHERE o.id = due.id"
        " RETURNING o.order_id, o.step, o.attempt"};

static const PgStmt st_bump_step = {"relay_bump_step",
                                    "UPDATE sagas SET attempt = $3 WHERE order_id = $1 AND step = $2"};
static const PgStmt st_due_steps = {"relay_due_steps",
                                    "SELECT order_id FROM sagas WHERE step_deadline_at <= now()"
                                    " ORDER BY step_deadline_at LIMIT 100 FOR UPDATE SKIP LOCKED"};
static const PgStmt st_due_timers = {"relay_due_timers",
                                     "SELECT order_id FROM sagas WHERE deadline_at <= now()"
                                     " ORDER BY deadline_at LIMIT 100 FOR UPDATE SKIP LOCKED"};

void orchestrator_kick_relay(Orchestrator *o) {
        pthread_mutex_lock(&o->kick_lock);
        o->kicked = true;
        pthread_cond_signal(&o->kick_cond);
        pthread_mutex_unlock(&o->kick_lock);
}

static void wait_for_kick(Orchestrator *o, int ms) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&o->kick_lock);
        while (!o->kicked && !service_stopping)
                if (pthread_cond_timedwait(&o->kick_cond, &o->kick_lock, &until) != 0)
                        break;
        o->kicked = false;
        pthread_mutex_unlock(&o->kick_lock);
}

/* Stamps the command id and attempt into the message's correlation. The
 * payload is re-packed into *out (caller frees); its trace context is copied
 * into trace (for the traceparent header). */
static int stamp(const CodecType *t, const void *data, size_t len, int64_t id, int attempt, uint8_t **out,
                 size_t *out_len, char *trace, size_t trace_cap) {
        ProtobufCMessage *m = NULL;
        Food__V1__Correlation *corr;
        int r = codec_unpack(t->desc, data, len, &m);
        if (r < 0)
                return r;
        corr = codec_correlation(m);
        if (corr) {
                corr->command_id = id;
                corr->attempt = (uint32_t)attempt;
        }
        snprintf(trace, trace_cap, "%s", codec_traceparent(m));
        r = codec_pack(m, out, out_len);
        codec_free(m);
        return r;
}

/* Publishes one batch of unpublished rows. Returns how many, or negative errno. */
static int relay_batch(Pg *pg, BusPublisher *pub) {
        PGresult *res = NULL;
        char *ids = NULL, *waits = NULL;
        size_t ids_len = 0, waits_len = 0, cap = 0;
        int n, r;

        r = pg_begin(pg);
        if (r < 0)
                return r;
        r = pg_run(pg, &st_claim, 0, NULL, NULL, NULL, &res);
        if (r < 0)
                goto fail;
        n = PQntuples(res);
        if (n == 0) {
                PQclear(res);
                return pg_commit(pg);
        }
        /* Two PostgreSQL array literals: the ids and each row's wait for its next try. */
        cap = (size_t)n * 24 + 4;
        ids = malloc(cap);
        waits = malloc(cap);
        if (!ids || !waits) {
                r = -ENOMEM;
                goto fail;
        }
        ids[ids_len++] = '{';
        waits[waits_len++] = '{';
        for (int i = 0; i < n; i++) {
                int64_t id = pg_ll(res, i, 0);
                int attempt = (int)pg_ll(res, i, 4);
                bool needs_ack = PQgetvalue(res, i, 5)[0] == 't';
                const CodecType *t = codec_type_by_name(PQgetvalue(res, i, 2));
                unsigned char *raw;
                uint8_t *packed = NULL;
                size_t raw_len = 0, packed_len = 0;
                char msg_id[64], trace[IDS_TRACEPARENT_LEN + 1];

                int64_t wait = needs_ack ? retry_delay_ms(retry_policy(PQgetvalue(res, i, 6)), (int)pg_ll(res, i, 7))
                                         : 0;
                ids_len += (size_t)snprintf(ids + ids_len, cap - ids_len, "%s%" PRId64, i ? "," : "", id);
                waits_len += (size_t)snprintf(waits + waits_len, cap - waits_len, "%s%" PRId64, i ? "," : "", wait);
                if (!t) {
                        log_error("relay: outbox row %" PRId64 " has unknown type %s; skipped", id,
                                  PQgetvalue(res, i, 2));
                        continue;
                }
                raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 3), &raw_len);
                if (!raw) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = stamp(t, raw, raw_len, id, attempt, &packed, &packed_len, trace, sizeof(trace));
                PQfreemem(raw);
                if (r < 0) {
                        log_error("relay: outbox row %" PRId64 " does not decode; skipped", id);
                        continue;
                }
                /* A command's every try is a new message for the workers; an
                 * event keeps one id so consumers see it once. */
                if (needs_ack)
                        snprintf(msg_id, sizeof(msg_id), "c.%" PRId64 ".%d", id, attempt);
                else
                        snprintf(msg_id, sizeof(msg_id), "e.%" PRId64, id);
                r = bus_publish(pub, PQgetvalue(res, i, 1), msg_id, t->desc->name, packed, packed_len, trace);
                free(packed);
                if (r < 0)
                        goto fail;
        }
        ids[ids_len++] = '}';
        ids[ids_len] = 0;
        waits[waits_len++] = '}';
        waits[waits_len] = 0;
        r = bus_publisher_flush(pub, 5000);
        if (r < 0)
                goto fail; /* rows stay unpublished; the next round sends them again */
        {
                const char *vals[] = {ids, waits};
                r = pg_run(pg, &st_mark, 2, vals, NULL, NULL, NULL);
        }
        if (r == 0)
                r = pg_commit(pg);
        if (r < 0)
                goto fail;
        metric_add(m_published, n);
        PQclear(res);
        free(ids);
        free(waits);
        return n;
fail:
        pg_rollback(pg);
        PQclear(res);
        free(ids);
        free(waits);
        return r;
}

/* Makes commands unanswered for too long publishable again, one attempt up. */
static int sweep_resends(Pg *pg) {
        PGresult *res = NULL;
        int r, n = 0;

        r = pg_begin(pg);
        if (r == 0)
                r = pg_run(pg, &st_resend, 0, NULL, NULL, NULL, &res);
        if (r == 0) {
                n = PQntuples(res);
                for (int i = 0; i < n && r == 0; i++) {
                        const char *bump[] = {PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2)};
                        log_warn("saga %s: no answer to step %s, sending attempt %s", bump[0], bump[1], bump[2]);
                        r = pg_run(pg, &st_bump_step, 3, bump, NULL, NULL, NULL);
                }
        }
        if (r == 0)
                r = pg_commit(pg);
        if (r < 0)
                pg_rollback(pg);
        PQclear(res);
        if (r == 0 && n > 0)
                metric_add(m_resent, n);
        return r < 0 ? r : n;
}

/* Fires due timers: a store that never answered refuses, a delivered order
 * never confirmed completes. Each saga in its own transaction. */
static int sweep_timers(Orchestrator *o, Pg *pg) {
        PGresult *res = NULL;
        int r, fired = 0;

        r = pg_begin(pg);
        if (r == 0)
                r = pg_run(pg, &st_due_timers, 0, NULL, NULL, NULL, &res);
        for (int i = 0; r == 0 && res && i < PQntuples(res); i++) {
                SagaRow row;
                EngineReply reply = {0};
                EngineArgs args = {.reason = "the store did not answer in time"};
                r = saga_store_load(pg, PQgetvalue(res, i, 0), &row);
                if (r != 0) {
                        r = r < 0 ? r : 0;
                        continue;
                }
                if (row.state == SAGA_PAYMENT_PENDING) {
                        /* The provider never answered: give up (a late charge is refunded). */
                        args.reason = "the payment provider did not answer in time";
                        r = engine_apply(&o->engine, pg, &row, SAGA_IN_PAYMENT_FAILED, &args, &reply);
                        if (r == 0)
                                r = saga_store_close_step(pg, row.order_id, "authorize");
                } else if (row.state == SAGA_PAID)
                        r = engine_apply(&o->engine, pg, &row, SAGA_IN_STORE_TIMEOUT, &args, &reply);
                else if (row.state == SAGA_DELIVERED) {
                        args.reason = NULL;
                        r = engine_apply(&o->engine, pg, &row, SAGA_IN_AUTO_COMPLETE, &args, &reply);
                } else
                        r = SAGA_CONFLICT;
                if (r == SAGA_CONFLICT) {
                        /* A timer left on a state that has none: clear it. */
                        r = saga_store_update(pg, &row, row.order, row.version, 0);
                } else if (r == 0) {
                        fired++;
                        log_info("saga %s: timer fired in %s", row.order_id, saga_state_name(row.state));
                }
                engine_reply_clear(&reply);
                saga_row_clear(&row);
        }
        PQclear(res);
        res = NULL;
        /* An awaited step past its own deadline (a modification's extra
         * charge): give it up; the order stays as it was, a late charge is refunded. */
        if (r == 0)
                r = pg_run(pg, &st_due_steps, 0, NULL, NULL, NULL, &res);
        for (int i = 0; r == 0 && res && i < PQntuples(res); i++) {
                SagaRow row;
                EngineReply reply = {0};
                r = saga_store_load(pg, PQgetvalue(res, i, 0), &row);
                if (r != 0) {
                        r = r < 0 ? r : 0;
                        continue;
                }
                char step[sizeof(row.step)];
                snprintf(step, sizeof(step), "%s", row.step);
                log_warn("saga %s: step %s got no answer in time; given up", row.order_id, step);
                r = engine_modify_outcome(pg, &row, SAGA_IN_PAYMENT_FAILED, &(EngineArgs){0}, &reply);
                if (r == 0 && !row.pending && row.step_deadline_ms) {
                        row.step_deadline_ms = 0; /* not a modification: just stop the clock */
                        r = saga_store_update(pg, &row, row.order, row.version, SAGA_KEEP_DEADLINE);
                }
                if (r == 0 && step[0])
                        r = saga_store_close_step(pg, row.order_id, step);
                if (r == 0)
                        fired++;
                engine_reply_clear(&reply);
                saga_row_clear(&row);
        }
        if (r == 0)
                r = pg_commit(pg);
        if (r < 0)
                pg_rollback(pg);
        PQclear(res);
        if (fired)
                metric_add(m_timers, fired);
        return r < 0 ? r : fired;
}

/* Operators' watch: flags compensations that gave up, counts stuck sagas. */
static void watch_sagas(Orchestrator *o, Pg *pg) {
        long long stuck = 0;
        int flagged = saga_admin_flag_failed_compensations(pg);
        if (flagged > 0)
                metric_add(m_comp_failed, flagged);
        if (saga_admin_count_stuck(pg, o->stuck_after_ms, &stuck) == 0)
                metric_set(m_stuck, stuck);
}

void *outbox_relay_run(void *arg) {
        Orchestrator *o = arg;
        BusPublisher *pub = NULL;
        Pg *pg = NULL;
        int64_t last_sweep = 0, last_watch = 0;

        m_published = metrics_counter("food_outbox_published_total", "Outbox messages published to JetStream");
        m_resent = metrics_counter("food_outbox_resent_total", "Commands re-sent after no answer");
        m_timers = metrics_counter("food_saga_timers_fired_total", "Durable saga timers fired");
        m_stuck = metrics_gauge("food_sagas_stuck", "Sagas not terminal and not advancing, or whose compensation failed");
        m_comp_failed = metrics_counter("food_saga_compensation_failed_total",
                                        "Sagas whose compensation ran out of tries (COMPENSATION_FAILED)");
        if (service_pg(&o->svc, &pg) < 0 || bus_publisher_new(o->svc.bus, &pub) < 0) {
                service_stopping = true;
                goto out;
        }
        while (!service_stopping) {
                int n;
                if (pg_ensure(pg) < 0) {
                        wait_for_kick(o, 500);
                        continue;
                }
                do
                        n = relay_batch(pg, pub);
                while (n == RELAY_BATCH && !service_stopping);
                if (n < 0)
                        log_warn("relay: publishing failed (%s); retrying", pg_error(pg));
                if (ids_now_ms() - last_watch >= 5000) {
                        last_watch = ids_now_ms();
                        watch_sagas(o, pg);
                }
                if (ids_now_ms() - last_sweep >= 500) {
                        last_sweep = ids_now_ms();
                        int resent = sweep_resends(pg);
                        int fired = sweep_timers(o, pg);
                        if (resent > 0 || fired > 0)
                                continue; /* publish what the sweep produced right away */
                }
                wait_for_kick(o, n < 0 ? 500 : 250);
        }
out:
        bus_publisher_free(pub);
        pg_free(pg);
        return NULL;
}
