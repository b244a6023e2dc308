/* Token buckets per key in a fixed table, and the gateway's 429 answer. */
#include "gateway-ratelimit.h"

#include <civetweb.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "gateway-auth.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"

/* Tokens are counted in units of 1/period_ms of a request, so that refilling
 * `count` requests per `period_ms` is exactly `count` units per millisecond. */

/* A bucket names its key by a keyed 64-bit hash, not a copy: 24 bytes instead of 104, so the gateway's three
 * tables (8192 clients, 8192 customers, 1024 stores) hold 408 KiB once every slot was used, not 1.8 MiB. Two keys
 * share a bucket only if their SipHash under this limiter's random key collides: about 2^-64 for a pair, and
 * nobody outside can aim for it. */
typedef struct {
        uint64_t id;    /* the key's hash, never 0; 0: the slot is free */
        int64_t tokens; /* units: one request costs `unit` */
        int64_t last_ms;
} Bucket;

struct RateLimit {
        pthread_mutex_t lock;
        int64_t count, unit, capacity; /* refill per ms, cost of a request (period_ms), burst * unit */
        size_t mask;
        size_t tracked;
        uint64_t k0, k1; /* the SipHash key, random per limiter */
        Bucket *slots;
};

static const struct {
        const char *prefix; /* of the key: one table never mixes kinds, but logs name them */
        const char *what;   /* "too many <what>" */
        const char *metric, *help;
} ratelimit_kinds[RATELIMIT_KINDS] = {
        [RATELIMIT_CLIENT] = {"", "requests from this client", "gateway_rate_limited_total",
                              "Requests refused with 429 by the per-client rate limit"},
        [RATELIMIT_ORDERS] = {"cust:", "orders from this customer", "gateway_order_rate_limited_total",
                              "Orders refused with 429 by the per-customer order rate limit"},
        [RATELIMIT_COUPONS] = {"store:", "coupons from this store", "gateway_coupon_rate_limited_total",
                               "Coupons refused with 429 by the per-store coupon rate limit"},
};
static Metric *m_limited[RATELIMIT_KINDS];

void ratelimit_metrics_init(void) {
        for (int k = 0; k < RATELIMIT_KINDS; k++)
                m_limited[k] = metrics_counter(ratelimit_kinds[k].metric, ratelimit_kinds[k].help);
}

int ratelimit_new(RateLimit **ret, int64_t count, int64_t period_ms, int64_t burst, size_t slots) {
        RateLimit *rl;
        size_t n = RATELIMIT_PROBE;

        /* Bounds keep every sum below INT64_MAX: tokens <= capacity + count. */
        if (count < 1 || period_ms < 1 || burst < 1 || period_ms > INT64_MAX / 4 || burst > INT64_MAX / 4 / period_ms ||
            count > INT64_MAX / 4 || slots < RATELIMIT_PROBE || slots > ((size_t)1 << 24))
                return -EINVAL;
        while (n < slots)
                n <<= 1;
        rl = calloc(1, sizeof(*rl));
        if (!rl)
                return -ENOMEM;
        rl->slots = calloc(n, sizeof(Bucket));
        uint64_t k[2];
        if (!rl->slots || getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k)) {
                int e = rl->slots ? -EIO : -ENOMEM;
                free(rl->slots);
                free(rl);
                return e;
        }
        rl->k0 = k[0];
        rl->k1 = k[1];
        pthread_mutex_init(&rl->lock, NULL);
        rl->count = count;
        rl->unit = period_ms;
        rl->capacity = burst * period_ms;
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

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                                       \
        do {                                                                                                           \
                v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32);                                               \
                v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                                                                 \
                v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                                                                 \
                v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32);                                               \
        } while (0)

/* SipHash-2-4 of `key` (its NUL-terminated bytes) under the limiter's key: the reference algorithm. */
static uint64_t ratelimit_hash(const RateLimit *rl, const char *key) {
        uint64_t v0 = rl->k0 ^ 0x736f6d6570736575ULL, v1 = rl->k1 ^ 0x646f72616e646f6dULL;
        uint64_t v2 = rl->k0 ^ 0x6c7967656e657261ULL, v3 = rl->k1 ^ 0x7465646279746573ULL;
        size_t len = strlen(key), i = 0;
        uint64_t m;

        for (; i + 8 <= len; i += 8) {
                m = 0;
                for (int b = 7; b >= 0; b--)
                        m = m << 8 | (uint8_t)key[i + (size_t)b];
                v3 ^= m;
                SIPROUND;
                SIPROUND;
                v0 ^= m;
        }
        m = (uint64_t)len << 56;
        for (size_t b = 0; i + b < len; b++)
                m |= (uint64_t)(uint8_t)key[i + b] << (8 * b);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
        v2 ^= 0xff;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        return v0 ^ v1 ^ v2 ^ v3;
}

/* The bucket of `key`: its own, else a free slot of its probe window, else
 * the stalest one there, taken over with a full bucket. Called locked. */
static Bucket *ratelimit_slot(RateLimit *rl, const char *key, int64_t now_ms) {
        uint64_t h = ratelimit_hash(rl, key), id = h ? h : 1;
        Bucket *victim = NULL;

        for (size_t i = 0; i < RATELIMIT_PROBE; i++) {
                Bucket *b = &rl->slots[(h + i) & rl->mask];
                if (b->id == id)
                        return b;
                if (!b->id) {
                        if (!victim || victim->id)
                                victim = b;
                } else if (!victim || (victim->id && b->last_ms < victim->last_ms))
                        victim = b;
        }
        if (!victim->id)
                rl->tracked++;
        victim->id = id;
        victim->tokens = rl->capacity;
        victim->last_ms = now_ms;
        return victim;
}

bool ratelimit_take(RateLimit *rl, const char *key, int64_t now_ms, int64_t *retry_after_s) {
        bool ok;
        pthread_mutex_lock(&rl->lock);
        Bucket *b = ratelimit_slot(rl, key, now_ms);
        int64_t elapsed = now_ms - b->last_ms;
        if (elapsed > 0) {
                /* Bounded first: a long-idle bucket is simply full. */
                int64_t full_after = rl->capacity / rl->count + 1;
                if (elapsed > full_after)
                        elapsed = full_after;
                b->tokens += elapsed * rl->count;
                if (b->tokens > rl->capacity)
                        b->tokens = rl->capacity;
                b->last_ms = now_ms;
        }
        ok = b->tokens >= rl->unit;
        if (ok)
                b->tokens -= rl->unit;
        else if (retry_after_s) {
                int64_t wait_ms = (rl->unit - b->tokens + rl->count - 1) / rl->count;
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

bool ratelimit_check(RateLimit *rl, HttpExchange *x, RateLimitKind kind, const char *id) {
        char key[RATELIMIT_KEY_MAX], retry[48];
        int64_t retry_after_s = 1;

        if (!rl)
                return true;
        snprintf(key, sizeof(key), "%s%s", ratelimit_kinds[kind].prefix, id);
        if (ratelimit_take(rl, key, ids_monotonic_ms(), &retry_after_s))
                return true;
        if (m_limited[kind]) /* unregistered in unit tests */
                metric_add(m_limited[kind], 1);
        log_debug("rate limit: %s %s of %s refused", x->info->request_method, x->info->local_uri, key);
        snprintf(retry, sizeof(retry), "Retry-After: %lld\r\n", (long long)retry_after_s);
        http_problem(x, 429, NULL, retry, "too many %s; retry after %lld s", ratelimit_kinds[kind].what,
                     (long long)retry_after_s);
        return false;
}

bool ratelimit_admit(RateLimit *rl, HttpExchange *x, const char *subject, const char *client) {
        static const char *const exempt[] = {"/healthz", "/readyz", "/metrics"};
        char key[RATELIMIT_KEY_MAX];

        if (!rl)
                return true;
        for (size_t i = 0; i < sizeof(exempt) / sizeof(exempt[0]); i++)
                if (x->info->local_uri && strcmp(x->info->local_uri, exempt[i]) == 0)
                        return true;
        if (subject)
                snprintf(key, sizeof(key), "sub:%s", subject);
        else
                snprintf(key, sizeof(key), "ip:%s", client);
        return ratelimit_check(rl, x, RATELIMIT_CLIENT, key);
}
