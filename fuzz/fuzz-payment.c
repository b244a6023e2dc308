/* libFuzzer harness of the payment worker: a command through decode, payment_check (what
 * payment_handle decides before any lookup or provider call), the provider's answer parsed and
 * settled against the command, and the reply packed. Stops where PostgreSQL and HTTP would start. */
#include <string.h>

#include "fuzz-common.h"
#include "payment-handler.h"
#include "payment-provider.h"

static const char *const types[] = {"food.v1.AuthorizePayment", "food.v1.RefundPayment"};

/* The provider's answer: the command's card token as the body (the fuzzer controls it), with a
 * status picked by the selector. */
static void provider_answer(uint8_t selector, const Food__V1__AuthorizePayment *m, PaymentResult *res) {
        static const long statuses[] = {201, 402, 409, 500, 503, 200};
        const char *body = m->card_token;
        payment_parse_charge(statuses[(selector >> 1) % 6], body, strlen(body), res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *why = NULL;
        PaymentResult res;
        int r;

        ProtobufCMessage *m = FUZZ_INPUT(types, data, size);
        if (!m)
                return 0;
        r = payment_check(m, &why);
        FUZZ_CHECK(r == 0 || (r == WORKER_POISON && why), "payment_check returned %d (why %s)", r, why ? why : "NULL");
        if (r == 0 && m->descriptor == &food__v1__authorize_payment__descriptor) {
                const Food__V1__AuthorizePayment *a = (const Food__V1__AuthorizePayment *)m;
                FUZZ_CHECK(a->amount >= 0 && a->corr && *a->corr->order_id, "accepted an impossible charge");
                memset(&res, 0, sizeof(res));
                provider_answer(data[0], a, &res);
                payment_settle(a->amount, &res);
                FUZZ_CHECK(res.outcome != PAYMENT_OK || res.amount == a->amount,
                           "approved %lld for a charge of %lld", (long long)res.amount, (long long)a->amount);
                /* The reply the handler sends for this outcome. */
                if (res.outcome == PAYMENT_OK) {
                        Food__V1__PaymentAuthorized rep = FOOD__V1__PAYMENT_AUTHORIZED__INIT;
                        rep.corr = a->corr;
                        rep.payment_id = res.id;
                        rep.amount = res.amount;
                        fuzz_repack(&rep.base);
                } else {
                        Food__V1__PaymentFailed rep = FOOD__V1__PAYMENT_FAILED__INIT;
                        rep.corr = a->corr;
                        rep.reason = res.reason;
                        rep.retryable = res.retryable;
                        fuzz_repack(&rep.base);
                }
        } else if (r == 0) {
                const Food__V1__RefundPayment *f = (const Food__V1__RefundPayment *)m;
                FUZZ_CHECK(f->amount > 0 && *f->payment_id, "accepted an impossible refund");
                memset(&res, 0, sizeof(res));
                payment_parse_refund((data[0] & 2) ? 201 : 409, f->reason, strlen(f->reason), &res);
                Food__V1__PaymentRefunded rep = FOOD__V1__PAYMENT_REFUNDED__INIT;
                rep.corr = f->corr;
                rep.payment_id = f->payment_id;
                rep.refund_id = res.id;
                rep.amount = res.amount;
                fuzz_repack(&rep.base);
        }
        codec_free(m);
        return 0;
}
