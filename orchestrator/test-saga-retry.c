/* Unit test of the per-step retry policies: growth, cap, budgets, fallback. */
#include <stdio.h>
#include <string.h>

#include "saga-retry.h"
#include "test-check.h"

int main(void) {
        retry_configure(1000, 20);
        const RetryPolicy *refund = retry_policy("refund");
        CHECK(strcmp(refund->step, "refund") == 0, "refund policy: got %s", refund->step);
        CHECK(refund->max_attempts == 20, "refund budget: expected 20, got %d", refund->max_attempts);
        int64_t expect[] = {1000, 2000, 4000, 8000};
        for (int a = 1; a <= 4; a++)
                CHECK(retry_delay_ms(refund, a) == expect[a - 1], "refund wait after try %d: expected %lld, got %lld",
                      a, (long long)expect[a - 1], (long long)retry_delay_ms(refund, a));
        CHECK(retry_delay_ms(refund, 60) == 600000, "refund wait is capped at 10 min, got %lld",
              (long long)retry_delay_ms(refund, 60));

        const RetryPolicy *auth = retry_policy("authorize");
        CHECK(auth->max_attempts == 5, "authorize budget: expected 5, got %d", auth->max_attempts);
        CHECK(retry_delay_ms(auth, 30) == 30000, "authorize wait cap: expected 30000, got %lld",
              (long long)retry_delay_ms(auth, 30));

        const RetryPolicy *unknown = retry_policy("no_such_step");
        CHECK(strcmp(unknown->step, "") == 0 && unknown->max_attempts == 20,
              "unknown step: expected the fallback with the configured budget, got %s/%d", unknown->step,
              unknown->max_attempts);

        /* A small configured budget bounds every step, payments included. */
        retry_configure(700, 3);
        CHECK(retry_policy("authorize")->max_attempts == 3, "authorize budget under 3: got %d",
              retry_policy("authorize")->max_attempts);
        CHECK(retry_policy("refund")->max_attempts == 3, "refund budget under 3: got %d",
              retry_policy("refund")->max_attempts);
        CHECK(retry_delay_ms(retry_policy("refund"), 1) == 700, "first wait: expected 700, got %lld",
              (long long)retry_delay_ms(retry_policy("refund"), 1));
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
