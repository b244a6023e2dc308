/* Webhook sender pool and backlog shedder over notification.outbox (see notification-sender.h). */
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
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "notification-webhook.h"

/* A claimed row stays leased this long past the send deadline before another sender may take it
 * again (a sender that died mid-batch): covers the database round trips around the send. */
#define SENDER_LEASE_MARGIN_MS 2000
/* How often the maintenance thread refreshes the backlog gauges and sheds. */
#define SENDER_SHED_PERIOD_MS 1000
/* Pushed rows leave the outbox together, at most this long after their push or this many at a time:
 * one statement (and commit) for several batches instead of one each. A row whose mark a crash lost
 * is due again when its outbox time comes (10 s after it was written) and pushed again with its
 * key, which the provider keeps once, as when the crash comes between the push and the mark. */
#define SENDER_MARK_MS 100
#define SENDER_MARK_MAX 1024
/* A provider that failed every attempt of this many batches in a row is left alone for a pause: no
 * push until it ends (fed rows wait in memory, the others in the outbox), then one batch probes it.
 * The pause doubles from NOTIFY_RETRY_BASE_MS up to SENDER_PAUSE_MAX_MS; a push it takes ends it. */
#define SENDER_PAUSE_AFTER 3
#define SENDER_PAUSE_MAX_MS 30000

/* A fed row, owned by the queue until a sender takes it. */
typedef struct {
        char *msg_id, *customer_id, *order_id, *status, *message;
        int64_t at_ms;
} FeedItem;

struct NotifySender {
        Service *svc;
        NotifySenderConfig cfg;
        pthread_mutex_t feed_lock;
        pthread_cond_t feed_cond;
        FeedItem *feed; /* a ring of cfg.max_backlog items */
        size_t feed_head, feed_n, feed_cap;
        pthread_t *threads;
        int n_threads; /* started */
        pthread_t maint;
        bool maint_started;
        atomic_bool stop;
        /* Under feed_lock: batches that failed entirely in a row, the current pause and its end. */
        int failed_batches;
        int64_t pause_ms, paused_until;
};

static Metric *m_sent, *m_retried, *m_failed, *m_shed, *m_backlog, *m_in_flight, *m_paused;

/* Due outbox rows, oldest first: retries whose time came, rows whose feed got lost, and leases of
 * senders that died; with their log rows (one lookup each). */
static const PgStmt st_claim = {
        "notify_claim",
        "WITH c AS (UPDATE outbox o SET leased = true, attempts = o.attempts + 1,"
        "           next_attempt_at = now() + $2::bigint * interval '1 millisecond'"
        "           FROM (SELECT msg_id FROM outbox WHERE next_attempt_at <= now() ORDER BY next_attempt_at"
        "                 LIMIT $1::int FOR UPDATE SKIP LOCKED) d"
        "           WHERE o.msg_id = d.msg_id RETURNING o.attempts, o.msg_id)"
        " SELECT c.attempts, c.msg_id, n.customer_id, n.order_id, n.status, n.message, n.at_ms FROM c,"
        " LATERAL (SELECT customer_id, coalesce(order_id, '') AS order_id, status, message,"
        "          floor(extract(epoch FROM at) * 1000)::bigint AS at_ms"
        "          FROM notifications WHERE msg_id = c.msg_id) n"};

/* Whose attempt this was: a fed row is still unleased with one attempt less; a claimed one is
 * leased with its attempt (the lease token). A row re-claimed meanwhile is not ours. */
#define NOTIFY_OURS(a) "((NOT o.leased AND o.attempts = " a " - 1) OR (o.leased AND o.attempts = " a "))"

/* Pushed: out of the outbox. The log row already says 'sent'; only a push that took retries
 * records its attempts. */
static const PgStmt st_sent = {
        "notify_sent",
        "WITH d AS (DELETE FROM outbox o USING unnest($1::text[], $2::int[]) AS u(m, a)"
        "           WHERE o.msg_id = u.m AND " NOTIFY_OURS("u.a") " RETURNING o.msg_id, u.a),"
        " r AS (UPDATE notifications n SET attempts = d.a, sent_at = now(), last_error = NULL FROM d"
        "       WHERE d.a > 1 AND n.msg_id = d.msg_id)"
        " SELECT count(*) FROM d"};

/* A batch's failed attempts, in one statement each: due again later, or given up. */
static const PgStmt st_retry = {
        "notify_retry",
        "UPDATE outbox o SET leased = false, attempts = u.a,"
        " next_attempt_at = now() + u.d * interval '1 millisecond', last_error = u.e"
        " FROM unnest($1::text[], $2::int[], $3::int8[], $4::text[]) AS u(m, a, d, e)"
        " WHERE o.msg_id = u.m AND " NOTIFY_OURS("u.a")};

static const PgStmt st_failed = {
        "notify_failed",
        "WITH d AS (DELETE FROM outbox o USING unnest($1::text[], $2::int[], $3::text[]) AS u(m, a, e)"
        "           WHERE o.msg_id = u.m AND " NOTIFY_OURS("u.a") " RETURNING o.msg_id, u.a, u.e)"
        " UPDATE notifications n SET delivery_status = 'failed', attempts = d.a, last_error = d.e"
        " FROM d WHERE n.msg_id = d.msg_id RETURNING n.msg_id, n.customer_id, d.a, d.e"};

static const PgStmt st_backlog = {
        "notify_backlog",
        "SELECT count(*) FILTER (WHERE NOT leased), count(*) FILTER (WHERE leased) FROM outbox"};

/* One shedder at a time across replicas, else each would shed the same excess. */
static const PgStmt st_shed_lock = {"notify_shed_lock",
                                    "SELECT pg_try_advisory_xact_lock(hashtext('notification.shed'))"};

static const PgStmt st_shed = {
        "notify_shed",
        "WITH d AS (DELETE FROM outbox WHERE msg_id IN (SELECT msg_id FROM outbox WHERE NOT leased"
        "           ORDER BY id LIMIT $1::bigint FOR UPDATE SKIP LOCKED) RETURNING msg_id)"
        " UPDATE notifications n SET delivery_status = 'shed' FROM d WHERE n.msg_id = d.msg_id"};

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
                r = config_bool("NOTIFY_WEBHOOK_BATCH", false, &c->webhook_batch);
        if (r == 0)
                r = config_int("NOTIFY_MAX_ATTEMPTS", 8, 1, 1000, &attempts);
        if (r == 0)
                r = config_int("NOTIFY_RETRY_BASE_MS", 1000, 1, 3600000, &c->retry.base_ms);
        if (r == 0)
                r = config_int("NOTIFY_RETRY_MAX_MS", 300000, 1, 86400000, &c->retry.max_ms);
        if (r == 0)
                r = config_int("NOTIFY_MAX_BACKLOG", 10000, 1, 1000000000, &c->max_backlog);
        if (r == 0)
                r = config_int("NOTIFY_POLL_MS", 1000, 1, 60000, &c->poll_ms);
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
        m_paused = metrics_gauge("food_notifications_paused",
                                 "1 while pushes wait out a pause after the provider failed whole batches in a row");
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

/* The per-thread working set of one batch. */
typedef struct {
        NotifyItem *items;
        FeedItem *fed;             /* the fed rows of the batch (owned), or unused */
        NotifyRequest *reqs;
        size_t *req_item;          /* reqs[k] sends items[req_item[k]] */
        char **bodies;             /* per item, malloc'ed */
        char (*keys)[NOTIFY_KEY_MAX];
        NotifyDecision *decisions; /* per item */
        const char **errors;       /* per item, borrowed from reqs or literals */
        int64_t *delays;           /* per item, for NOTIFY_DONE_RETRY */
        size_t cap;
} Batch;

static void batch_free(Batch *b) {
        free(b->items);
        free(b->fed);
        free(b->reqs);
        free(b->req_item);
        free(b->bodies);
        free(b->keys);
        free(b->decisions);
        free(b->errors);
        free(b->delays);
}

static int batch_init(Batch *b, size_t cap) {
        memset(b, 0, sizeof(*b));
        b->cap = cap;
        b->items = calloc(cap, sizeof(*b->items));
        b->fed = calloc(cap, sizeof(*b->fed));
        b->reqs = calloc(cap, sizeof(*b->reqs));
        b->req_item = calloc(cap, sizeof(*b->req_item));
        b->bodies = calloc(cap, sizeof(*b->bodies));
        b->keys = calloc(cap, sizeof(*b->keys));
        b->decisions = calloc(cap, sizeof(*b->decisions));
        b->errors = calloc(cap, sizeof(*b->errors));
        b->delays = calloc(cap, sizeof(*b->delays));
        if (!b->items || !b->fed || !b->reqs || !b->req_item || !b->bodies || !b->keys || !b->decisions ||
            !b->errors || !b->delays) {
                batch_free(b);
                return -ENOMEM;
        }
        return 0;
}

/* Rows pushed whose outbox rows are not deleted yet (SENDER_MARK_MS). */
typedef struct {
        PgArray ids, attempts;
        long long n;
        int64_t since_ms; /* when the oldest was pushed */
} Marks;

static void marks_init(Marks *m) {
        pg_array_init(&m->ids, PG_OID_TEXT);
        pg_array_init(&m->attempts, PG_OID_INT4);
        m->n = 0;
        m->since_ms = 0;
}

static void marks_add(Marks *m, const NotifyItem *it) {
        if (m->n++ == 0)
                m->since_ms = ids_monotonic_ms();
        pg_array_text(&m->ids, it->msg_id);
        pg_array_int4(&m->attempts, it->attempts);
}

/* When the marks are to be written: INT64_MAX with none, at once when there are many. */
static int64_t marks_due_at(const Marks *m) {
        if (m->n == 0)
                return INT64_MAX;
        return m->n >= SENDER_MARK_MAX ? 0 : m->since_ms + SENDER_MARK_MS;
}

/* Deletes the marked rows from the outbox in one statement. Whatever happens, the marks are
 * forgotten: rows not deleted are due again when their time comes (see SENDER_MARK_MS). */
static int marks_flush(Pg *pg, Marks *m) {
        PGresult *res = NULL;
        int r = 0;

        if (m->n == 0)
                return 0;
        PgArray *arrays[] = {&m->ids, &m->attempts};
        r = pg_run_arrays(pg, &st_sent, arrays, 2, &res);
        if (r == 0) {
                long long marked = pg_ll(res, 0, 0);
                count(m_sent, marked);
                if (marked != m->n)
                        log_debug("webhook: %lld of %lld sent rows had been re-leased meanwhile", m->n - marked,
                                  m->n);
        }
        PQclear(res);
        pg_array_free(&m->ids);
        pg_array_free(&m->attempts);
        marks_init(m);
        return r;
}

/* Records every item's outcome: the sent ones join `marks`; the retries of the batch are one
 * statement, its failures another (a failing provider costs a statement per batch, not per row). */
static int batch_complete(Pg *pg, Batch *b, size_t n, Marks *marks) {
        PgArray r_ids, r_att, r_delay, r_err, f_ids, f_att, f_err;
        PgArray *retries[] = {&r_ids, &r_att, &r_delay, &r_err}, *failures[] = {&f_ids, &f_att, &f_err};
        size_t n_retry = 0, n_failed = 0;
        PGresult *res = NULL;
        int r = 0;

        pg_array_init(&r_ids, PG_OID_TEXT);
        pg_array_init(&r_att, PG_OID_INT4);
        pg_array_init(&r_delay, PG_OID_INT8);
        pg_array_init(&r_err, PG_OID_TEXT);
        pg_array_init(&f_ids, PG_OID_TEXT);
        pg_array_init(&f_att, PG_OID_INT4);
        pg_array_init(&f_err, PG_OID_TEXT);
        for (size_t i = 0; i < n; i++) {
                const NotifyItem *it = &b->items[i];
                if (b->decisions[i] == NOTIFY_DONE_SENT) {
                        marks_add(marks, it);
                } else if (b->decisions[i] == NOTIFY_DONE_RETRY) {
                        pg_array_text(&r_ids, it->msg_id);
                        pg_array_int4(&r_att, it->attempts);
                        pg_array_int8(&r_delay, b->delays[i]);
                        pg_array_text(&r_err, b->errors[i]);
                        n_retry++;
                } else {
                        pg_array_text(&f_ids, it->msg_id);
                        pg_array_int4(&f_att, it->attempts);
                        pg_array_text(&f_err, b->errors[i]);
                        n_failed++;
                }
        }
        if (n_retry > 0) {
                r = pg_run_arrays(pg, &st_retry, retries, 4, &res);
                if (r == 0) {
                        long long k = cmd_tuples(res);
                        count(m_retried, k);
                        log_debug("webhook: %lld attempt(s) failed, each due again after its backoff", k);
                }
                PQclear(res);
                res = NULL;
        }
        if (r == 0 && n_failed > 0) {
                r = pg_run_arrays(pg, &st_failed, failures, 3, &res);
                if (r == 0) {
                        for (int k = 0; k < PQntuples(res); k++)
                                log_warn("notification %s to %s failed for good after %s attempt(s): %s",
                                         PQgetvalue(res, k, 0), PQgetvalue(res, k, 1), PQgetvalue(res, k, 2),
                                         PQgetvalue(res, k, 3));
                        count(m_failed, PQntuples(res));
                }
                PQclear(res);
        }
        for (size_t i = 0; i < sizeof(retries) / sizeof(retries[0]); i++)
                pg_array_free(retries[i]);
        for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++)
                pg_array_free(failures[i]);
        return r;
}

/* After a batch that reached the provider: `all_failed` (every attempt failed transiently) counts
 * towards a pause (SENDER_PAUSE_AFTER); anything else ends the failing run and any pause. */
static void sender_health(NotifySender *s, bool all_failed) {
        pthread_mutex_lock(&s->feed_lock);
        if (!all_failed) {
                if (s->paused_until)
                        log_info("webhook: the provider takes pushes again");
                s->failed_batches = 0;
                s->pause_ms = s->paused_until = 0;
                metric_set(m_paused, 0);
        } else if (++s->failed_batches >= SENDER_PAUSE_AFTER && s->paused_until <= ids_monotonic_ms()) {
                int64_t max = s->cfg.retry.max_ms < SENDER_PAUSE_MAX_MS ? s->cfg.retry.max_ms : SENDER_PAUSE_MAX_MS;
                int64_t next = s->pause_ms ? s->pause_ms * 2 : s->cfg.retry.base_ms;
                s->pause_ms = next < max ? next : max;
                s->paused_until = ids_monotonic_ms() + s->pause_ms;
                log_warn("webhook: %d batches in a row failed at the provider; no push for %lld ms", s->failed_batches,
                         (long long)s->pause_ms);
                metric_set(m_paused, 1);
        }
        pthread_mutex_unlock(&s->feed_lock);
}

static int64_t sender_paused_until(NotifySender *s) {
        pthread_mutex_lock(&s->feed_lock);
        int64_t until = s->paused_until;
        pthread_mutex_unlock(&s->feed_lock);
        return until;
}

/* Sends items[0..n) and records the outcomes. */
static int batch_send(NotifySender *s, Pg *pg, NotifyWebhook *w, Batch *b, size_t n, uint64_t *rng, Marks *marks) {
        size_t n_req = 0, n_transient = 0;
        const char *first_error = NULL;
        int r;

        for (size_t i = 0; i < n; i++) {
                NotifyItem *it = &b->items[i];
                notify_idempotency_key(it, b->keys[i], sizeof(b->keys[i]));
                b->bodies[i] = NULL;
                r = notify_webhook_body(it, &b->bodies[i]);
                if (r < 0) {
                        /* Not representable as JSON (e.g. text that is not UTF-8): never sendable. */
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
        if (n_req > 0)
                sender_health(s, n_transient == n_req);
        r = batch_complete(pg, b, n, marks);
        for (size_t i = 0; i < n; i++)
                free(b->bodies[i]);
        return r;
}

static void feed_item_free(FeedItem *f) {
        free(f->msg_id);
        free(f->customer_id);
        free(f->order_id);
        free(f->status);
        free(f->message);
        memset(f, 0, sizeof(*f));
}

int notify_sender_feed(NotifySender *s, Food__V1__Notification *const *rows, size_t n) {
        size_t dropped = 0;
        pthread_mutex_lock(&s->feed_lock);
        for (size_t i = 0; i < n; i++) {
                const Food__V1__Notification *row = rows[i];
                if (s->feed_n == s->feed_cap) {
                        dropped++; /* the backlog is full: the row stays pending for the sweep (or the shedder) */
                        continue;
                }
                FeedItem *f = &s->feed[(s->feed_head + s->feed_n) % s->feed_cap];
                f->msg_id = strdup(row->msg_id);
                f->customer_id = strdup(row->customer_id);
                f->order_id = strdup(row->order_id);
                f->status = strdup(row->status);
                f->message = strdup(row->message);
                f->at_ms = row->at_ms;
                if (!f->msg_id || !f->customer_id || !f->order_id || !f->status || !f->message) {
                        feed_item_free(f);
                        dropped++;
                        continue;
                }
                s->feed_n++;
        }
        pthread_cond_signal(&s->feed_cond);
        pthread_mutex_unlock(&s->feed_lock);
        if (dropped)
                log_debug("notification sender: %zu fed row(s) left to the sweep (backlog full)", dropped);
        return 0;
}

/* Takes up to b->cap fed rows into the batch, waiting up to `wait_ms` for the first. */
static size_t feed_take(NotifySender *s, Batch *b, int64_t wait_ms) {
        size_t n = 0;
        pthread_mutex_lock(&s->feed_lock);
        if (s->feed_n == 0 && wait_ms > 0 && !sender_stopping(s)) {
                struct timespec ts = ids_deadline(CLOCK_REALTIME, wait_ms);
                (void)pthread_cond_timedwait(&s->feed_cond, &s->feed_lock, &ts);
        }
        while (s->feed_n > 0 && n < b->cap) {
                b->fed[n] = s->feed[s->feed_head];
                memset(&s->feed[s->feed_head], 0, sizeof(FeedItem));
                s->feed_head = (s->feed_head + 1) % s->feed_cap;
                s->feed_n--;
                n++;
        }
        pthread_mutex_unlock(&s->feed_lock);
        for (size_t i = 0; i < n; i++)
                b->items[i] = (NotifyItem){.attempts = 1, .msg_id = b->fed[i].msg_id, .customer_id = b->fed[i].customer_id,
                                           .order_id = b->fed[i].order_id, .status = b->fed[i].status,
                                           .message = b->fed[i].message, .at_ms = b->fed[i].at_ms};
        return n;
}

/* Claims the rows due (not fed, or waiting for a retry), sends them and records the outcomes.
 * Returns the number of rows claimed, or a negative errno (database trouble: the caller backs off;
 * leases make the rows due again). */
static int sender_sweep(NotifySender *s, Pg *pg, NotifyWebhook *w, Batch *b, uint64_t *rng, Marks *marks) {
        char limit[16], lease[24];
        const char *vals[2] = {limit, lease};
        PGresult *res = NULL;
        size_t n;
        int r;

        snprintf(limit, sizeof(limit), "%zu", b->cap);
        snprintf(lease, sizeof(lease), "%" PRId64, s->cfg.timeout_ms + SENDER_LEASE_MARGIN_MS);
        r = pg_run(pg, &st_claim, 2, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        n = (size_t)PQntuples(res);
        for (size_t i = 0; i < n; i++)
                b->items[i] = (NotifyItem){.attempts = (int)pg_ll(res, (int)i, 0), .msg_id = pg_str(res, (int)i, 1),
                                           .customer_id = pg_str(res, (int)i, 2), .order_id = pg_str(res, (int)i, 3),
                                           .status = pg_str(res, (int)i, 4), .message = pg_str(res, (int)i, 5),
                                           .at_ms = pg_ll(res, (int)i, 6)};
        r = n ? batch_send(s, pg, w, b, n, rng, marks) : 0;
        PQclear(res);
        return r < 0 ? r : (int)n;
}

static void *sender_run(void *arg) {
        NotifySender *s = arg;
        NotifyWebhookConfig wcfg = {.url = s->cfg.webhook_url, .api_key = s->cfg.api_key,
                                    .timeout_ms = s->cfg.timeout_ms, .max_parallel = s->cfg.batch, .batch = s->cfg.webhook_batch};
        NotifyWebhook *w = NULL;
        uint64_t rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&wcfg ^ 0x9e3779b97f4a7c15ULL;
        int64_t next_sweep = 0;
        Marks marks;
        Batch b;
        Pg *pg = NULL;
        int r;

        if (batch_init(&b, (size_t)s->cfg.batch) < 0) {
                log_error_errno(-ENOMEM, "notification sender: cannot allocate a batch");
                return NULL;
        }
        marks_init(&marks);
        r = notify_webhook_new(&w, &wcfg);
        if (r == 0)
                r = service_pg(s->svc, &pg);
        /* Delivery states only: one lost to a crash of PostgreSQL is a webhook sent again with its
         * key (the provider keeps one), a claim or a retry made again. */
        if (r == 0)
                r = pg_async_commit(pg);
        /* The outbox is a queue: its rows come and go within moments (see pg_prefer_indexes). */
        if (r == 0)
                r = pg_prefer_indexes(pg);
        if (r < 0) {
                log_error_errno(r, "notification sender: cannot start a sender thread");
                goto out;
        }
        while (!sender_stopping(s)) {
                /* Fed rows first, as they come; their marks when due; the sweep for the others every
                 * NOTIFY_POLL_MS. */
                int64_t now = ids_monotonic_ms(), until = marks_due_at(&marks), paused = sender_paused_until(s);
                size_t n = 0;
                if (paused > now) {
                        /* The provider is left alone: only the marks of earlier pushes are written. */
                        sender_sleep(s, (until < paused ? until : paused) - now);
                } else {
                        if (next_sweep < until)
                                until = next_sweep;
                        n = feed_take(s, &b, until > now ? until - now : 0);
                }
                r = 0;
                if (n > 0) {
                        r = pg_ensure(pg);
                        if (r == 0)
                                r = batch_send(s, pg, w, &b, n, &rng, &marks);
                        for (size_t i = 0; i < n; i++)
                                feed_item_free(&b.fed[i]);
                }
                if (r == 0 && ids_monotonic_ms() >= marks_due_at(&marks))
                        r = marks_flush(pg, &marks);
                if (r == 0 && paused <= now && ids_monotonic_ms() >= next_sweep) {
                        r = sender_sweep(s, pg, w, &b, &rng, &marks);
                        if (r >= 0 && (size_t)r < b.cap)
                                next_sweep = ids_monotonic_ms() + s->cfg.poll_ms; /* drained: again later */
                }
                if (r < 0) {
                        /* A fed row not marked stays pending: the sweep sends it again (same key). */
                        log_warn("notification sender: database error (%s), retrying", pg_error(pg));
                        sender_sleep(s, 1000);
                        (void)pg_ensure(pg);
                }
        }
        /* Stopping: what was pushed leaves the outbox now (else it is pushed again after a restart). */
        if (marks.n > 0 && pg_ensure(pg) == 0 && marks_flush(pg, &marks) < 0)
                log_warn("notification sender: %s; the rows pushed last are pushed again later (same keys)",
                         pg_error(pg));
out:
        pg_array_free(&marks.ids);
        pg_array_free(&marks.attempts);
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
        if (r == 0)
                r = pg_async_commit(pg); /* shedding is redone by the next round */

        if (r < 0) {
                log_error_errno(r, "notification sender: cannot start the shedder");
                pg_free(pg);
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
                                    .max_parallel = cfg->batch, .batch = cfg->webhook_batch};
        int r;

        /* Fail fast on a URL the threads could not use. */
        r = notify_webhook_new(&probe, &wcfg);
        notify_webhook_free(probe);
        if (r == -EINVAL)
                return log_error_errno(r, "config: NOTIFY_WEBHOOK_URL=\"%s\" is not an http(s) URL, or NOTIFY_API_KEY "
                                          "holds a control character", cfg->webhook_url);
        if (r < 0)
                return log_error_errno(r, "NOTIFY_WEBHOOK_URL=\"%s\": the client could not start (TLS)", cfg->webhook_url);
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->svc = svc;
        s->cfg = *cfg;
        atomic_init(&s->stop, false);
        pthread_mutex_init(&s->feed_lock, NULL);
        pthread_cond_init(&s->feed_cond, NULL);
        s->feed_cap = (size_t)cfg->max_backlog < 65536 ? (size_t)cfg->max_backlog : 65536;
        s->feed = calloc(s->feed_cap, sizeof(*s->feed));
        if (!s->feed) {
                free(s);
                return -ENOMEM;
        }
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
        pthread_mutex_lock(&s->feed_lock);
        pthread_cond_broadcast(&s->feed_cond);
        pthread_mutex_unlock(&s->feed_lock);
        for (int i = 0; i < s->n_threads; i++)
                pthread_join(s->threads[i], NULL);
        if (s->maint_started)
                pthread_join(s->maint, NULL);
        for (size_t i = 0; i < s->feed_n; i++)
                feed_item_free(&s->feed[(s->feed_head + i) % s->feed_cap]);
        free(s->feed);
        free(s->threads);
        free(s);
}
