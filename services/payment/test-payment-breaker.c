/* Unit test of the payment circuit breaker: opening on errors and on slow
 * answers, refusing while open, one probe after the cool-down, closing again. */
#include <stdio.h>

#include "payment-breaker.h"
#include "test-check.h"

static const BreakerConfig cfg = {.window = 10, .min_calls = 5, .max_failure_pct = 50, .slow_ms = 1000,
                                  .cooldown_ms = 5000};

static void test_stays_closed_when_healthy(void) {
        Breaker b;
        breaker_init(&b, &cfg);
        for (int i = 0; i < 100; i++) {
                CHECK(breaker_allow(&b, i), "healthy call %d refused", i);
                breaker_record(&b, i % 3 == 0, 20, i); /* a third fails: below 50 % */
        }
        CHECK(b.state == BREAKER_CLOSED, "expected closed, got %s", breaker_state_name(b.state));
}

static void test_opens_on_errors_then_probes(void) {
        Breaker b;
        breaker_init(&b, &cfg);
        for (int i = 0; i < 4; i++)
                breaker_record(&b, true, 10, 100);
        CHECK(b.state == BREAKER_CLOSED, "opened before min_calls: %s", breaker_state_name(b.state));
        breaker_record(&b, true, 10, 100);
        CHECK(b.state == BREAKER_OPEN, "5 failures of 5: expected open, got %s", breaker_state_name(b.state));
        CHECK(!breaker_allow(&b, 4000), "open breaker let a call through before the cool-down");
        CHECK(breaker_retry_after_ms(&b, 4000) == 1100, "retry after: expected 1100, got %lld",
              (long long)breaker_retry_after_ms(&b, 4000));
        CHECK(breaker_allow(&b, 5100), "no probe after the cool-down");
        CHECK(b.state == BREAKER_HALF_OPEN, "expected half-open, got %s", breaker_state_name(b.state));
        CHECK(!breaker_allow(&b, 5101), "a second call went through while the probe is out");
        breaker_record(&b, true, 10, 5200); /* the probe fails */
        CHECK(b.state == BREAKER_OPEN, "failed probe: expected open, got %s", breaker_state_name(b.state));
        CHECK(!breaker_allow(&b, 9000), "re-opened breaker let a call through");
        CHECK(breaker_allow(&b, 10300), "no second probe");
        breaker_record(&b, false, 30, 10300);
        CHECK(b.state == BREAKER_CLOSED, "good probe: expected closed, got %s", breaker_state_name(b.state));
        CHECK(breaker_allow(&b, 10301) && breaker_allow(&b, 10302), "closed breaker refused calls");
}

static void test_opens_on_slow_answers(void) {
        Breaker b;
        breaker_init(&b, &cfg);
        for (int i = 0; i < 6; i++)
                breaker_record(&b, false, 2500, i); /* answered, but too slowly */
        CHECK(b.state == BREAKER_OPEN, "slow provider: expected open, got %s", breaker_state_name(b.state));
}

static void test_window_forgets_old_failures(void) {
        Breaker b;
        breaker_init(&b, &cfg);
        for (int i = 0; i < 5; i++)
                breaker_record(&b, i < 2, 10, i); /* 2 of 5 fail */
        for (int i = 0; i < 10; i++)
                breaker_record(&b, false, 10, 10 + i); /* the failures slide out */
        CHECK(b.failures == 0, "failures in window: expected 0, got %d", b.failures);
        for (int i = 0; i < 5; i++)
                breaker_record(&b, true, 10, 30 + i);
        CHECK(b.state == BREAKER_CLOSED, "5 failures of 10 is not above 50 %%: got %s", breaker_state_name(b.state));
        breaker_record(&b, true, 10, 40);
        CHECK(b.state == BREAKER_OPEN, "6 failures of 10: expected open, got %s", breaker_state_name(b.state));
}

int main(void) {
        test_stays_closed_when_healthy();
        test_opens_on_errors_then_probes();
        test_opens_on_slow_answers();
        test_window_forgets_old_failures();
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
