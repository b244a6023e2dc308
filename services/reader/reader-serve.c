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

/* Queries waiting in one thread's subscription at most; more are dropped by nats.c (their askers time out). */
#define READER_PENDING_MAX 1024
/* How often a thread without a query looks at the stop flag. */
#define READER_IDLE_MS 200
/* At a stop, how long a thread answers the queries that reached it before its interest was gone. */
#define READER_DRAIN_MS 1000

typedef struct {
        Service *svc;
        Pg *pg; /* opened at the first query, again after it broke */
        BusInbox *in;
        pthread_t thread;
        bool started;
} ReaderThread;

static Metric *m_answered, *m_failed, *m_refused;
static atomic_bool reader_quit; /* a thread could not start: the others stop too */

static void reader_metrics_init(void) {
        m_answered = metrics_counter("reader_queries_total{outcome=\"answered\"}", "Read queries by outcome");
        m_failed = metrics_counter("reader_queries_total{outcome=\"failed\"}", "Read queries by outcome");
        m_refused = metrics_counter("reader_queries_total{outcome=\"refused\"}", "Read queries by outcome");
}

/* Runs `q` on the thread's session, opening it first or again (once) when it broke: a PostgreSQL restart costs
 * no query. 0 with *ret, or negative errno with the reason in *why. */
static int reader_run(ReaderThread *t, const ReaderQuery *q, const char *const *vals, PGresult **ret,
                      const char **why) {
        int r = t->pg ? 0 : pg_connect(&t->pg, t->svc->cfg.database_url, t->svc->schema);
        if (r == 0) {
                r = pg_run(t->pg, &q->stmt, q->n_args, vals, NULL, NULL, ret);
                if (r == -ENOTCONN && pg_ensure(t->pg) == 0)
                        r = pg_run(t->pg, &q->stmt, q->n_args, vals, NULL, NULL, ret);
        }
        if (r < 0)
                *why = t->pg ? pg_error(t->pg) : "cannot connect to PostgreSQL";
        return r;
}

/* The answer to `msg`: the rows of the query it names, or why there are none. */
static void reader_answer(ReaderThread *t, natsMsg *msg) {
        const char *to = natsMsg_GetReply(msg), *why = NULL;
        char name[64];
        const ReaderQuery *q = NULL;
        ProtobufCMessage *unpacked = NULL;
        Food__V1__ReadRows rows = FOOD__V1__READ_ROWS__INIT;
        PGresult *res = NULL;
        char **cells = NULL;
        uint8_t *data = NULL;
        size_t len = 0;

        if (!to || !*to)
                return; /* nobody to answer: a published query is not one */
        if (topo_token(natsMsg_GetSubject(msg), 2, name, sizeof(name)) == 0)
                q = reader_query(name);
        if (!q)
                why = "unknown query";
        else if (codec_unpack(&food__v1__read_query__descriptor, natsMsg_GetData(msg),
                              (size_t)natsMsg_GetDataLength(msg), &unpacked) < 0)
                why = "unreadable ReadQuery";
        else {
                const Food__V1__ReadQuery *rq = (const Food__V1__ReadQuery *)unpacked;
                const char *vals[8] = {0};
                if ((int)rq->n_args != q->n_args || q->n_args > (int)(sizeof(vals) / sizeof(vals[0])))
                        why = "wrong number of arguments";
                for (int i = 0; !why && i < q->n_args; i++)
                        vals[i] = (size_t)i < rq->n_null_args && rq->null_args[i] ? NULL : rq->args[i];
                if (why)
                        metric_add(m_refused, 1);
                else if (reader_run(t, q, vals, &res, &why) < 0) {
                        metric_add(m_failed, 1);
                        log_warn("reader: %s failed: %s", q->name, why);
                }
        }
        if (!q)
                metric_add(m_refused, 1);
        if (res) {
                int n = PQntuples(res), c = PQnfields(res);
                size_t total = (size_t)n * (size_t)c;
                cells = total > 0 ? calloc(total, sizeof(*cells)) : NULL;
                if (total > 0 && !cells)
                        why = "out of memory";
                for (int i = 0; cells && i < n; i++)
                        for (int k = 0; k < c; k++)
                                cells[(size_t)i * (size_t)c + (size_t)k] = PQgetvalue(res, i, k);
                rows.columns = c;
                rows.n_cells = cells ? total : 0;
                rows.cells = cells;
        }
        if (why) {
                rows.error = (char *)why;
                rows.columns = 0;
                rows.n_cells = 0;
        } else
                metric_add(m_answered, 1);
        if (codec_pack(&rows.base, &data, &len) == 0)
                (void)bus_publish_core(t->svc->bus, to, food__v1__read_rows__descriptor.name, data, len);
        free(data);
        free(cells);
        PQclear(res);
        codec_free(unpacked);
}

static void *reader_thread(void *arg) {
        ReaderThread *t = arg;
        while (!service_stopping && !atomic_load(&reader_quit)) {
                natsMsg *msg = NULL;
                int r = bus_inbox_next(t->in, READER_IDLE_MS, &msg);
                if (r == 0) {
                        reader_answer(t, msg);
                        natsMsg_Destroy(msg);
                } else if (r != -ETIMEDOUT) {
                        /* Queries dropped for a slow thread: their askers time out; this thread goes on. */
                        log_warn("reader: a subscription failed: %s", strerror(-r));
                        service_sleep_ms(READER_IDLE_MS);
                }
        }
        /* Stopping: the server sends nothing more here (the other replicas take the queries); what already came
         * is answered, within READER_DRAIN_MS. */
        bus_inbox_drain(t->in);
        for (int64_t until = ids_now_ms() + READER_DRAIN_MS; ids_now_ms() < until;) {
                natsMsg *msg = NULL;
                int r = bus_inbox_next(t->in, 50, &msg);
                if (r == 0) {
                        reader_answer(t, msg);
                        natsMsg_Destroy(msg);
                } else if (r != -ETIMEDOUT)
                        break; /* drained */
        }
        return NULL;
}

int reader_serve(Service *svc, int threads) {
        ReaderThread *t = calloc((size_t)threads, sizeof(*t));
        int started = 0, r = 0;

        if (!t)
                return -ENOMEM;
        reader_metrics_init();
        for (int i = 0; i < threads && r == 0; i++) {
                t[i].svc = svc;
                r = bus_inbox_open(svc->bus, TOPO_READ_SUBJECTS, TOPO_READ_QUEUE, READER_PENDING_MAX, &t[i].in);
                if (r == 0)
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
        /* A thread answers the query it holds, then stops; its subscription goes with it. */
        for (int i = 0; i < threads; i++) {
                if (t[i].started)
                        pthread_join(t[i].thread, NULL);
                bus_inbox_close(t[i].in);
                pg_free(t[i].pg);
        }
        free(t);
        return r;
}
