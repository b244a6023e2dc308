/* The gateway's rate limits: a token bucket per key in a fixed-size table, one
 * limiter per concern keyed differently (every request per client: the
 * authenticated subject, else the client IP; POST /orders per customer;
 * POST /stores/{id}/coupons per store). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway-http.h"

#define RATELIMIT_KEY_MAX 80     /* longer keys are cut: "sub:<64>" and "ip:<46>" fit */
#define RATELIMIT_SLOTS 8192     /* clients (customers) tracked at once (the gateway's tables) */
#define RATELIMIT_STORE_SLOTS 1024 /* stores tracked at once by the coupon limit */
#define RATELIMIT_PROBE 8        /* slots looked at per key; the stalest is evicted when all are taken */

typedef struct RateLimit RateLimit;

/* A limiter granting `count` requests per `period_ms` milliseconds per key
 * (a steady refill, e.g. 10 per 1000 ms or 30 per 60000 ms) with bursts of up
 * to `burst` (each >= 1), tracking at most `slots` keys (>= RATELIMIT_PROBE;
 * rounded up to a power of two). Memory is allocated once here and never grows:
 * when a key's slots are all taken, the one used longest ago is given to it (that
 * client starts again with a full bucket, never a fuller one than it had earned
 * elsewhere). 0 with *ret, -EINVAL or -ENOMEM. Thread-safe. */
int ratelimit_new(RateLimit **ret, int64_t count, int64_t period_ms, int64_t burst, size_t slots);
/* Accepts NULL. */
void ratelimit_free(RateLimit *rl);

/* Takes one token for `key` (NUL-terminated, borrowed) at monotonic time
 * `now_ms`. True when the request may go on; false when the bucket is empty,
 * with *retry_after_s (may be NULL) set to the whole seconds (>= 1) until a
 * token is back. */
bool ratelimit_take(RateLimit *rl, const char *key, int64_t now_ms, int64_t *retry_after_s);

/* Keys currently tracked (for tests and metrics). */
size_t ratelimit_tracked(RateLimit *rl);

/* The gateway's check of one request, before routing: /healthz, /readyz and
 * /metrics pass; otherwise the key is "sub:<subject>" of the request's bearer
 * token when it verified (`subject`, NULL when there is none or it did not),
 * else "ip:<client>" (the client's address, gateway-client.h: forged or garbage
 * tokens count against it), and an empty bucket is answered 429 problem+json
 * with Retry-After (counted in gateway_rate_limited_total). True when the
 * request may be routed, false when it was answered (x->status set). Every
 * request passes when `rl` is NULL. */
bool ratelimit_admit(RateLimit *rl, HttpExchange *x, const char *subject, const char *client);

/* What a limiter limits: its key, the detail of its 429 and its metric. */
typedef enum {
        RATELIMIT_CLIENT,  /* every request; id "sub:<subject>" or "ip:<client>"; gateway_rate_limited_total */
        RATELIMIT_ORDERS,  /* POST /orders; id the customer; gateway_order_rate_limited_total */
        RATELIMIT_COUPONS, /* POST /stores/{id}/coupons; id the store; gateway_coupon_rate_limited_total */
        RATELIMIT_KINDS,
} RateLimitKind;

/* One request of `id` (borrowed) against `rl`, a limiter of `kind`, now: true
 * when it may go on; false after answering 429 problem+json with Retry-After
 * (counted in the kind's metric). Every request passes when `rl` is NULL (the
 * limit is off). */
bool ratelimit_check(RateLimit *rl, HttpExchange *x, RateLimitKind kind, const char *id);

/* Registers the metrics of every kind; call once before the server starts. */
void ratelimit_metrics_init(void);
