/* libFuzzer harness of the orchestrator's reply consumer: a worker's reply (the first byte picks its
 * Food-Type) through decode, the correlation rules of reply_one, and for the replies that move a
 * saga the decision against a saga in the state the second byte picks: engine_payment_reply, then
 * the saga machine (saga_decide); the coupon discount; whether a refund fits its charge. Stops where
 * the saga row would be loaded and written. */
#include <string.h>

#include "fuzz-common.h"
#include "saga-engine.h"
#include "saga-machine.h"

static const char *const types[] = {
        "food.v1.PaymentAuthorized", "food.v1.PaymentDeclined", "food.v1.PaymentFailed",
        "food.v1.PaymentRefunded",   "food.v1.CouponRedeemed",  "food.v1.CouponRejected",
        "food.v1.TicketRecorded",    "food.v1.TicketWithdrawn", "food.v1.DeliveryRecorded",
        "food.v1.CouponReturned",    "food.v1.CouponIssued",    "food.v1.NotificationSent",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* The saga's order as stored: paid 20500 with one charge, 5000 of it refunded already. */
        Food__V1__Charge charge = FOOD__V1__CHARGE__INIT;
        charge.payment_id = (char *)"ch_1";
        charge.amount = 20500;
        charge.refunded = 5000;
        Food__V1__Charge *charges[] = {&charge};
        Food__V1__Order order = FOOD__V1__ORDER__INIT;
        order.id = (char *)"ord_fuzz0001";
        order.customer_id = (char *)"cus_1";
        order.store_id = (char *)"sto_1";
        order.status = (char *)"PAID";
        order.total = 20500;
        order.amount_paid = 20500;
        order.amount_refunded = 5000;
        order.n_charges = 1;
        order.charges = charges;
        SagaRow row;
        SagaInput in;
        EngineArgs args;
        SagaDecision d;

        fuzz_quiet();
        if (size < 2)
                return 0;
        ProtobufCMessage *m = fuzz_decode(types, sizeof(types) / sizeof(types[0]), data[0], data + 2, size - 2);
        if (!m)
                return 0;
        const Food__V1__Correlation *corr = codec_correlation(m);
        /* reply_one: no correlation, or one naming no order or no command, is poison (an answer to no
         * saga command, order "" and command 0, is ignored). */
        if (!corr || !*corr->order_id || corr->command_id <= 0)
                goto out;
        memset(&row, 0, sizeof(row));
        snprintf(row.order_id, sizeof(row.order_id), "%s", corr->order_id);
        row.state = (SagaState)((data[1] & 15) % SAGA_STATE_COUNT);
        snprintf(row.step, sizeof(row.step), "%s", (data[1] & 16) ? corr->step : "authorize");
        row.attempt = (data[1] & 32) ? (int)corr->attempt : 1;
        row.version = 2;
        row.order = &order;

        if (m->descriptor == &food__v1__payment_authorized__descriptor ||
            m->descriptor == &food__v1__payment_declined__descriptor ||
            m->descriptor == &food__v1__payment_failed__descriptor) {
                EnginePayment k = engine_payment_reply(&row, m, corr, &in, &args);
                FUZZ_CHECK(k <= ENGINE_PAY_MODIFY, "kind %d", (int)k);
                if (k == ENGINE_PAY_APPLY && saga_decide(row.state, in, &d) == 0) {
                        FUZZ_CHECK(saga_state_name(d.next) != NULL, "next state %d", (int)d.next);
                        /* engine_apply then adds the charge to the order: amount_paid += amount. */
                        int64_t paid;
                        FUZZ_CHECK(in != SAGA_IN_PAYMENT_AUTHORIZED || args.amount <= 0 ||
                                           !__builtin_add_overflow(order.amount_paid, args.amount, &paid),
                                   "amount_paid %lld + charge %lld overflows", (long long)order.amount_paid,
                                   (long long)args.amount);
                }
        } else if (m->descriptor == &food__v1__payment_refunded__descriptor) {
                const Food__V1__PaymentRefunded *f = (const Food__V1__PaymentRefunded *)m;
                if (engine_refund_fits(&order, f->payment_id, f->amount))
                        FUZZ_CHECK(f->amount > 0 && charge.refunded + f->amount <= charge.amount,
                                   "refund of %lld accepted", (long long)f->amount);
        } else if (m->descriptor == &food__v1__coupon_redeemed__descriptor) {
                const Food__V1__CouponRedeemed *c = (const Food__V1__CouponRedeemed *)m;
                int64_t discount = engine_coupon_discount(&order, c->discount);
                /* The card is then charged total - discount: never more than the order costs. */
                FUZZ_CHECK(discount >= 0 && discount <= order.total, "discount %lld on a total of %lld",
                           (long long)discount, (long long)order.total);
        }
out:
        codec_free(m);
        return 0;
}
