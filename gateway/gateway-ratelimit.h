/* Per-client rate limit of the gateway: a token bucket per client key (the
 * authenticated subject, else the client IP) in a fixed-size table. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway-http.h"

#define RATELIMIT_KEY_MAX 80     /* longer keys are cut: "sub:<64>" and "ip:<46>" fit */
#define RATELIMIT_SLOTS 8192     /* clients tracked at once (the gateway's table) */
#define RATELIMIT_PROBE 8        /* slots looked at per key; the stalest is evicted when all are taken */

typedef struct RateLimit RateLimit;

/* A limiter granting `rps` requests per second per key with bursts of up to
 * `burst` (rps >= 1, burst >= 1), tracking at most `slots` keys (>= RATELIMIT_PROBE;
 * rounded up to a power of two). Memory is allocated once here and never grows:
 * when a key's slots are all taken, the one used longest ago is given to it (that
 * client starts again with a full bucket, never a fuller one than it had earned
 * elsewhere). 0 with *ret, -EINVAL or -ENOMEM. Thread-safe. */
int ratelimit_new(RateLimit **ret, int64_t rps, int64_t burst, size_t slots);
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

/* Registers gateway_rate_limited_total; call once before the server starts. */
void ratelimit_metrics_init(void);
