/* Webhook sender pool and backlog shedder over notification.notifications (see notification-sender.h). */
#include "notification-sender.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "notification-webhook.h"

/* A claimed row stays leased this long past the send deadline before another sender may take it
 * again (a sender that died mid-batch): covers the database round trips around the send. */
#define SENDER_LEASE_MARGIN_MS 2000
/* How often the maintenance thread refreshes the backlog gauges and sheds. */
#define SENDER_SHED_PERIOD_MS 200
/* The text of an array of integers for unnest(): "{" + n * (20 digits + ",") + "}". */
#define INT_ARRAY_CAP(n) ((size_t)(n) * 21 + 3)

struct NotifySender {
        Service *svc;
        NotifySenderConfig cfg;
        pthread_t *threads;
        int n_threads; /* started */
        pthread_t maint;
        bool maint_started;
        atomic_bool stop;
};

static Metric *m_sent, *m_retried, *m_failed, *m_shed, *m_backlog, *m_in_flight;

/* Due rows, oldest first: new ones, retries whose time came, and leases of senders that died. */
static const PgStmt st_claim = {
        "notify_claim",
        "UPDATE notifications n SET delivery_status = 'sending', attempts = n.attempts + 1,"
        " next_attempt_at = now() + $2::bigint * interval '1 millisecond'"
        " FROM (SELECT id FROM notifications WHERE delivery_status IN ('pending', 'sending')"
        "       AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT $1::int FOR UPDATE SKIP LOCKED) c"
        " WHERE n.id = c.id"
        " RETURNING n.id, n.attempts, n.msg_id, n.customer_id, coalesce(n.order_id, ''), n.status, n.message,"
        " floor(extract(epoch FROM n.at) * 1000)::bigint"};

/* The attempts column is the lease token: a row re-claimed after our lease ran out is not ours. */
static const PgStmt st_sent = {
        "notify_sent",
        "UPDATE notifications n SET delivery_status = 'sent', sent_at = now(), next_attempt_at = NULL,"
        " last_error = NULL FROM unnest($1::bigint[], $2::int[]) AS u(id, attempts)"
        " WHERE n.id = u.id AND n.attempts = u.attempts AND n.delivery_status = 'sending'"};

static const PgStmt st_retry = {
        "notify_retry",
        "UPDATE notifications SET delivery_status = 'pending',"
        " next_attempt_at = now() + $3::bigint * interval '1 millisecond', last_error = $4"
        " WHERE id = $1::bigint AND attempts = $2::int AND delivery_status = 'sending'"};

static const PgStmt st_failed = {
        "notify_failed",
        "UPDATE notifications SET delivery_status = 'failed', next_attempt_at = NULL, last_error = $3"
        " WHERE id = $1::bigint AND attempts = $2::int AND delivery_status = 'sending'"};

static const PgStmt st_backlog = {
        "notify_backlog",
        "SELECT count(*) FILTER (WHERE delivery_status = 'pending'),"
        " count(*) FILTER (WHERE delivery_status = 'sending')"
        " FROM notifications WHERE delivery_status IN ('pending', 'sending')"};

/* One shedder at a time across replicas, else each would shed the same excess. */
static const PgStmt st_shed_lock = {"notify_shed_lock",
                                    "SELECT pg_try_advisory_xact_lock(hashtext('notification.shed'))"};

static const PgStmt st_shed = {
        "notify_shed",
        "UPDATE notifications SET delivery_status = 'shed', next_attempt_at = NULL"
        " WHERE id IN (SELECT id FROM notifications WHERE delivery_status = 'pending'"
        "              ORDER BY id LIMIT $1::bigint FOR UPDATE SKIP LOCKED)"};

int notify_sender_config(NotifySenderConfig *c) {
        int64_t threads = 0, batch = 0, attempts = 0;
        int r;

        memset(c, 0, sizeof(*c));
        r = config_str("NOTIFY_WEBHOOK_URL", "", &c->webhook_url);
        if (r == 0)
                r = config_str("NOTIFY_API_KEY", "", &c->api_key);
        if (r == 0)
                r = config_int("NOTIFY_TIMEOUT_MS", 3000, 50, 60000, &c->timeout_ms);
        if (r == 0)
                r = config_int("NOTIFY_THREADS", 2, 1, 64, &threads);
        if (r == 0)
                r = config_int("NOTIFY_BATCH", 16, 1, 256, &batch);
        if (r == 0)
                r = config_int("NOTIFY_MAX_ATTEMPTS", 8, 1, 1000, &attempts);
        if (r == 0)
                r = config_int("NOTIFY_RETRY_BASE_MS", 1000, 1, 3600000, &c->retry.base_ms);
        if (r == 0)
                r = config_int("NOTIFY_RETRY_MAX_MS", 300000, 1, 86400000, &c->retry.max_ms);
        if (r == 0)
                r = config_int("NOTIFY_MAX_BACKLOG", 10000, 1, 1000000000, &c->max_backlog);
        if (r == 0)
                r = config_int("NOTIFY_POLL_MS", 50, 1, 10000, &c->poll_ms);
        if (r < 0)
                return r;
        if (c->retry.max_ms < c->retry.base_ms) {
                log_error("config: NOTIFY_RETRY_MAX_MS (%lld) must not be below NOTIFY_RETRY_BASE_MS (%lld)",
                          (long long)c->retry.max_ms, (long long)c->retry.base_ms);
                return -EINVAL;
        }
        c->threads = (int)threads;
        c->batch = (int)batch;
        c->retry.max_attempts = (int)attempts;
        return 0;
}

void notify_sender_metrics_init(void) {
        m_sent = metrics_counter("food_notifications_sent_total", "Notifications the webhook provider accepted");
        m_retried = metrics_counter("food_notifications_retried_total",
                                    "Webhook attempts that failed transiently and were scheduled again");
        m_failed = metrics_counter("food_notifications_failed_total",
                                   "Notifications given up: refused by the provider or out of attempts");
        m_shed = metrics_counter("food_notifications_shed_total",
                                 "Pending notifications dropped (not pushed) because the backlog was over its bound");
        m_backlog = metrics_gauge("food_notifications_backlog", "Notifications waiting to be sent (all replicas)");
        m_in_flight = metrics_gauge("food_notifications_in_flight", "Notifications leased to a sender (all replicas)");
}

static void count(Metric *m, long long n) {
        if (m && n)
                metric_add(m, n);
}

static bool sender_stopping(NotifySender *s) {
        return service_stopping || atomic_load(&s->stop);
}

/* Sleeps up to ms, waking early (within 50 ms) when asked to stop. */
static void sender_sleep(NotifySender *s, int64_t ms) {
        while (ms > 0 && !sender_stopping(s)) {
                int64_t step = ms < 50 ? ms : 50;
                struct timespec ts = {step / 1000, (long)(step % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                ms -= step;
        }
}

/* A number in [0, 1) for retry jitter (xorshift64*; one state per thread). */
static double jitter_next(uint64_t *state) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        return (double)((*state * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}

static long long cmd_tuples(PGresult *res) {
        const char *t = PQcmdTuples(res);
        char *end = NULL;
        long long n = t && *t ? strtoll(t, &end, 10) : 0;
        return end && *end == 0 ? n : 0;
}

/* Appends ",<v>" (or "<v>" first) to an array literal being built in buf. */
static void int_array_add(char *buf, size_t cap, size_t *len, bool *first, long long v) {
        int k = snprintf(buf + *len, cap - *len, "%s%lld", *first ? "" : ",", v);
        if (k > 0 && (size_t)k < cap - *len)
                *len += (size_t)k;
        *first = false;
}

/* The per-thread working set of one batch. */
typedef struct {
        NotifyItem *items;
        NotifyRequest *reqs;
        size_t *req_item;          /* reqs[k] sends items[req_item[k]] */
        char **bodies;             /* per item, malloc'ed */
        char (*keys)[NOTIFY_KEY_MAX];
        NotifyDecision *decisions; /* per item */
        const char **errors;       /* per item, borrowed from reqs or literals */
        int64_t *delays;           /* per item, for NOTIFY_DONE_RETRY */
        char *sent_ids, *sent_attempts;
        size_t cap;
} Batch;

static void batch_free(Batch *b) {
        free(b->items);
        free(b->reqs);
        free(b->req_item);
        free(b->bodies);
        free(b->keys);
        free(b->decisions);
        free(b->errors);
        free(b->delays);
        free(b->sent_ids);
        free(b->sent_attempts);
}

static int batch_init(Batch *b, size_t cap) {
        memset(b, 0, sizeof(*b));
        b->cap = cap;
        b->items = calloc(cap, sizeof(*b->items));
        b->reqs = calloc(cap, sizeof(*b->reqs));
        b->req_item = calloc(cap, sizeof(*b->req_item));
        b->bodies = calloc(cap, sizeof(*b->bodies));
        b->keys = calloc(cap, sizeof(*b->keys));
        b->decisions = calloc(cap, sizeof(*b->decisions));
        b->errors = calloc(cap, sizeof(*b->errors));
        b->delays = calloc(cap, sizeof(*b->delays));
        b->sent_ids = malloc(INT_ARRAY_CAP(cap));
        b->sent_attempts = malloc(INT_ARRAY_CAP(cap));
        if (!b->items || !b->reqs || !b->req_item || !b->bodies || !b->keys || !b->decisions || !b->errors ||
            !b->delays || !b->sent_ids || !b->sent_attempts) {
                batch_free(b);
                return -ENOMEM;
        }
        return 0;
}

/* Writes every item's outcome: the sent ones in one statement, retries and failures one by one.
 * A row whose lease ran out meanwhile (re-claimed by another sender) is left alone. */
static int batch_complete(Pg *pg, Batch *b, size_t n) {
        size_t ids_len = 1, att_len = 1;
        bool ids_first = true, att_first = true;
        long long n_sent = 0;
        int r = 0;

        b->sent_ids[0] = '{';
        b->sent_attempts[0] = '{';
        for (size_t i = 0; i < n; i++) {
                const NotifyItem *it = &b->items[i];
                char id[24], attempts[16], delay[24];
                const char *vals[4] = {id, attempts, NULL, NULL};
                const PgStmt *st;
                PGresult *res = NULL;
                int k;

                if (b->decisions[i] == NOTIFY_DONE_SENT) {
                        int_array_add(b->sent_ids, INT_ARRAY_CAP(b->cap), &ids_len, &ids_first, it->id);
                        int_array_add(b->sent_attempts, INT_ARRAY_CAP(b->cap), &att_len, &att_first, it->attempts);
                        n_sent++;
                        continue;
                }
                snprintf(id, sizeof(id), "%" PRId64, it->id);
                snprintf(attempts, sizeof(attempts), "%d", it->attempts);
                if (b->decisions[i] == NOTIFY_DONE_RETRY) {
                        snprintf(delay, sizeof(delay), "%" PRId64, b->delays[i]);
                        vals[2] = delay;
                        vals[3] = b->errors[i];
                        st = &st_retry;
                        k = 4;
                } else {
                        vals[2] = b->errors[i];
                        st = &st_failed;
                        k = 3;
                }
                r = pg_run(pg, st, k, vals, NULL, NULL, &res);
                if (r < 0)
                        return r;
                if (cmd_tuples(res) == 1) {
                        if (st == &st_retry) {
                                count(m_retried, 1);
                                log_debug("notification %" PRId64 ": attempt %d failed (%s), again in %" PRId64 " ms",
                                          it->id, it->attempts, b->errors[i], b->delays[i]);
                        } else {
                                count(m_failed, 1);
                                log_warn("notification %" PRId64 " to %s failed for good after %d attempt(s): %s",
                                         it->id, it->customer_id, it->attempts, b->errors[i]);
                        }
                }
                PQclear(res);
        }
        if (n_sent > 0) {
                PGresult *res = NULL;
                b->sent_ids[ids_len++] = '}';
                b->sent_ids[ids_len] = 0;
                b->sent_attempts[att_len++] = '}';
                b->sent_attempts[att_len] = 0;
                const char *vals[2] = {b->sent_ids, b->sent_attempts};
                r = pg_run(pg, &st_sent, 2, vals, NULL, NULL, &res);
                if (r < 0)
                        return r;
                count(m_sent, cmd_tuples(res));
                if (cmd_tuples(res) != n_sent)
                        log_debug("webhook: %lld of %lld sent rows had been re-leased meanwhile",
                                  n_sent - cmd_tuples(res), n_sent);
                PQclear(res);
        }
        return 0;
}

/* Claims one batch, sends it and records the outcomes. Returns the number of rows claimed, or a
 * negative errno (database trouble: the caller backs off; leases make the rows due again). */
static int sender_round(NotifySender *s, Pg *pg, NotifyWebhook *w, Batch *b, uint64_t *rng) {
        char limit[16], lease[24];
        const char *vals[2] = {limit, lease};
        PGresult *res = NULL;
        size_t n, n_req = 0, n_transient = 0;
        const char *first_error = NULL;
        int r;

        snprintf(limit, sizeof(limit), "%zu", b->cap);
        snprintf(lease, sizeof(lease), "%" PRId64, s->cfg.timeout_ms + SENDER_LEASE_MARGIN_MS);
        r = pg_run(pg, &st_claim, 2, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        n = (size_t)PQntuples(res);
        for (size_t i = 0; i < n; i++) {
                NotifyItem *it = &b->items[i];
                it->id = pg_ll(res, (int)i, 0);
                it->attempts = (int)pg_ll(res, (int)i, 1);
                it->msg_id = pg_str(res, (int)i, 2);
                it->customer_id = pg_str(res, (int)i, 3);
                it->order_id = pg_str(res, (int)i, 4);
                it->status = pg_str(res, (int)i, 5);
                it->message = pg_str(res, (int)i, 6);
                it->at_ms = pg_ll(res, (int)i, 7);
                notify_idempotency_key(it, b->keys[i], sizeof(b->keys[i]));
                b->bodies[i] = NULL;
                r = notify_webhook_body(it, &b->bodies[i]);
                if (r < 0) {
                        /* Not representable as JSON (e.g. a command's text that is not UTF-8): never sendable. */
                        b->decisions[i] = NOTIFY_DONE_FAILED;
                        b->errors[i] = "cannot build the webhook body";
                        continue;
                }
                b->reqs[n_req].body = b->bodies[i];
                b->reqs[n_req].key = b->keys[i];
                b->req_item[n_req++] = i;
        }
        if (n_req > 0)
                (void)notify_webhook_send(w, b->reqs, n_req); /* -ENOMEM leaves "not sent" outcomes: retried */
        for (size_t k = 0; k < n_req; k++) {
                size_t i = b->req_item[k];
                NotifyOutcome o = notify_classify(b->reqs[k].http_status);
                b->errors[i] = b->reqs[k].error;
                b->decisions[i] = notify_decide(&s->cfg.retry, o, b->items[i].attempts, b->reqs[k].retry_after_ms,
                                                jitter_next(rng), &b->delays[i]);
                if (o == NOTIFY_TRANSIENT && n_transient++ == 0)
                        first_error = b->reqs[k].error;
        }
        if (n_transient > 0)
                log_info("webhook: %zu of %zu attempt(s) failed transiently (%s)", n_transient, n_req, first_error);
        r = batch_complete(pg, b, n);
        for (size_t i = 0; i < n; i++)
                free(b->bodies[i]);
        PQclear(res);
        return r < 0 ? r : (int)n;
}

static void *sender_run(void *arg) {
        NotifySender *s = arg;
        NotifyWebhookConfig wcfg = {.url = s->cfg.webhook_url, .api_key = s->cfg.api_key,
                                    .timeout_ms = s->cfg.timeout_ms, .max_parallel = s->cfg.batch};
        NotifyWebhook *w = NULL;
        uint64_t rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&wcfg ^ 0x9e3779b97f4a7c15ULL;
        Batch b;
        Pg *pg = NULL;
        int r;

        if (batch_init(&b, (size_t)s->cfg.batch) < 0) {
                log_error_errno(-ENOMEM, "notification sender: cannot allocate a batch");
                return NULL;
        }
        r = notify_webhook_new(&w, &wcfg);
        if (r == 0)
                r = service_pg(s->svc, &pg);
        if (r < 0) {
                log_error_errno(r, "notification sender: cannot start a sender thread");
                goto out;
        }
        while (!sender_stopping(s)) {
                r = sender_round(s, pg, w, &b, &rng);
                if (r < 0) {
                        log_warn("notification sender: database error (%s), retrying", pg_error(pg));
                        sender_sleep(s, 1000);
                        (void)pg_ensure(pg);
                } else if ((size_t)r < b.cap) {
                        sender_sleep(s, s->cfg.poll_ms); /* drained: wait for more */
                }
        }
out:
        pg_free(pg);
        notify_webhook_free(w);
        batch_free(&b);
        return NULL;
}

/* Refreshes the gauges and, over the bound, sheds the oldest pending rows. */
static int maint_round(NotifySender *s, Pg *pg) {
        PGresult *res = NULL;
        long long pending, in_flight, shed;
        int r;

        r = pg_run(pg, &st_backlog, 0, NULL, NULL, NULL, &res);
        if (r < 0)
                return r;
        pending = pg_ll(res, 0, 0);
        in_flight = pg_ll(res, 0, 1);
        PQclear(res);
        metric_set(m_backlog, pending);
        metric_set(m_in_flight, in_flight);
        if (notify_shed_count(pending, s->cfg.max_backlog) == 0)
                return 0;

        r = pg_begin(pg);
        if (r < 0)
                return r;
        r = pg_run(pg, &st_shed_lock, 0, NULL, NULL, NULL, &res);
        if (r < 0)
                goto fail;
        bool locked = strcmp(pg_str(res, 0, 0), "t") == 0;
        PQclear(res);
        if (!locked) { /* another replica is shedding right now */
                pg_rollback(pg);
                return 0;
        }
        /* Count again under the lock: another replica may have shed since. */
        r = pg_run(pg, &st_backlog, 0, NULL, NULL, NULL, &res);
        if (r < 0)
                goto fail;
        pending = pg_ll(res, 0, 0);
        PQclear(res);
        char limit[24];
        snprintf(limit, sizeof(limit), "%" PRId64, notify_shed_count(pending, s->cfg.max_backlog));
        const char *vals[1] = {limit};
        r = pg_run(pg, &st_shed, 1, vals, NULL, NULL, &res);
        if (r < 0)
                goto fail;
        shed = cmd_tuples(res);
        PQclear(res);
        r = pg_commit(pg);
        if (r < 0)
                return r;
        count(m_shed, shed);
        metric_set(m_backlog, pending - shed);
        if (shed > 0)
                log_warn("notification backlog %lld over NOTIFY_MAX_BACKLOG=%lld: shed the %lld oldest (kept in the "
                         "customer's list, not pushed)",
                         pending, (long long)s->cfg.max_backlog, shed);
        return 0;
fail:
        pg_rollback(pg);
        return r;
}

static void *maint_run(void *arg) {
        NotifySender *s = arg;
        Pg *pg = NULL;
        int r = service_pg(s->svc, &pg);

        if (r < 0) {
                log_error_errno(r, "notification sender: cannot start the shedder");
                return NULL;
        }
        while (!sender_stopping(s)) {
                r = maint_round(s, pg);
                if (r < 0) {
                        log_warn("notification shedder: database error (%s), retrying", pg_error(pg));
                        (void)pg_ensure(pg);
                        sender_sleep(s, 1000);
                        continue;
                }
                sender_sleep(s, SENDER_SHED_PERIOD_MS);
        }
        pg_free(pg);
        return NULL;
}

int notify_sender_start(NotifySender **ret, Service *svc, const NotifySenderConfig *cfg) {
        NotifySender *s;
        NotifyWebhook *probe = NULL;
        NotifyWebhookConfig wcfg = {.url = cfg->webhook_url, .api_key = cfg->api_key, .timeout_ms = cfg->timeout_ms,
                                    .max_parallel = cfg->batch};
        int r;

        /* Fail fast on a URL the threads could not use. */
        r = notify_webhook_new(&probe, &wcfg);
        notify_webhook_free(probe);
        if (r < 0)
                return log_error_errno(r, "NOTIFY_WEBHOOK_URL=\"%s\" is not an http(s) URL", cfg->webhook_url);
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->svc = svc;
        s->cfg = *cfg;
        atomic_init(&s->stop, false);
        s->threads = calloc((size_t)cfg->threads, sizeof(*s->threads));
        if (!s->threads) {
                free(s);
                return -ENOMEM;
        }
        for (int i = 0; i < cfg->threads; i++) {
                r = -pthread_create(&s->threads[i], NULL, sender_run, s);
                if (r < 0) {
                        log_error_errno(r, "cannot start notification sender thread %d", i);
                        goto fail;
                }
                s->n_threads++;
        }
        r = -pthread_create(&s->maint, NULL, maint_run, s);
        if (r < 0) {
                log_error_errno(r, "cannot start the notification shedder thread");
                goto fail;
        }
        s->maint_started = true;
        log_info("notification sender: webhook %s, %d thread(s) x %d, timeout %lld ms, %d attempt(s) from %lld ms "
                 "doubling to %lld ms, backlog bound %lld",
                 cfg->webhook_url, cfg->threads, cfg->batch, (long long)cfg->timeout_ms, cfg->retry.max_attempts,
                 (long long)cfg->retry.base_ms, (long long)cfg->retry.max_ms, (long long)cfg->max_backlog);
        *ret = s;
        return 0;
fail:
        notify_sender_stop(s);
        return r;
}

void notify_sender_stop(NotifySender *s) {
        if (!s)
                return;
        atomic_store(&s->stop, true);
        for (int i = 0; i < s->n_threads; i++)
                pthread_join(s->threads[i], NULL);
        if (s->maint_started)
                pthread_join(s->maint, NULL);
        free(s->threads);
        free(s);
}
