/* Retry policy of each saga step: how long to wait for a worker's answer
 * before re-sending a command, how that wait grows, and when to give up
 * (a business refusal such as a declined card or a store refusal is an
 * answer, never retried). Pure code, unit tested. */
#pragma once
#include <stdint.h>

typedef struct {
        const char *step;
        int64_t initial_ms; /* wait before the first re-send */
        int multiplier;     /* each further wait is this many times longer */
        int64_t cap_ms;     /* ...but never longer than this */
        int max_attempts;   /* tries in all before the step is given up (operators may redrive) */
} RetryPolicy;

/* Scales every policy: `initial_ms` replaces the base first wait (1 s in the
 * table) and `max_attempts` the base budget of compensations and workers'
 * steps. Call once at start, before any lookup. */
void retry_configure(int64_t initial_ms, int max_attempts);

/* The policy of `step` (a default one for steps not listed). Never NULL. */
const RetryPolicy *retry_policy(const char *step);

/* Wait before re-sending after try `attempt` (1-based) of a policy. */
int64_t retry_delay_ms(const RetryPolicy *p, int attempt);
