/* Per-step retry policies of the saga. */
#include "saga-retry.h"

#include <string.h>

/* Base numbers, scaled by retry_configure: waits in units of the configured
 * first wait, attempts as a share of the configured budget (0: keep as is). */
typedef struct {
        const char *step;
        int initial_units;
        int multiplier;
        int64_t cap_ms;
        int max_attempts; /* 0: the configured budget */
} PolicyRow;

static const PolicyRow rows[] = {
        /* Payments have their own deadline (PAYMENT_TIMEOUT_S): a few quick tries. */
        {"authorize", 1, 2, 30000, 5},
        {"modify_charge", 1, 2, 30000, 5},
        /* Compensations must finish: long patience, capped waits. */
        {"refund", 1, 2, 600000, 0},
        {"withdraw_ticket", 1, 2, 600000, 0},
        {"cancel_delivery", 1, 2, 600000, 0},
        {"return_coupon", 1, 2, 600000, 0},
        /* Forward steps of workers that may be down for a while. */
        {"create_ticket", 1, 2, 300000, 0},
        {"update_ticket", 1, 2, 300000, 0},
        {"open_delivery", 1, 2, 300000, 0},
        {"assign_rider", 1, 2, 300000, 0},
        {"complete_delivery", 1, 2, 300000, 0},
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static RetryPolicy policies[N_ROWS + 1];
static int64_t base_initial_ms = 10000;
static int base_attempts = 20;

static void build(RetryPolicy *p, const PolicyRow *row) {
        p->step = row->step;
        p->initial_ms = base_initial_ms * row->initial_units;
        p->multiplier = row->multiplier;
        p->cap_ms = row->cap_ms < p->initial_ms ? p->initial_ms : row->cap_ms;
        p->max_attempts = row->max_attempts ? row->max_attempts : base_attempts;
        if (p->max_attempts > base_attempts)
                p->max_attempts = base_attempts;
}

void retry_configure(int64_t initial_ms, int max_attempts) {
        static const PolicyRow fallback = {"", 1, 2, 300000, 0};
        base_initial_ms = initial_ms > 0 ? initial_ms : 1;
        base_attempts = max_attempts > 0 ? max_attempts : 1;
        for (size_t i = 0; i < N_ROWS; i++)
                build(&policies[i], &rows[i]);
        build(&policies[N_ROWS], &fallback);
}

const RetryPolicy *retry_policy(const char *step) {
        if (!policies[N_ROWS].max_attempts)
                retry_configure(base_initial_ms, base_attempts);
        for (size_t i = 0; i < N_ROWS; i++)
                if (strcmp(policies[i].step, step) == 0)
                        return &policies[i];
        return &policies[N_ROWS];
}

int64_t retry_delay_ms(const RetryPolicy *p, int attempt) {
        int64_t d = p->initial_ms;
        for (int i = 1; i < attempt && d < p->cap_ms; i++)
                d *= p->multiplier;
        return d < p->cap_ms ? d : p->cap_ms;
}
