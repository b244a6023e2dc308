/* Unit test of the saga steps table: every action has its step, retry policies, command builders. */
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "saga-machine.h"
#include "saga-steps.h"
#include "test-check.h"

int main(void) {
        Food__V1__Location here = FOOD__V1__LOCATION__INIT;
        Food__V1__Order o = FOOD__V1__ORDER__INIT;
        StepCommand c;

        /* Every command a transition can emit has exactly one step, going to the right worker. */
        const unsigned all = SAGA_ACT_CREATE_TICKET | SAGA_ACT_UPDATE_TICKET | SAGA_ACT_WITHDRAW_TICKET |
                             SAGA_ACT_REFUND | SAGA_ACT_OPEN_DELIVERY | SAGA_ACT_ASSIGN_RIDER |
                             SAGA_ACT_COMPLETE_DELIVERY | SAGA_ACT_RETURN_COUPON | SAGA_ACT_ISSUE_COUPON;
        unsigned covered = 0;
        for (size_t i = 0; saga_step_at(i); i++) {
                const SagaStep *s = saga_step_at(i);
                CHECK((covered & s->action) == 0, "two steps for action %#x", s->action);
                covered |= s->action;
                CHECK(saga_step(s->name) == s && saga_step_index(s) == i, "lookup of %s", s->name);
        }
        CHECK(covered == all, "actions with a step: %#x, expected %#x", covered, all);
        CHECK(saga_step("refund")->compensation && saga_step("withdraw_ticket")->compensation &&
                      saga_step("return_coupon")->compensation && !saga_step("create_ticket")->compensation,
              "compensation flags");
        CHECK(saga_step("cancel_delivery") == NULL, "no step can cancel a delivery (none exists before cooking)");
        /* What a request waits on never lingers: placing (authorize, redeem_coupon) and modifying. */
        for (size_t i = 0; saga_step_at(i); i++) {
                const SagaStep *s = saga_step_at(i);
                bool want = !strcmp(s->name, "authorize") || !strcmp(s->name, "modify_charge") ||
                            !strcmp(s->name, "redeem_coupon");
                CHECK(s->awaited == want, "%s: awaited %d, expected %d", s->name, s->awaited, want);
        }

        /* Policies: waits double from the configured first wait up to the cap; budgets. */
        saga_steps_configure(1000, 20);
        const SagaStep *refund = saga_step("refund");
        int64_t expect[] = {1000, 2000, 4000, 8000};
        for (int a = 1; a <= 4; a++)
                CHECK(saga_step_delay_ms(refund, a) == expect[a - 1], "refund wait after try %d: got %lld", a,
                      (long long)saga_step_delay_ms(refund, a));
        CHECK(saga_step_delay_ms(refund, 60) == 600000, "refund wait capped at 10 min, got %lld",
              (long long)saga_step_delay_ms(refund, 60));
        CHECK(saga_step_max_attempts(refund) == 20, "refund budget: got %d", saga_step_max_attempts(refund));
        CHECK(saga_step_max_attempts(saga_step("authorize")) == 5, "authorize budget: got %d",
              saga_step_max_attempts(saga_step("authorize")));
        saga_steps_configure(700, 3);
        CHECK(saga_step_max_attempts(saga_step("authorize")) == 3 && saga_step_max_attempts(refund) == 3,
              "a small configured budget bounds every step");
        CHECK(saga_step_delay_ms(refund, 1) == 700, "first wait: got %lld", (long long)saga_step_delay_ms(refund, 1));

        /* Builders: the command carries the order's facts and its correlation. */
        o.id = "ord_0000000000000123456789ab";
        o.customer_id = "cust_1";
        o.store_id = "st_1";
        o.rider_id = "rider_1";
        o.coupon_id = "";
        o.reason = "";
        o.traceparent = "";
        o.pickup = &here;
        o.address = &here;
        CHECK(saga_step_command(saga_step("open_delivery"), &o, 5, 0, &c) == 0, "open_delivery builds");
        CHECK(strcmp(codec_command_worker(&c.command), "delivery") == 0, "open_delivery goes to delivery");
        CHECK(strcmp(c.m.open_delivery.delivery_id, "dlv_0000000000000123456789ab") == 0, "delivery id %s",
              c.m.open_delivery.delivery_id);
        CHECK(c.corr.version == 5 && strcmp(c.corr.step, "open_delivery") == 0 && c.corr.attempt == 1,
              "correlation of the command");
        CHECK(saga_step_command(saga_step("issue_coupon"), &o, 6, 1000, &c) == 0 &&
                      strcmp(c.m.issue_coupon.coupon_id, "cpn_0000000000000123456789ab") == 0 &&
                      c.m.issue_coupon.discount == 1000,
              "issue_coupon: one coupon per order");
        CHECK(saga_step_command(saga_step("authorize"), &o, 1, 0, &c) == 0 && c.command.command_case == 0,
              "authorize has no builder: the engine fills it");
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
