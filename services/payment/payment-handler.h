/* The payment worker's command handler: AuthorizePayment and RefundPayment against the provider,
 * whose idempotency keys make a repeated command the same charge or refund (no state here). */
#pragma once
#include <protobuf-c/protobuf-c.h>

#include "payment-breaker.h"
#include "payment-provider.h"
#include "pg.h"
#include "worker.h"

typedef struct PaymentHandler PaymentHandler;

/* `provider` is borrowed and must outlive the handler; `breaker` configures the circuit breaker in
 * front of the provider's charges (shared by the worker threads). Registers the payment metrics, so
 * call it once, before the worker threads start. */
int payment_handler_new(PaymentHandler **ret, PaymentProvider *provider, const BreakerConfig *breaker);
void payment_handler_free(PaymentHandler *h);

/* The pure checks payment_handle makes before any lookup or provider call: 0 when `msg` is an
 * AuthorizePayment or RefundPayment that can be acted on, else WORKER_POISON with *why (static
 * text; why may be NULL): no order in the correlation, an idempotency key (or a refund's payment
 * id) empty, over 200 bytes or not printable ASCII, a negative charge, a refund of nothing. */
int payment_check(const ProtobufCMessage *msg, const char **why);

/* The provider's answer `res` to a charge of `asked`: an approval of another amount becomes a
 * final failure naming both amounts. Pure. */
void payment_settle(int64_t asked, PaymentResult *res);

/* WorkerHandler (ctx = PaymentHandler). Replies PaymentAuthorized / PaymentDeclined / PaymentFailed
 * to AuthorizePayment and PaymentRefunded / PaymentFailed (not retryable) to RefundPayment; a refund
 * the provider could not decide now is WORKER_RETRY (no answer: it must happen eventually).
 * Other message types and impossible commands are WORKER_POISON. */
int payment_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, WorkerOut *out);
