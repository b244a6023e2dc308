/* The gateway's bounded PostgreSQL pool: a mutex, a condition variable on CLOCK_MONOTONIC, an idle stack. */
#include "gateway-pgpool.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ids.h"
#include "metrics.h"

struct PgPool {
        pthread_mutex_t lock;
        pthread_cond_t freed; /* a session came back or a slot was given up */
        char *conninfo, *schema;
        size_t size;
        int64_t wait_ms;
        size_t open;   /* sessions counted against `size`: idle + borrowed + being opened */
        size_t n_idle;
        Pg **idle;     /* `size` entries, the first n_idle in use (a stack: the warmest on top) */
};

static Metric *m_size, *m_open, *m_in_use, *m_waits, *m_timeouts;

void pgpool_metrics_init(void) {
        m_size = metrics_gauge("gateway_pg_pool_size", "PostgreSQL sessions the gateway may open (GATEWAY_PG_POOL)");
        m_open = metrics_gauge("gateway_pg_pool_open", "PostgreSQL sessions of the gateway's pool open now");
        m_in_use = metrics_gauge("gateway_pg_pool_in_use", "PostgreSQL sessions of the gateway's pool borrowed now");
        m_waits = metrics_counter("gateway_pg_pool_waits_total",
                                  "Requests that waited for a PostgreSQL session because all were busy");
        m_timeouts = metrics_counter("gateway_pg_pool_timeouts_total",
                                     "Requests answered 503 because no PostgreSQL session freed up in time");
}

static void pgpool_metric(Metric *m, long long v) {
        if (m) /* unregistered in unit tests */
                metric_add(m, v);
}

int pgpool_new(PgPool **ret, const char *conninfo, const char *schema, size_t size, int64_t wait_ms) {
        pthread_condattr_t attr;
        PgPool *p;

        if (size < 1 || size > PGPOOL_SIZE_MAX || wait_ms < 0)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->conninfo = strdup(conninfo);
        p->schema = strdup(schema);
        p->idle = calloc(size, sizeof(*p->idle));
        if (!p->conninfo || !p->schema || !p->idle) {
                free(p->conninfo);
                free(p->schema);
                free(p->idle);
                free(p);
                return -ENOMEM;
        }
        p->size = size;
        p->wait_ms = wait_ms;
        pthread_mutex_init(&p->lock, NULL);
        /* Deadlines on the monotonic clock: a wall-clock step must not stretch or cut the wait. */
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&p->freed, &attr);
        pthread_condattr_destroy(&attr);
        if (m_size)
                metric_set(m_size, (long long)size);
        *ret = p;
        return 0;
}

void pgpool_free(PgPool *p) {
        if (!p)
                return;
        /* Every borrower has returned its session (the HTTP threads are gone). */
        assert(p->open == p->n_idle);
        for (size_t i = 0; i < p->n_idle; i++)
                pg_free(p->idle[i]);
        pgpool_metric(m_open, -(long long)p->n_idle);
        pthread_cond_destroy(&p->freed);
        pthread_mutex_destroy(&p->lock);
        free(p->idle);
        free(p->conninfo);
        free(p->schema);
        free(p);
}

int pgpool_acquire(PgPool *p, Pg **ret) {
        struct timespec deadline = ids_deadline(CLOCK_MONOTONIC, p->wait_ms);
        bool waited = false;
        Pg *pg = NULL;
        int r;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                if (p->n_idle > 0) {
                        pg = p->idle[--p->n_idle];
                        break;
                }
                if (p->open < p->size) {
                        p->open++; /* the slot is ours while connecting, outside the lock */
                        break;
                }
                if (!waited) {
                        waited = true;
                        pgpool_metric(m_waits, 1);
                }
                r = pthread_cond_timedwait(&p->freed, &p->lock, &deadline);
                if (r == ETIMEDOUT && p->n_idle == 0 && p->open >= p->size) {
                        pthread_mutex_unlock(&p->lock);
                        pgpool_metric(m_timeouts, 1);
                        return -ETIMEDOUT;
                }
        }
        pthread_mutex_unlock(&p->lock);
        if (!pg) {
                r = pg_connect(&pg, p->conninfo, p->schema);
                if (r < 0) {
                        pthread_mutex_lock(&p->lock);
                        p->open--;
                        pthread_cond_signal(&p->freed); /* a waiter may try to open it */
                        pthread_mutex_unlock(&p->lock);
                        return r == -ENOMEM ? r : -ENOTCONN;
                }
                pgpool_metric(m_open, 1);
        }
        pgpool_metric(m_in_use, 1);
        *ret = pg;
        return 0;
}

void pgpool_release(PgPool *p, Pg *pg) {
        if (!pg)
                return;
        pgpool_metric(m_in_use, -1);
        if (!pg_ok(pg)) {
                /* Broken: closed, so that the next borrower opens a fresh session in its slot. */
                pg_free(pg);
                pgpool_metric(m_open, -1);
                pthread_mutex_lock(&p->lock);
                p->open--;
        } else {
                pthread_mutex_lock(&p->lock);
                assert(p->n_idle < p->size);
                p->idle[p->n_idle++] = pg;
        }
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&p->lock);
}
