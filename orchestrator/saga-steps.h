/* The one table of saga steps: every command a saga sends, with the worker it
 * goes to, whether it compensates, how it is built, and its retry policy
 * (how long to wait for an answer before re-sending, how that wait grows, and
 * when to give up; a business refusal such as a declined card is an answer,
 * never retried). The engine emits commands through it, the writer re-sends
 * by it, the admin view names steps from it. Adding a step is adding a row. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "food.pb-c.h"

typedef struct SagaStep SagaStep;

/* A command's storage: the Command wrapper, its correlation and the message
 * (which borrows strings from the order it was built from). */
typedef struct {
        Food__V1__Command command;
        Food__V1__Correlation corr;
        union {
                Food__V1__AuthorizePayment authorize_payment;
                Food__V1__RefundPayment refund_payment;
                Food__V1__CreateTicket create_ticket;
                Food__V1__UpdateTicket update_ticket;
                Food__V1__WithdrawTicket withdraw_ticket;
                Food__V1__OpenDelivery open_delivery;
                Food__V1__AssignRider assign_rider;
                Food__V1__CompleteDelivery complete_delivery;
                Food__V1__RedeemCoupon redeem_coupon;
                Food__V1__ReturnCoupon return_coupon;
                Food__V1__IssueCoupon issue_coupon;
        } m;
        char delivery_id[80];
        char coupon_id[80];
} StepCommand;

/* Builds a step's command from the order snapshot `o` (which the command then
 * borrows from) and `coupon_discount` (issue_coupon). 0 or -EINVAL. */
typedef int (*StepBuild)(const Food__V1__Order *o, int64_t coupon_discount, StepCommand *out);

struct SagaStep {
        const char *name;
        unsigned action;     /* the SAGA_ACT_* bit that emits it (0: emitted by the engine itself) */
        const char *worker;  /* where its command goes */
        bool compensation;   /* it undoes earlier work */
        StepBuild build;     /* NULL: built by the engine with its own arguments, and kept while
                              * unanswered; else built again from the order for each re-send */
        int initial_units;   /* first wait, in units of the configured first wait */
        int multiplier;      /* each further wait is this many times longer */
        int64_t cap_ms;      /* ...but never longer than this */
        int max_attempts;    /* tries before it is given up (0: the configured budget) */
        bool awaited;        /* a request waits on its answer: its command never waits COMMAND_LINGER_MS */
};

/* Scales every policy: `initial_ms` is the unit of first waits and
 * `max_attempts` the configured budget (which also bounds every step). Once,
 * at start, before any lookup. */
void saga_steps_configure(int64_t initial_ms, int max_attempts);

/* The step called `name`, or NULL. */
const SagaStep *saga_step(const char *name);
/* The i-th step (0-based), NULL past the last; and a step's index. */
const SagaStep *saga_step_at(size_t i);
size_t saga_step_index(const SagaStep *s);

/* Wait before re-sending after try `attempt` (1-based); tries allowed. */
int64_t saga_step_delay_ms(const SagaStep *s, int attempt);
int saga_step_max_attempts(const SagaStep *s);

/* Starts `out` as a command of step `s` about order `o` at `version`: the
 * correlation (order, step, version, trace context; attempt 1) and, for a step
 * with a builder, the command itself. 0 or -EINVAL. */
int saga_step_command(const SagaStep *s, const Food__V1__Order *o, int64_t version, int64_t coupon_discount,
                      StepCommand *out);
