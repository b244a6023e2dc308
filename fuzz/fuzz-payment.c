/* libFuzzer harness of the payment worker: a message on food.cmd.payment (the rest of the input)
 * through the worker loop's decode (fuzz_command_batch), then each command as payment_handle takes
 * it: payment_check, the provider's answer (the first byte picks its HTTP status; the body is the
 * command's card token or refund reason) parsed and settled against the command, and the answer
 * the handler sends for that outcome. Stops where HTTP would start. */
#include <string.h>

#include "fuzz-common.h"
#include "payment-handler.h"
#include "payment-provider.h"

static const long statuses[] = {201, 402, 409, 500, 503, 200, 408, 429};

static void authorize(uint8_t flags, const Food__V1__AuthorizePayment *a) {
        PaymentResult res;
        memset(&res, 0, sizeof(res));
        payment_parse_charge(statuses[flags % 8], a->card_token, strlen(a->card_token), &res);
        payment_settle(a->amount, &res);
        FUZZ_CHECK(res.outcome != PAYMENT_OK || res.amount == a->amount, "approved %lld for a charge of %lld",
                   (long long)res.amount, (long long)a->amount);
        FUZZ_CHECK(memchr(res.id, 0, sizeof(res.id)) && memchr(res.reason, 0, sizeof(res.reason)),
                   "result strings not terminated");
        if (res.outcome == PAYMENT_OK) {
                Food__V1__PaymentAuthorized rep = FOOD__V1__PAYMENT_AUTHORIZED__INIT;
                rep.corr = a->corr;
                rep.payment_id = res.id;
                rep.amount = res.amount;
                fuzz_answer(&rep.base);
        } else if (res.outcome == PAYMENT_DECLINED) {
                Food__V1__PaymentDeclined rep = FOOD__V1__PAYMENT_DECLINED__INIT;
                rep.corr = a->corr;
                rep.reason = res.reason;
                fuzz_answer(&rep.base);
        } else {
                Food__V1__PaymentFailed rep = FOOD__V1__PAYMENT_FAILED__INIT;
                rep.corr = a->corr;
                rep.reason = res.reason;
                rep.retryable = res.retryable;
                fuzz_answer(&rep.base);
        }
}

static void refund(uint8_t flags, const Food__V1__RefundPayment *f) {
        PaymentResult res;
        memset(&res, 0, sizeof(res));
        payment_parse_refund(statuses[flags % 8], f->reason, strlen(f->reason), &res);
        FUZZ_CHECK(res.outcome != PAYMENT_DECLINED, "a refund declined");
        if (res.outcome == PAYMENT_OK) {
                Food__V1__PaymentRefunded rep = FOOD__V1__PAYMENT_REFUNDED__INIT;
                rep.corr = f->corr;
                rep.payment_id = f->payment_id;
                rep.refund_id = res.id;
                rep.amount = res.amount;
                fuzz_answer(&rep.base);
        } else if (!res.retryable) {
                /* A retryable failure is WORKER_RETRY: no answer, the batch comes back. */
                Food__V1__PaymentFailed rep = FOOD__V1__PAYMENT_FAILED__INIT;
                rep.corr = f->corr;
                rep.reason = res.reason;
                fuzz_answer(&rep.base);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_quiet();
        if (size < 1)
                return 0;
        Food__V1__CommandBatch *b = fuzz_command_batch("payment", data + 1, size - 1);
        if (!b)
                return 0;
        for (size_t i = 0; i < b->n_commands; i++) {
                const ProtobufCMessage *m = codec_command_message(b->commands[i]);
                const char *why = NULL;
                int r = payment_check(m, &why);
                FUZZ_CHECK(r == 0 || (r == WORKER_POISON && why), "payment_check returned %d (why %s)", r,
                           why ? why : "NULL");
                if (r != 0)
                        continue;
                const Food__V1__Correlation *corr = codec_correlation(m);
                FUZZ_CHECK(corr && *corr->order_id, "a command without an order accepted");
                if (m->descriptor == &food__v1__authorize_payment__descriptor) {
                        const Food__V1__AuthorizePayment *a = (const Food__V1__AuthorizePayment *)m;
                        FUZZ_CHECK(a->amount >= 0 && *a->idempotency_key, "accepted an impossible charge");
                        authorize(data[0], a);
                } else {
                        const Food__V1__RefundPayment *f = (const Food__V1__RefundPayment *)m;
                        FUZZ_CHECK(f->amount > 0 && *f->payment_id && *f->idempotency_key,
                                   "accepted an impossible refund");
                        refund(data[0] >> 3, f);
                }
        }
        codec_free(&b->base);
        return 0;
}
