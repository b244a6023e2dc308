/* The order saga's state machine: pure code, no I/O. Given a state and an
 * input it decides the next state and the commands to emit. */
#pragma once
#include <stdbool.h>

/* Bumped whenever the transition table changes meaning; stored per saga. */
#define SAGA_DEFINITION_VERSION 1

typedef enum {
        SAGA_PAYMENT_PENDING,
        SAGA_PAID,
        SAGA_ACCEPTED,
        SAGA_COOKING,
        SAGA_COOKED,
        SAGA_PICKED_UP,
        SAGA_DELIVERED,
        SAGA_COMPLETED,
        SAGA_REJECTED,
        SAGA_REFUSED,
        SAGA_CANCELLED,
        SAGA_STATE_COUNT
} SagaState;

typedef enum {
        SAGA_IN_PAYMENT_AUTHORIZED,
        SAGA_IN_PAYMENT_DECLINED,
        SAGA_IN_PAYMENT_FAILED,
        SAGA_IN_ACCEPT,
        SAGA_IN_REFUSE,
        SAGA_IN_STORE_TIMEOUT,
        SAGA_IN_COOKING_STARTED,
        SAGA_IN_COOKING_FINISHED,
        SAGA_IN_PICK,
        SAGA_IN_DELIVERED,
        SAGA_IN_CONFIRM,
        SAGA_IN_AUTO_COMPLETE,
        SAGA_IN_CANCEL,
        SAGA_IN_MODIFY,
        SAGA_INPUT_COUNT
} SagaInput;

/* Commands a transition emits (a bit set). Compensations are marked. */
enum {
        SAGA_ACT_CREATE_TICKET = 1u << 0,
        SAGA_ACT_UPDATE_TICKET = 1u << 1,
        SAGA_ACT_WITHDRAW_TICKET = 1u << 2, /* compensation */
        SAGA_ACT_REFUND = 1u << 3,          /* compensation */
        SAGA_ACT_OPEN_DELIVERY = 1u << 4,
        SAGA_ACT_ASSIGN_RIDER = 1u << 5,
        SAGA_ACT_COMPLETE_DELIVERY = 1u << 6,
        SAGA_ACT_RETURN_COUPON = 1u << 8,   /* compensation */
        SAGA_ACT_ISSUE_COUPON = 1u << 9,
        SAGA_ACT_THANK_CUSTOMER = 1u << 10, /* the store's thank-you message (F16) */
};

typedef struct {
        SagaState next;
        unsigned actions;
} SagaDecision;

/* Result codes beyond 0. */
enum {
        SAGA_CONFLICT = 1, /* the input is not allowed in this state (HTTP 409) */
};

/* Decides the transition for `in` in state `from`. Returns 0 and fills *out,
 * or SAGA_CONFLICT leaving *out untouched. */
int saga_decide(SagaState from, SagaInput in, SagaDecision *out);

bool saga_state_terminal(SagaState s);
/* The API name of a state ("PAID"...), or NULL for an out-of-range value. */
const char *saga_state_name(SagaState s);
/* Parses an API name; 0 or -EINVAL. */
int saga_state_parse(const char *name, SagaState *ret);
const char *saga_input_name(SagaInput in);
