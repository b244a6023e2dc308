/* The reader's answering threads (reader-serve.h). */
#include "reader-serve.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "reader-queries.h"

/* Queries waiting for a free thread at most (in the process's one subscription); more are dropped by nats.c and
 * counted (their askers time out). One subscription for every thread, not one each: NATS hands a queue group's
 * messages out at random, not by load, and with a queue per thread a burst of reads (300 clients) overflowed one
 * thread's while others were idle. */
#define READER_PENDING_MAX 1024
/* How often a thread without a query looks at the stop flag. */
#define READER_IDLE_MS 200
/* At a stop, how long the threads answer the queries that reached the process before its interest was gone. */
#define READER_DRAIN_MS 1000
/* After PostgreSQL could not be reached, how long a thread answers "unreachable" at once instead of trying again
 * (a connect to a host that does not answer takes its whole timeout). */
#define READER_RECONNECT_MS 500

typedef struct {
        Service *svc;
        Pg *pg; /* opened at the first query, again after it broke */
        int64_t retry_at_ms; /* no attempt at PostgreSQL before this (READER_RECONNECT_MS after a failed one) */
        BusInbox *inbox; /* the process's, shared by its threads (the next query goes to the first free one) */
        pthread_t thread;
        bool started;
} ReaderThread;

static Metric *m_answered, *m_failed, *m_refused, *m_dropped;
static atomic_bool reader_quit; /* a thread could not start: the others stop too */

static void reader_metrics_init(void) {
        m_answered = metrics_counter("reader_queries_total{outcome=\"answered\"}", "Read queries by outcome");
        m_failed = metrics_counter("reader_queries_total{outcome=\"failed\"}", "Read queries by outcome");
        m_refused = metrics_counter("reader_queries_total{outcome=\"refused\"}", "Read queries by outcome");
        m_dropped = metrics_counter("reader_queries_total{outcome=\"dropped\"}", "Read queries by outcome");
}

/* Runs `q` on the thread's session, opening it first or again (once) when it broke: a PostgreSQL restart costs
 * no query. 0 with *ret, or negative errno with the reason in *why. */
static int reader_run(ReaderThread *t, const ReaderQuery *q, const char *const *vals, PGresult **ret,
                      const char **why) {
        int64_t now = ids_now_ms();
        int r = 0;

        if ((!t->pg || !pg_ok(t->pg)) && now < t->retry_at_ms) {
                *why = "PostgreSQL unreachable (trying again shortly)";
                return -ENOTCONN;
        }
        if (!t->pg)
                r = pg_connect(&t->pg, t->svc->cfg.database_url, t->svc->schema);
        if (r == 0) {
                r = pg_run(t->pg, &q->stmt, q->n_args, vals, NULL, NULL, ret);
                if (r == -ENOTCONN && pg_ensure(t->pg) == 0)
                        r = pg_run(t->pg, &q->stmt, q->n_args, vals, NULL, NULL, ret);
        }
        if (r == -ENOTCONN || !t->pg)
                t->retry_at_ms = ids_now_ms() + READER_RECONNECT_MS;
        if (r < 0)
                *why = t->pg ? pg_error(t->pg) : "cannot connect to PostgreSQL";
        return r;
}

/* Packs `rows` into *data: 0, or -EMSGSIZE when the answer would not fit in one NATS message (the server's
 * max_payload), then an answer saying so instead. */
static int reader_pack(ReaderThread *t, Food__V1__ReadRows *rows, uint8_t **data, size_t *len) {
        int64_t max = bus_max_payload(t->svc->bus);
        int r = codec_pack(&rows->base, data, len);
        if (r < 0 || max <= 0 || *len + 1024 <= (size_t)max) /* room for the headers */
                return r;
        free(*data);
        *data = NULL;
        rows->error = "the answer is larger than one NATS message (max_payload)";
        rows->columns = 0;
        rows->n_cells = 0;
        return codec_pack(&rows->base, data, len) == 0 ? -EMSGSIZE : -ENOMEM;
}

/* The answer to `msg`: the rows of the query it names, or why there are none. */
static void reader_answer(ReaderThread *t, natsMsg *msg) {
        const char *to = natsMsg_GetReply(msg), *why = NULL;
        char name[TOPO_SUBJECT_MAX];
        const ReaderQuery *q = NULL;
        ProtobufCMessage *unpacked = NULL;
        Food__V1__ReadRows rows = FOOD__V1__READ_ROWS__INIT;
        PGresult *res = NULL;
        char **cells = NULL;
        uint8_t *data = NULL;
        size_t len = 0;
        Metric *outcome = m_refused;

        if (!to || !*to) {
                metric_add(m_refused, 1);
                return; /* nobody to answer: a published query is not one */
        }
        if (topo_read_query(natsMsg_GetSubject(msg), name, sizeof(name)) == 0)
                q = reader_query(name);
        if (!q)
                why = "unknown query";
        else if (codec_unpack(&food__v1__read_query__descriptor, natsMsg_GetData(msg),
                              (size_t)natsMsg_GetDataLength(msg), &unpacked) < 0)
                why = "unreadable ReadQuery";
        else {
                const Food__V1__ReadQuery *rq = (const Food__V1__ReadQuery *)unpacked;
                const char *vals[TOPO_READ_ARGS_MAX] = {0};
                if ((int)rq->n_args != q->n_args || q->n_args > TOPO_READ_ARGS_MAX)
                        why = "wrong number of arguments";
                for (int i = 0; !why && i < q->n_args; i++)
                        vals[i] = (size_t)i < rq->n_null_args && rq->null_args[i] ? NULL : rq->args[i];
                if (!why && reader_run(t, q, vals, &res, &why) < 0) {
                        outcome = m_failed;
                        log_warn("reader: %s failed: %s", q->name, why);
                }
        }
        if (res) {
                int n = PQntuples(res), c = PQnfields(res);
                size_t total = (size_t)n * (size_t)c;
                cells = total > 0 ? calloc(total, sizeof(*cells)) : NULL;
                if (total > 0 && !cells) {
                        why = "out of memory";
                        outcome = m_failed;
                }
                for (int i = 0; cells && i < n; i++)
                        for (int k = 0; k < c; k++)
                                cells[(size_t)i * (size_t)c + (size_t)k] = PQgetvalue(res, i, k);
                rows.columns = c;
                rows.n_cells = cells ? total : 0;
                rows.cells = cells;
                if (!why)
                        outcome = m_answered;
        }
        if (why) {
                rows.error = (char *)why;
                rows.columns = 0;
                rows.n_cells = 0;
        }
        int r = reader_pack(t, &rows, &data, &len);
        if (r == -EMSGSIZE) {
                outcome = m_failed;
                log_error("reader: %s: the answer does not fit in one NATS message; the asker gets an error", q->name);
        }
        if ((r == 0 || r == -EMSGSIZE) &&
            bus_publish_core(t->svc->bus, to, food__v1__read_rows__descriptor.name, data, len) < 0)
                outcome = m_failed; /* NATS away: the asker times out */
        metric_add(outcome, 1);
        free(data);
        free(cells);
        PQclear(res);
        codec_free(unpacked);
}

/* Takes and answers the next query within `timeout_ms`: 0, -ETIMEDOUT, or the subscription's error. */
static int reader_next(void *ud, int64_t timeout_ms) {
        ReaderThread *t = ud;
        natsMsg *msg = NULL;
        int r = bus_inbox_next(t->inbox, timeout_ms, &msg);
        if (r == 0) {
                reader_answer(t, msg);
                natsMsg_Destroy(msg);
        } else if (r == -ENOBUFS)
                metric_add(m_dropped, 1); /* nats.c dropped queries for this thread: their askers time out */
        return r;
}

static void *reader_thread(void *arg) {
        ReaderThread *t = arg;
        while (!service_stopping && !atomic_load(&reader_quit)) {
                int r = reader_next(t, READER_IDLE_MS);
                if (r < 0 && r != -ETIMEDOUT && r != -ENOBUFS) {
                        log_warn("reader: a subscription failed: %s", strerror(-r));
                        service_sleep_ms(READER_IDLE_MS);
                }
        }
        /* Stopping: the server sends nothing more here (the other replicas take the queries); what already came
         * is answered by every thread, within READER_DRAIN_MS. */
        bus_inbox_finish(t->inbox, READER_DRAIN_MS, reader_next, t);
        return NULL;
}

int reader_serve(Service *svc, int threads) {
        ReaderThread *t = calloc((size_t)threads, sizeof(*t));
        BusInbox *inbox = NULL;
        int started = 0, r = 0;

        if (!t)
                return -ENOMEM;
        reader_metrics_init();
        r = bus_inbox_open(svc->bus, TOPO_READ_SUBJECTS, TOPO_READ_QUEUE, READER_PENDING_MAX, &inbox);
        if (r < 0)
                log_error("reader: cannot subscribe to %s: %s", TOPO_READ_SUBJECTS, strerror(-r));
        for (int i = 0; i < threads && r == 0; i++) {
                t[i].svc = svc;
                t[i].inbox = inbox;
                r = -pthread_create(&t[i].thread, NULL, reader_thread, &t[i]);
                if (r == 0) {
                        t[i].started = true;
                        started++;
                } else
                        log_error("reader: cannot start answering thread %d: %s", i, strerror(-r));
        }
        if (r == 0)
                log_info("reader: answering %s with %d threads", TOPO_READ_SUBJECTS, started);
        while (r == 0 && !service_stopping)
                service_sleep_ms(READER_IDLE_MS);
        atomic_store(&reader_quit, true);
        /* A thread answers the query it holds, then stops; the subscription goes after the last. */
        for (int i = 0; i < threads; i++) {
                if (t[i].started)
                        pthread_join(t[i].thread, NULL);
                pg_free(t[i].pg);
        }
        bus_inbox_close(inbox);
        free(t);
        return r;
}
