/* The saga steps table and the builders of the commands made from the order alone. */
#include "saga-steps.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "order-json.h"
#include "saga-machine.h"

static int build_create_ticket(const Food__V1__Order *o, int64_t discount, StepCommand *c) {
        (void)discount;
        food__v1__create_ticket__init(&c->m.create_ticket);
        c->m.create_ticket.corr = &c->corr;
        c->m.create_ticket.order = (Food__V1__Order *)o;
        return codec_command_wrap(&c->command, &c->m.create_ticket.base);
}

static int build_update_ticket(const Food__V1__Order *o, int64_t discount, StepCommand *c) {
        (void)discount;
        food__v1__update_ticket__init(&c->m.update_ticket);
        c->m.update_ticket.corr = &c->corr;
        c->m.update_ticket.order = (Food__V1__Order *)o;
        return codec_command_wrap(&c->command, &c->m.update_ticket.base);
}

static int build_withdraw_ticket(const Food__V1__Order *o, int64_t discount, StepCommand *c) {
        (void)discount;
        food__v1__withdraw_ticket__init(&c->m.withdraw_ticket);
        c->m.withdraw_ticket.corr = &c->corr;
        c->m.withdraw_ticket.store_id = o->store_id;
        c->m.withdraw_ticket.reason = o->reason;
        return codec_command_wrap(&c->command, &c->m.withdraw_ticket.base);
}

static int build_open_delivery(const Food__V1__Order *o, int64_t discount, StepCommand *c) {
        (void)discount;
        food__v1__open_delivery__init(&c->m.open_delivery);
        c->m.open_delivery.corr = &c->corr;
        c->m.open_delivery.delivery_id = c->delivery_id;
        c->m.open_delivery.store_id = o->store_id;
        c->m.open_delivery.pickup = o->pickup;
        c->m.open_delivery.dropoff = o->address;
        return codec_command_wrap(&c->command, &c->m.open_delivery.base);
}

static int build_assign_rider(const Food__V1__Order *o, int64_t discount, StepCommand *c) {
        (void)discount;
        food__v1__assign_rider__init(&c->m.assign_rider);
        c->m.assign_rider.corr = &c->corr;
        c->m.assign_rider.delivery_id = c->delivery_id;
        c->m.assign_rider.rider_id = o->rider_id;
        return codec_command_wrap(&c->command, &c->m.assign_rider.base);
}

static int build_complete_delivery(const Food__V1__Order *o, int64_t discount, StepCommand *c) {
        (void)discount;
        food__v1__complete_delivery__init(&c->m.complete_delivery);
        c->m.complete_delivery.corr = &c->corr;
        c->m.complete_delivery.delivery_id = c->delivery_id;
        c->m.complete_delivery.rider_id = o->rider_id;
        return codec_command_wrap(&c->command, &c->m.complete_delivery.base);
}

static int build_redeem_coupon(const Food__V1__Order *o, int64_t discount, StepCommand *c) {
        (void)discount;
        food__v1__redeem_coupon__init(&c->m.redeem_coupon);
        c->m.redeem_coupon.corr = &c->corr;
        c->m.redeem_coupon.coupon_id = o->coupon_id;
        c->m.redeem_coupon.customer_id = o->customer_id;
        c->m.redeem_coupon.store_id = o->store_id;
        return codec_command_wrap(&c->command, &c->m.redeem_coupon.base);
}

static int build_return_coupon(const Food__V1__Order *o, int64_t discount, StepCommand *c) {
        (void)discount;
        food__v1__return_coupon__init(&c->m.return_coupon);
        c->m.return_coupon.corr = &c->corr;
        c->m.return_coupon.coupon_id = o->coupon_id;
        return codec_command_wrap(&c->command, &c->m.return_coupon.base);
}

/* The coupon a cooked order gives its customer: one per order, re-sends included. */
static int build_issue_coupon(const Food__V1__Order *o, int64_t discount, StepCommand *c) {
        int n = snprintf(c->coupon_id, sizeof(c->coupon_id), "cpn_%s", o->id + (strncmp(o->id, "ord_", 4) ? 0 : 4));
        if (n < 0 || (size_t)n >= sizeof(c->coupon_id))
                return -EINVAL;
        food__v1__issue_coupon__init(&c->m.issue_coupon);
        c->m.issue_coupon.corr = &c->corr;
        c->m.issue_coupon.coupon_id = c->coupon_id;
        c->m.issue_coupon.customer_id = o->customer_id;
        c->m.issue_coupon.store_id = o->store_id;
        c->m.issue_coupon.discount = discount;
        return codec_command_wrap(&c->command, &c->m.issue_coupon.base);
}

/* Waits are in units of the configured first wait (COMMAND_RESEND_MS); max_attempts 0 is the
 * configured budget (COMMAND_MAX_ATTEMPTS). */
static const SagaStep steps[] = {
        /* A request waits on these (place, modify): own deadline (PAYMENT_TIMEOUT_S), a few quick tries. */
        {"authorize", 0, "payment", false, NULL, 1, 2, 30000, 5, true},
        {"modify_charge", 0, "payment", false, NULL, 1, 2, 30000, 5, true},
        {"redeem_coupon", 0, "coupon", false, build_redeem_coupon, 1, 2, 30000, 5, true},
        /* Compensations must finish: long patience, capped waits. */
        {"refund", SAGA_ACT_REFUND, "payment", true, NULL, 1, 2, 600000, 0, false},
        {"withdraw_ticket", SAGA_ACT_WITHDRAW_TICKET, "store", true, build_withdraw_ticket, 1, 2, 600000, 0, false},
        {"return_coupon", SAGA_ACT_RETURN_COUPON, "coupon", true, build_return_coupon, 1, 2, 600000, 0, false},
        /* Forward steps of workers that may be down for a while. */
        {"create_ticket", SAGA_ACT_CREATE_TICKET, "store", false, build_create_ticket, 1, 2, 300000, 0, false},
        {"update_ticket", SAGA_ACT_UPDATE_TICKET, "store", false, build_update_ticket, 1, 2, 300000, 0, false},
        {"open_delivery", SAGA_ACT_OPEN_DELIVERY, "delivery", false, build_open_delivery, 1, 2, 300000, 0, false},
        {"assign_rider", SAGA_ACT_ASSIGN_RIDER, "delivery", false, build_assign_rider, 1, 2, 300000, 0, false},
        {"complete_delivery", SAGA_ACT_COMPLETE_DELIVERY, "delivery", false, build_complete_delivery, 1, 2, 300000,
         0, false},
        {"issue_coupon", SAGA_ACT_ISSUE_COUPON, "coupon", false, build_issue_coupon, 1, 2, 300000, 0, false},
};
#define N_STEPS (sizeof(steps) / sizeof(steps[0]))

static int64_t unit_ms = 10000;
static int budget = 20;

void saga_steps_configure(int64_t initial_ms, int max_attempts) {
        unit_ms = initial_ms > 0 ? initial_ms : 1;
        budget = max_attempts > 0 ? max_attempts : 1;
}

const SagaStep *saga_step(const char *name) {
        for (size_t i = 0; name && i < N_STEPS; i++)
                if (strcmp(steps[i].name, name) == 0)
                        return &steps[i];
        return NULL;
}

const SagaStep *saga_step_at(size_t i) {
        return i < N_STEPS ? &steps[i] : NULL;
}

size_t saga_step_index(const SagaStep *s) {
        return (size_t)(s - steps);
}

int saga_step_max_attempts(const SagaStep *s) {
        int n = s->max_attempts ? s->max_attempts : budget;
        return n < budget ? n : budget;
}

int64_t saga_step_delay_ms(const SagaStep *s, int attempt) {
        int64_t d = unit_ms * s->initial_units;
        int64_t cap = s->cap_ms < d ? d : s->cap_ms;
        for (int i = 1; i < attempt && d < cap; i++)
                d *= s->multiplier;
        return d < cap ? d : cap;
}

int saga_step_command(const SagaStep *s, const Food__V1__Order *o, int64_t version, int64_t coupon_discount,
                      StepCommand *out) {
        memset(out, 0, sizeof(*out));
        food__v1__correlation__init(&out->corr);
        out->corr.order_id = o->id;
        out->corr.traceparent = o->traceparent;
        out->corr.step = (char *)s->name;
        out->corr.attempt = 1;
        out->corr.version = version;
        if (order_delivery_id(o->id, out->delivery_id, sizeof(out->delivery_id)) < 0)
                out->delivery_id[0] = 0;
        return s->build ? s->build(o, coupon_discount, out) : 0;
}
