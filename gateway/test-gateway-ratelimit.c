/* Unit test of the token buckets: bursts, refill per second and per minute, Retry-After, independent keys, a
 * bounded table, keys told apart whole. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gateway-ratelimit.h"
#include "test-check.h"

/* How many of `n` requests at `now_ms` the bucket of `key` grants. */
static int granted(RateLimit *rl, const char *key, int n, int64_t now_ms) {
        int ok = 0;
        for (int i = 0; i < n; i++)
                ok += ratelimit_take(rl, key, now_ms, NULL);
        return ok;
}

int main(void) {
        RateLimit *rl = NULL;
        int64_t retry = 0;
        int r, n;

        CHECK(ratelimit_new(&rl, 0, 1000, 10, 64) == -EINVAL, "rps 0: expected -EINVAL");
        CHECK(ratelimit_new(&rl, 10, 1000, 0, 64) == -EINVAL, "burst 0: expected -EINVAL");
        CHECK(ratelimit_new(&rl, 10, 1000, 10, 2) == -EINVAL, "fewer slots than a probe window: expected -EINVAL");
        CHECK(ratelimit_new(&rl, 10, 0, 10, 64) == -EINVAL, "period 0: expected -EINVAL");
        CHECK(ratelimit_new(&rl, 10, INT64_MAX / 2, 10, 64) == -EINVAL, "burst * period overflowing: expected -EINVAL");

        /* 10/s with bursts of 5. */
        r = ratelimit_new(&rl, 10, 1000, 5, 64);
        CHECK(r == 0 && rl, "ratelimit_new(10, 5, 64): expected 0, got %d", r);
        if (!rl)
                return 1;
        n = granted(rl, "sub:alice", 8, 1000);
        CHECK(n == 5, "burst at one instant: expected 5 granted, got %d", n);
        CHECK(!ratelimit_take(rl, "sub:alice", 1000, &retry), "empty bucket: expected a refusal");
        CHECK(retry == 1, "empty bucket at 10/s: expected Retry-After 1 s, got %lld", (long long)retry);
        n = granted(rl, "sub:bob", 5, 1000);
        CHECK(n == 5, "another key has its own bucket: expected 5 granted, got %d", n);
        /* 100 ms at 10/s gives exactly one token back; 50 ms does not. */
        n = granted(rl, "sub:alice", 3, 1050);
        CHECK(n == 0, "after 50 ms: expected 0 granted, got %d", n);
        n = granted(rl, "sub:alice", 3, 1100);
        CHECK(n == 1, "after 100 ms: expected 1 granted, got %d", n);
        /* A long pause refills to the burst, never beyond. */
        n = granted(rl, "sub:alice", 20, 1000000);
        CHECK(n == 5, "after a long pause: expected the burst (5) granted, got %d", n);
        /* A steady 10/s is served without refusals. */
        n = 0;
        for (int i = 1; i <= 100; i++)
                n += ratelimit_take(rl, "sub:steady", 2000 + (int64_t)i * 100, NULL);
        CHECK(n == 100, "steady 10/s: expected 100 of 100 granted, got %d", n);
        ratelimit_free(rl);

        /* Retry-After rounds up to whole seconds: 1 per second, bucket of 1. */
        r = ratelimit_new(&rl, 1, 1000, 1, 16);
        CHECK(r == 0, "ratelimit_new(1, 1, 16): expected 0, got %d", r);
        if (r == 0) {
                CHECK(ratelimit_take(rl, "ip:10.0.0.1", 0, &retry), "first request: expected granted");
                CHECK(!ratelimit_take(rl, "ip:10.0.0.1", 300, &retry) && retry == 1,
                      "second after 300 ms at 1/s: expected refused with Retry-After 1, got %lld", (long long)retry);
                CHECK(ratelimit_take(rl, "ip:10.0.0.1", 1000, &retry), "after 1 s: expected granted");
                ratelimit_free(rl);
        }

        /* Per minute (the order limit's unit): 6 per 60 s, bursts of 3. One token comes back every 10 s,
         * and Retry-After says so: not 1 s as a per-second rate would. */
        r = ratelimit_new(&rl, 6, 60000, 3, 16);
        CHECK(r == 0, "ratelimit_new(6, 60000, 3, 16): expected 0, got %d", r);
        if (r == 0) {
                n = granted(rl, "cust:a", 5, 0);
                CHECK(n == 3, "6/min burst 3: expected 3 granted at once, got %d", n);
                CHECK(!ratelimit_take(rl, "cust:a", 0, &retry) && retry == 10,
                      "empty at 6/min: expected refused with Retry-After 10, got %lld", (long long)retry);
                CHECK(!ratelimit_take(rl, "cust:a", 4000, &retry) && retry == 6,
                      "4 s later: expected refused with Retry-After 6, got %lld", (long long)retry);
                n = granted(rl, "cust:a", 3, 10000);
                CHECK(n == 1, "after 10 s at 6/min: expected 1 granted, got %d", n);
                n = granted(rl, "store:b", 3, 10000);
                CHECK(n == 3, "another key at 6/min: expected its own burst of 3, got %d", n);
                /* A steady 6/min for 10 minutes is never refused. */
                n = 0;
                for (int i = 1; i <= 60; i++)
                        n += ratelimit_take(rl, "cust:steady", (int64_t)i * 10000, NULL);
                CHECK(n == 60, "steady 6/min: expected 60 of 60 granted, got %d", n);
                ratelimit_free(rl);
        }

        /* Bounded: 10000 clients in a 16-slot table never track more than 16 (the stalest are evicted). */
        r = ratelimit_new(&rl, 1, 1000, 2, 16);
        CHECK(r == 0, "ratelimit_new(1, 2, 16): expected 0, got %d", r);
        if (r == 0) {
                char key[32];
                n = granted(rl, "sub:first", 2, 0);
                CHECK(n == 2, "first client: expected 2 granted, got %d", n);
                for (int i = 0; i < 10000; i++) {
                        snprintf(key, sizeof(key), "sub:c%d", i);
                        (void)ratelimit_take(rl, key, 1 + i, NULL);
                }
                CHECK(ratelimit_tracked(rl) <= 16, "tracked keys: expected at most 16, got %zu", ratelimit_tracked(rl));
                CHECK(ratelimit_tracked(rl) >= 8, "tracked keys: expected the table in use (>= 8), got %zu",
                      ratelimit_tracked(rl));
                /* Every recent key still has its own (now spent-by-one) bucket. */
                snprintf(key, sizeof(key), "sub:c%d", 9999);
                n = granted(rl, key, 5, 10000);
                CHECK(n == 1, "the most recent client kept its bucket: expected 1 more granted, got %d", n);
                ratelimit_free(rl);
        }
        /* Keys are told apart whole (by a hash of every byte): 200 clients each keep a burst of their own, and two
         * long keys differing only in their last byte are two buckets. */
        r = ratelimit_new(&rl, 1, 1000, 3, 8192);
        CHECK(r == 0, "ratelimit_new(1, 3, 8192): expected 0, got %d", r);
        if (r == 0) {
                char key[128];
                int all = 0;
                for (int i = 0; i < 200; i++) {
                        snprintf(key, sizeof(key), "sub:customer-%d", i);
                        all += granted(rl, key, 4, 0);
                }
                CHECK(all == 600, "200 clients with a burst of 3: expected 600 granted, got %d", all);
                CHECK(ratelimit_tracked(rl) == 200, "tracked keys: expected 200, got %zu", ratelimit_tracked(rl));
                ratelimit_free(rl);
        }
        r = ratelimit_new(&rl, 1, 1000, 3, RATELIMIT_PROBE); /* one probe window: every key sees every slot */
        CHECK(r == 0, "ratelimit_new(1, 3, %d): expected 0, got %d", RATELIMIT_PROBE, r);
        if (r == 0) {
                char key[128];
                memset(key, 'x', 100);
                key[100] = '\0';
                n = granted(rl, key, 3, 0);
                key[99] = 'y';
                n += granted(rl, key, 3, 0);
                CHECK(n == 6, "two 100-byte keys differing in the last byte: expected 3 + 3 granted, got %d", n);
                ratelimit_free(rl);
        }
        ratelimit_free(NULL);

        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
