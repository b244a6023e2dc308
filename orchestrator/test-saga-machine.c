/* Unit test of the saga transition table: every (state, input) pair. */
#include <stdio.h>
#include <string.h>

#include "saga-machine.h"
#include "test-check.h"

typedef struct {
        SagaState from;
        SagaInput in;
        SagaState to;
        unsigned actions;
} Expect;

/* The contract of SPEC §3 written out independently of the table under test. */
static const Expect allowed[] = {
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

static const Expect *find_allowed(SagaState s, SagaInput in) {
        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
                if (allowed[i].from == s && allowed[i].in == in)
                        return &allowed[i];
        return NULL;
}

static void test_every_pair(void) {
        int n_allowed = 0, n_refused = 0;
        for (int s = 0; s < SAGA_STATE_COUNT; s++)
                for (int in = 0; in < SAGA_INPUT_COUNT; in++) {
                        SagaDecision d = {SAGA_STATE_COUNT, 0xdead};
                        const Expect *e = find_allowed((SagaState)s, (SagaInput)in);
                        int r = saga_decide((SagaState)s, (SagaInput)in, &d);
                        if (e) {
                                n_allowed++;
                                CHECK(r == 0, "%s + %s: expected allowed, got %d", saga_state_name(s),
                                      saga_input_name(in), r);
                                CHECK(d.next == e->to, "%s + %s: expected next %s, got %s", saga_state_name(s),
                                      saga_input_name(in), saga_state_name(e->to), saga_state_name(d.next));
                                CHECK(d.actions == e->actions, "%s + %s: expected actions 0x%x, got 0x%x",
                                      saga_state_name(s), saga_input_name(in), e->actions, d.actions);
                        } else {
                                n_refused++;
                                CHECK(r == SAGA_CONFLICT, "%s + %s: expected conflict, got %d", saga_state_name(s),
                                      saga_input_name(in), r);
                                CHECK(d.next == SAGA_STATE_COUNT && d.actions == 0xdead,
                                      "%s + %s: refused transition wrote its output", saga_state_name(s),
                                      saga_input_name(in));
                        }
                }
        CHECK(n_allowed == (int)(sizeof(allowed) / sizeof(allowed[0])), "expected %zu allowed pairs, saw %d",
              sizeof(allowed) / sizeof(allowed[0]), n_allowed);
        printf("checked %d allowed and %d refused transitions\n", n_allowed, n_refused);
}

static void test_terminal_states_accept_nothing(void) {
        const SagaState terminal[] = {SAGA_COMPLETED, SAGA_REJECTED, SAGA_REFUSED, SAGA_CANCELLED};
        for (size_t i = 0; i < 4; i++) {
                CHECK(saga_state_terminal(terminal[i]), "%s should be terminal", saga_state_name(terminal[i]));
                for (int in = 0; in < SAGA_INPUT_COUNT; in++) {
                        SagaDecision d;
                        CHECK(saga_decide(terminal[i], (SagaInput)in, &d) == SAGA_CONFLICT,
                              "terminal %s accepted %s", saga_state_name(terminal[i]), saga_input_name(in));
                }
        }
        CHECK(!saga_state_terminal(SAGA_DELIVERED), "DELIVERED is not terminal");
}

static void test_no_cancel_after_cooking(void) {
        const SagaState late[] = {SAGA_COOKING, SAGA_COOKED, SAGA_PICKED_UP, SAGA_DELIVERED};
        for (size_t i = 0; i < 4; i++) {
                SagaDecision d;
                CHECK(saga_decide(late[i], SAGA_IN_CANCEL, &d) == SAGA_CONFLICT, "cancel allowed in %s",
                      saga_state_name(late[i]));
                CHECK(saga_decide(late[i], SAGA_IN_MODIFY, &d) == SAGA_CONFLICT, "modify allowed in %s",
                      saga_state_name(late[i]));
        }
}

static void test_names_round_trip(void) {
        for (int s = 0; s < SAGA_STATE_COUNT; s++) {
                SagaState back = SAGA_STATE_COUNT;
                CHECK(saga_state_parse(saga_state_name(s), &back) == 0 && (int)back == s, "state %d does not round-trip",
                      s);
        }
        SagaState x;
        CHECK(saga_state_parse("paid", &x) < 0, "lower-case name must not parse");
        CHECK(saga_state_parse("", &x) < 0, "empty name must not parse");
        CHECK(saga_state_name(SAGA_STATE_COUNT) == NULL, "out-of-range state has a name");
}

int main(void) {
        test_every_pair();
        test_terminal_states_accept_nothing();
        test_no_cancel_after_cooking();
        test_names_round_trip();
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
