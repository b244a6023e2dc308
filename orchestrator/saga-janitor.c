/* The writer's housework that needs neither its session nor its memory: expired status events and
 * idempotency keys deleted, the stuck-saga gauge counted. On a session and thread of its own, so that
 * no batch waits behind them (a prune of a second's events took 15-20 ms, the count 20 ms: every
 * request then waiting on the writer waited that much longer). Private to the orchestrator. */
#include "saga-janitor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "saga-admin.h"
#include "saga-store.h"

#define JANITOR_PRUNE_EVERY_MS 1000 /* expired events and keys deleted this often (what expired meanwhile) */
#define JANITOR_PRUNE_BEHIND_MS 100 /* the next chunk, while expired rows are left over */
#define JANITOR_WATCH_MS 5000       /* how often the stuck gauge is refreshed */
#define JANITOR_RETRY_MS 1000       /* after a failed session or statement */
#define JANITOR_STOP_S 1            /* at stop, a statement in flight is waited for this long */

struct Janitor {
        Orchestrator *o;
        const _Atomic uint32_t *owned; /* the writer's shards, a bit each */
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop, done; /* done: the thread returned */
        Pg *pg;
};

static Metric *m_stuck;

/* Sleeps until `until_ms` or janitor_stop; false once stopping. */
static bool janitor_sleep(Janitor *j, int64_t until_ms) {
        pthread_mutex_lock(&j->lock);
        while (!j->stop && ids_now_ms() < until_ms) {
                struct timespec ts = ids_deadline(CLOCK_REALTIME, until_ms - ids_now_ms());
                (void)pthread_cond_timedwait(&j->cond, &j->lock, &ts);
        }
        bool go_on = !j->stop;
        pthread_mutex_unlock(&j->lock);
        return go_on;
}

/* The session, opened when there is none (named for operators: "orchestrator-janitor <instance>"; pinned,
 * so that a broken one is replaced here, name and all, not reconnected under the program's name);
 * false when PostgreSQL cannot be reached now. Its statements are planned at each run (once a second):
 * the generic plan PostgreSQL made at the sixth prune of a fresh install, while `events` was still empty
 * and before autovacuum's first analyze, deleted by a sequential scan of every event (`ctid = ANY(...)` as
 * a filter) at each prune: 5.6 ms and 2,336 buffers a prune in a benchmark's first minute, 0.026 ms and 1
 * buffer planned at each run. */
static bool janitor_session(Janitor *j) {
        char setup[160];
        if (j->pg && pg_ok(j->pg))
                return true;
        pg_free(j->pg);
        j->pg = NULL;
        if (service_pg(&j->o->svc, &j->pg) < 0)
                return false;
        pg_pin_session(j->pg);
        snprintf(setup, sizeof(setup),
                 "SET application_name = 'orchestrator-janitor %s'; SET plan_cache_mode = force_custom_plan",
                 j->o->instance);
        if (pg_exec(j->pg, setup) < 0) {
                pg_free(j->pg);
                j->pg = NULL;
                return false;
        }
        return true;
}

/* One chunk of what expired in the writer's shards: when the next is due. Another owner's shards wait
 * for it; events are deleted only once published (saga_store_prune), whoever owns their shard now. */
static int64_t janitor_prune(Janitor *j, int64_t now) {
        uint32_t mask = atomic_load(j->owned);
        int shards[IDS_SHARDS];
        size_t n = 0;
        for (int s = 0; s < IDS_SHARDS; s++)
                if (mask & (1u << s))
                        shards[n++] = s;
        if (n == 0)
                return now + JANITOR_PRUNE_EVERY_MS;
        int r = saga_store_prune(j->pg, shards, n, j->o->events_keep_s, j->o->keys_keep_s);
        if (r < 0) {
                log_warn("orchestrator: pruning failed: %s", pg_error(j->pg));
                return now + JANITOR_RETRY_MS;
        }
        return now + (r > 0 ? JANITOR_PRUNE_BEHIND_MS : JANITOR_PRUNE_EVERY_MS);
}

static void *janitor_run(void *arg) {
        Janitor *j = arg;
        int64_t next_prune = 0, next_watch = 0;
        for (;;) {
                int64_t due = next_prune < next_watch ? next_prune : next_watch;
                if (!janitor_sleep(j, due))
                        break;
                int64_t now = ids_now_ms();
                if (!janitor_session(j)) {
                        next_prune = next_watch = now + JANITOR_RETRY_MS;
                        continue;
                }
                if (!janitor_sleep(j, 0)) /* stopped while it connected */
                        break;
                if (now >= next_prune)
                        next_prune = janitor_prune(j, now);
                if (now >= next_watch) {
                        long long stuck = 0;
                        next_watch = now + JANITOR_WATCH_MS;
                        if (saga_admin_count_stuck(j->pg, j->o->stuck_after_ms, &stuck) == 0)
                                metric_set(m_stuck, stuck);
                        else
                                log_warn("orchestrator: counting stuck sagas failed: %s", pg_error(j->pg));
                }
        }
        pg_free(j->pg);
        j->pg = NULL;
        pthread_mutex_lock(&j->lock);
        j->done = true;
        pthread_cond_broadcast(&j->cond);
        pthread_mutex_unlock(&j->lock);
        return NULL;
}

int janitor_start(Orchestrator *o, const _Atomic uint32_t *owned, Janitor **ret) {
        Janitor *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        if (!m_stuck)
                m_stuck = metrics_gauge("food_sagas_stuck",
                                        "Sagas not terminal and not advancing, or whose compensation failed");
        j->o = o;
        j->owned = owned;
        pthread_mutex_init(&j->lock, NULL);
        pthread_cond_init(&j->cond, NULL);
        int r = -pthread_create(&j->thread, NULL, janitor_run, j);
        if (r < 0) {
                pthread_mutex_destroy(&j->lock);
                pthread_cond_destroy(&j->cond);
                free(j);
                return r;
        }
        *ret = j;
        return 0;
}

bool janitor_stop(Janitor *j) {
        if (!j)
                return true;
        struct timespec by = ids_deadline(CLOCK_REALTIME, JANITOR_STOP_S * 1000);
        pthread_mutex_lock(&j->lock);
        j->stop = true;
        pthread_cond_broadcast(&j->cond);
        while (!j->done && pthread_cond_timedwait(&j->cond, &j->lock, &by) == 0)
                ;
        bool done = j->done;
        pthread_mutex_unlock(&j->lock);
        if (!done) {
                log_warn("orchestrator: the janitor's statement did not end within %d s; left to the ending process",
                         JANITOR_STOP_S);
                return false;
        }
        pthread_join(j->thread, NULL);
        pthread_mutex_destroy(&j->lock);
        pthread_cond_destroy(&j->cond);
        free(j);
        return true;
}
