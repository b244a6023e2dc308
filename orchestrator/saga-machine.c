/* The order saga's transition table. */
#include "saga-machine.h"

#include <errno.h>
#include <string.h>

static const char *const state_names[SAGA_STATE_COUNT] = {
        [SAGA_PAYMENT_PENDING] = "PAYMENT_PENDING",
        [SAGA_PAID] = "PAID",
        [SAGA_ACCEPTED] = "ACCEPTED",
        [SAGA_COOKING] = "COOKING",
        [SAGA_COOKED] = "COOKED",
        [SAGA_PICKED_UP] = "PICKED_UP",
        [SAGA_DELIVERED] = "DELIVERED",
        [SAGA_COMPLETED] = "COMPLETED",
        [SAGA_REJECTED] = "REJECTED",
        [SAGA_REFUSED] = "REFUSED",
        [SAGA_CANCELLED] = "CANCELLED",
};

static const char *const input_names[SAGA_INPUT_COUNT] = {
        [SAGA_IN_PAYMENT_AUTHORIZED] = "payment_authorized",
        [SAGA_IN_PAYMENT_DECLINED] = "payment_declined",
        [SAGA_IN_PAYMENT_FAILED] = "payment_failed",
        [SAGA_IN_ACCEPT] = "accept",
        [SAGA_IN_REFUSE] = "refuse",
        [SAGA_IN_STORE_TIMEOUT] = "store_timeout",
        [SAGA_IN_COOKING_STARTED] = "cooking_started",
        [SAGA_IN_COOKING_FINISHED] = "cooking_finished",
        [SAGA_IN_PICK] = "pick",
        [SAGA_IN_DELIVERED] = "delivered",
        [SAGA_IN_CONFIRM] = "confirm",
        [SAGA_IN_AUTO_COMPLETE] = "auto_complete",
        [SAGA_IN_CANCEL] = "cancel",
        [SAGA_IN_MODIFY] = "modify",
};

typedef struct {
        SagaState from;
        SagaInput in;
        SagaState to;
        unsigned actions;
} Transition;

/* Every allowed transition; anything absent is a conflict. Refusal and
 * cancellation are only possible before cooking starts, and compensate
 * everything done so far (the runtime skips a coupon return when none was used). */
static const Transition transitions[] = {
        {SAGA_PAYMENT_PENDING, SAGA_IN_PAYMENT_AUTHORIZED, SAGA_PAID, SAGA_ACT_CREATE_TICKET},
        {SAGA_PAYMENT_PENDING, SAGA_IN_PAYMENT_DECLINED, SAGA_REJECTED, SAGA_ACT_RETURN_COUPON},
        {SAGA_PAYMENT_PENDING, SAGA_IN_PAYMENT_FAILED, SAGA_REJECTED, SAGA_ACT_RETURN_COUPON},

        {SAGA_PAID, SAGA_IN_ACCEPT, SAGA_ACCEPTED, SAGA_ACT_UPDATE_TICKET},
        {SAGA_PAID, SAGA_IN_REFUSE, SAGA_REFUSED, SAGA_ACT_REFUND | SAGA_ACT_WITHDRAW_TICKET | SAGA_ACT_RETURN_COUPON},
        {SAGA_PAID, SAGA_IN_STORE_TIMEOUT, SAGA_REFUSED,
         SAGA_ACT_REFUND | SAGA_ACT_WITHDRAW_TICKET | SAGA_ACT_RETURN_COUPON},
        {SAGA_PAID, SAGA_IN_CANCEL, SAGA_CANCELLED, SAGA_ACT_REFUND | SAGA_ACT_WITHDRAW_TICKET | SAGA_ACT_RETURN_COUPON},
        {SAGA_PAID, SAGA_IN_MODIFY, SAGA_PAID, SAGA_ACT_UPDATE_TICKET},

        {SAGA_ACCEPTED, SAGA_IN_COOKING_STARTED, SAGA_COOKING, SAGA_ACT_UPDATE_TICKET},
        {SAGA_ACCEPTED, SAGA_IN_CANCEL, SAGA_CANCELLED,
         SAGA_ACT_REFUND | SAGA_ACT_WITHDRAW_TICKET | SAGA_ACT_RETURN_COUPON},
        {SAGA_ACCEPTED, SAGA_IN_MODIFY, SAGA_ACCEPTED, SAGA_ACT_UPDATE_TICKET},

        {SAGA_COOKING, SAGA_IN_COOKING_FINISHED, SAGA_COOKED,
         SAGA_ACT_UPDATE_TICKET | SAGA_ACT_OPEN_DELIVERY | SAGA_ACT_ISSUE_COUPON},

        {SAGA_COOKED, SAGA_IN_PICK, SAGA_PICKED_UP, SAGA_ACT_ASSIGN_RIDER},
        {SAGA_PICKED_UP, SAGA_IN_DELIVERED, SAGA_DELIVERED, SAGA_ACT_COMPLETE_DELIVERY},

        {SAGA_DELIVERED, SAGA_IN_CONFIRM, SAGA_COMPLETED, SAGA_ACT_THANK_CUSTOMER},
        {SAGA_DELIVERED, SAGA_IN_AUTO_COMPLETE, SAGA_COMPLETED, SAGA_ACT_THANK_CUSTOMER},
};

int saga_decide(SagaState from, SagaInput in, SagaDecision *out) {
        for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++)
                if (transitions[i].from == from && transitions[i].in == in) {
                        out->next = transitions[i].to;
                        out->actions = transitions[i].actions;
                        return 0;
                }
        return SAGA_CONFLICT;
}

bool saga_state_terminal(SagaState s) {
        return s == SAGA_COMPLETED || s == SAGA_REJECTED || s == SAGA_REFUSED || s == SAGA_CANCELLED;
}

const char *saga_state_name(SagaState s) {
        return (unsigned)s < SAGA_STATE_COUNT ? state_names[s] : NULL;
}

int saga_state_parse(const char *name, SagaState *ret) {
        for (int i = 0; i < SAGA_STATE_COUNT; i++)
                if (strcmp(state_names[i], name) == 0) {
                        *ret = (SagaState)i;
                        return 0;
                }
        return -EINVAL;
}

const char *saga_input_name(SagaInput in) {
        return (unsigned)in < SAGA_INPUT_COUNT ? input_names[in] : NULL;
}
