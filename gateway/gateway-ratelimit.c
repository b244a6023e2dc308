/* Per-client token buckets in a fixed table, and the gateway's 429 answer. */
#include "gateway-ratelimit.h"

#include <civetweb.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway-auth.h"
#include "log.h"
#include "metrics.h"

/* Tokens are counted in thousandths so that refilling `rps` per second is an
 * integer `rps` thousandths per millisecond. */
#define MILLI 1000

typedef struct {
        char key[RATELIMIT_KEY_MAX];
        int64_t tokens; /* thousandths of a request */
        int64_t last_ms;
        bool used;
} Bucket;

struct RateLimit {
        pthread_mutex_t lock;
        int64_t rps, capacity; /* capacity = burst * MILLI */
        size_t mask;
        size_t tracked;
        Bucket *slots;
};

static Metric *m_limited;

void ratelimit_metrics_init(void) {
        m_limited = metrics_counter("gateway_rate_limited_total", "Requests refused with 429 by the per-client rate limit");
}

int ratelimit_new(RateLimit **ret, int64_t rps, int64_t burst, size_t slots) {
        RateLimit *rl;
        size_t n = RATELIMIT_PROBE;

        if (rps < 1 || burst < 1 || burst > INT64_MAX / MILLI / 2 || rps > INT64_MAX / MILLI || slots < RATELIMIT_PROBE ||
            slots > ((size_t)1 << 24))
                return -EINVAL;
        while (n < slots)
                n <<= 1;
        rl = calloc(1, sizeof(*rl));
        if (!rl)
                return -ENOMEM;
        rl->slots = calloc(n, sizeof(Bucket));
        if (!rl->slots) {
                free(rl);
                return -ENOMEM;
        }
        pthread_mutex_init(&rl->lock, NULL);
        rl->rps = rps;
        rl->capacity = burst * MILLI;
        rl->mask = n - 1;
        *ret = rl;
        return 0;
}

void ratelimit_free(RateLimit *rl) {
        if (!rl)
                return;
        pthread_mutex_destroy(&rl->lock);
        free(rl->slots);
        free(rl);
}

/* FNV-1a: spreads keys over the table; not a security boundary (a client
 * choosing colliding keys only evicts buckets, which start full again). */
static uint64_t ratelimit_hash(const char *key) {
        uint64_t h = 1469598103934665603ULL;
        for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
                h ^= *p;
                h *= 1099511628211ULL;
        }
        return h;
}

/* The bucket of `key`: its own, else a free slot of its probe window, else
 * the stalest one there, taken over with a full bucket. Called locked. */
static Bucket *ratelimit_slot(RateLimit *rl, const char *key, int64_t now_ms) {
        uint64_t h = ratelimit_hash(key);
        Bucket *victim = NULL;

        for (size_t i = 0; i < RATELIMIT_PROBE; i++) {
                Bucket *b = &rl->slots[(h + i) & rl->mask];
                if (b->used && strncmp(b->key, key, sizeof(b->key) - 1) == 0)
                        return b;
                if (!b->used) {
                        if (!victim || victim->used)
                                victim = b;
                } else if (!victim || (victim->used && b->last_ms < victim->last_ms))
                        victim = b;
        }
        if (!victim->used)
                rl->tracked++;
        snprintf(victim->key, sizeof(victim->key), "%s", key);
        victim->tokens = rl->capacity;
        victim->last_ms = now_ms;
        victim->used = true;
        return victim;
}

bool ratelimit_take(RateLimit *rl, const char *key, int64_t now_ms, int64_t *retry_after_s) {
        bool ok;
        pthread_mutex_lock(&rl->lock);
        Bucket *b = ratelimit_slot(rl, key, now_ms);
        int64_t elapsed = now_ms - b->last_ms;
        if (elapsed > 0) {
                /* Bounded first: a long-idle bucket is simply full. */
                int64_t full_after = rl->capacity / rl->rps + 1;
                if (elapsed > full_after)
                        elapsed = full_after;
                b->tokens += elapsed * rl->rps;
                if (b->tokens > rl->capacity)
                        b->tokens = rl->capacity;
                b->last_ms = now_ms;
        }
        ok = b->tokens >= MILLI;
        if (ok)
                b->tokens -= MILLI;
        else if (retry_after_s) {
                int64_t wait_ms = (MILLI - b->tokens + rl->rps - 1) / rl->rps;
                int64_t s = (wait_ms + 999) / 1000;
                *retry_after_s = s < 1 ? 1 : s;
        }
        pthread_mutex_unlock(&rl->lock);
        return ok;
}

size_t ratelimit_tracked(RateLimit *rl) {
        pthread_mutex_lock(&rl->lock);
        size_t n = rl->tracked;
        pthread_mutex_unlock(&rl->lock);
        return n;
}

static int64_t ratelimit_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool ratelimit_admit(RateLimit *rl, HttpExchange *x, const char *subject, const char *client) {
        static const char *const exempt[] = {"/healthz", "/readyz", "/metrics"};
        char key[RATELIMIT_KEY_MAX], retry[48];
        int64_t retry_after_s = 1;

        if (!rl)
                return true;
        for (size_t i = 0; i < sizeof(exempt) / sizeof(exempt[0]); i++)
                if (x->info->local_uri && strcmp(x->info->local_uri, exempt[i]) == 0)
                        return true;
        if (subject)
                snprintf(key, sizeof(key), "sub:%s", subject);
        else
                snprintf(key, sizeof(key), "ip:%s", client);
        if (ratelimit_take(rl, key, ratelimit_now_ms(), &retry_after_s))
                return true;
        metric_add(m_limited, 1);
        log_debug("rate limit: %s %s from %s refused", x->info->request_method, x->info->local_uri, key);
        snprintf(retry, sizeof(retry), "Retry-After: %lld\r\n", (long long)retry_after_s);
        http_problem(x, 429, NULL, retry, "too many requests from this client; retry after %lld s",
                     (long long)retry_after_s);
        return false;
}
