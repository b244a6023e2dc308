/* Circuit breaker in front of the payment provider: pure state machine (no
 * I/O, the clock is passed in), unit tested. Closed: calls go through and
 * their outcomes fill a window; too many failures or slow answers open it.
 * Open: calls are refused at once (the order answers 503 "pay later",
 * nothing charged) until a cool-down passes. Half-open: one probe call decides
 * whether it closes again or opens for another cool-down. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

typedef enum { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN } BreakerState;

#define BREAKER_WINDOW_MAX 256

typedef struct {
        int window;              /* outcomes remembered (<= BREAKER_WINDOW_MAX) */
        int min_calls;           /* no decision on fewer outcomes than this */
        int max_failure_pct;     /* opens when failures (errors or slow) exceed this share of the window */
        int64_t slow_ms;         /* an answer slower than this counts as a failure */
        int64_t cooldown_ms;     /* open this long before a probe */
} BreakerConfig;

typedef struct {
        BreakerConfig cfg;
        BreakerState state;
        bool outcomes[BREAKER_WINDOW_MAX]; /* true = failure */
        int next, count, failures;
        int64_t opened_at_ms;
        bool probe_out;
} Breaker;

void breaker_init(Breaker *b, const BreakerConfig *cfg);
/* Whether a call may go to the provider now. In half-open, only the first
 * caller gets true (the probe) until its outcome is recorded. */
bool breaker_allow(Breaker *b, int64_t now_ms);
/* Records the outcome of an allowed call: `failed` (no answer, 5xx, ...) or
 * its latency. Returns the new state. */
BreakerState breaker_record(Breaker *b, bool failed, int64_t latency_ms, int64_t now_ms);
/* Milliseconds until a probe may go (0 unless open). */
int64_t breaker_retry_after_ms(const Breaker *b, int64_t now_ms);
const char *breaker_state_name(BreakerState s);
