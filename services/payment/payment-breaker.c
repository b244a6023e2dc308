/* The payment provider's circuit breaker state machine. */
#include "payment-breaker.h"

#include <string.h>

void breaker_init(Breaker *b, const BreakerConfig *cfg) {
        memset(b, 0, sizeof(*b));
        b->cfg = *cfg;
        if (b->cfg.window < 1 || b->cfg.window > BREAKER_WINDOW_MAX)
                b->cfg.window = BREAKER_WINDOW_MAX;
        if (b->cfg.min_calls < 1)
                b->cfg.min_calls = 1;
        b->state = BREAKER_CLOSED;
}

static void window_reset(Breaker *b) {
        memset(b->outcomes, 0, sizeof(b->outcomes));
        b->next = b->count = b->failures = 0;
}

bool breaker_allow(Breaker *b, int64_t now_ms) {
        switch (b->state) {
        case BREAKER_CLOSED:
                return true;
        case BREAKER_OPEN:
                if (now_ms - b->opened_at_ms < b->cfg.cooldown_ms)
                        return false;
                b->state = BREAKER_HALF_OPEN;
                b->probe_out = true;
                return true;
        case BREAKER_HALF_OPEN:
        default:
                if (b->probe_out)
                        return false;
                b->probe_out = true;
                return true;
        }
}

static void open_now(Breaker *b, int64_t now_ms) {
        b->state = BREAKER_OPEN;
        b->opened_at_ms = now_ms;
        b->probe_out = false;
        window_reset(b);
}

BreakerState breaker_record(Breaker *b, bool failed, int64_t latency_ms, int64_t now_ms) {
        bool bad = failed || latency_ms > b->cfg.slow_ms;

        if (b->state == BREAKER_HALF_OPEN) {
                /* The probe decides. */
                if (bad)
                        open_now(b, now_ms);
                else {
                        b->state = BREAKER_CLOSED;
                        b->probe_out = false;
                        window_reset(b);
                }
                return b->state;
        }
        if (b->state == BREAKER_OPEN)
                return b->state; /* a call allowed before it opened: no news */
        if (b->count == b->cfg.window)
                b->failures -= b->outcomes[b->next];
        else
                b->count++;
        b->outcomes[b->next] = bad;
        b->failures += bad;
        b->next = (b->next + 1) % b->cfg.window;
        if (b->count >= b->cfg.min_calls && b->failures * 100 > b->cfg.max_failure_pct * b->count)
                open_now(b, now_ms);
        return b->state;
}

int64_t breaker_retry_after_ms(const Breaker *b, int64_t now_ms) {
        if (b->state != BREAKER_OPEN)
                return 0;
        int64_t left = b->cfg.cooldown_ms - (now_ms - b->opened_at_ms);
        return left > 0 ? left : 0;
}

const char *breaker_state_name(BreakerState s) {
        return s == BREAKER_OPEN ? "open" : s == BREAKER_HALF_OPEN ? "half-open" : "closed";
}
