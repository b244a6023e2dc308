/* Applies saga decisions: turns a (saga, input) into the new order snapshot,
 * the commands and status event to emit, and the RPC answer. No I/O: what a
 * decision produces goes to the EngineOut hooks of its caller (the batch
 * writer), which persists it with the batch and sends it after the commit.
 * The only code that moves a saga. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "food.pb-c.h"
#include "saga-machine.h"
#include "saga-row.h"
#include "saga-steps.h"

typedef struct {
        int64_t payment_timeout_ms;      /* PAYMENT_PENDING without an outcome -> rejected */
        int64_t store_accept_timeout_ms; /* PAID without an answer -> refused */
        int64_t auto_complete_ms;        /* DELIVERED without confirmation -> completed */
        int64_t cooked_coupon_discount;  /* coupon given when cooking finishes (KRW) */
} EngineConfig;

/* Where a decision's products go; every hook returns 0 or a negative errno. */
typedef struct {
        void *ud;
        /* A command of `step` the saga sends now (`cmd` borrowed for the call: the writer numbers
         * it, packs it into its worker's batch and keeps it until answered). */
        int (*command)(void *ud, SagaRow *row, const SagaStep *step, StepCommand *cmd);
        /* The order changed to `o` (borrowed for the call): its status event (after `previous`),
         * read model and notification. */
        int (*status)(void *ud, SagaRow *row, const Food__V1__Order *o, const char *previous);
        /* A message for the customer beyond a status change (coupon, thank-you). */
        int (*notice)(void *ud, SagaRow *row, const char *kind, const char *message);
        /* The saga's new snapshot (borrowed for the call; the row takes a copy) and timer:
         * deadline_ms 0 clears it, ENGINE_KEEP_DEADLINE keeps it. */
        int (*saga)(void *ud, SagaRow *row, const Food__V1__Order *order, int64_t deadline_ms);
} EngineOut;
#define ENGINE_KEEP_DEADLINE (-1)

/* Extra facts an input brings. Strings are borrowed. */
typedef struct {
        const char *rider_id;   /* pick, delivered */
        const char *reason;     /* refuse, cancel */
        const char *payment_id; /* payment authorized */
        int64_t amount;         /* payment authorized */
        const char *rejection;  /* a rejection not by the card or the provider ("coupon"); Order.rejection */
} EngineArgs;

/* The answer to send after commit: a packed food.v1.RpcReply. */
typedef struct {
        uint8_t *data;
        size_t len;
        int http_status;
        /* RPC inboxes of a modification this decision abandoned: answer them 409 after commit. */
        char abandoned[SAGA_REPLY_TO_MAX];
} EngineReply;

void engine_reply_clear(EngineReply *r);
/* Calls fn for each abandoned inbox of `r` with a packed 409 RpcReply, then forgets them. */
void engine_reply_each_abandoned(EngineReply *r, void (*fn)(void *ud, const char *inbox, const uint8_t *data,
                                                             size_t len),
                                 void *ud);
/* Packs `m` (borrowed) as the answer, its http_status included. */
int engine_reply_message(EngineReply *r, const Food__V1__RpcReply *m);
/* Packs an RpcReply (order may be NULL). */
/* A request came without "Food-Answer-Form: view" (a gateway from before RpcReply.order_view): for the next
 * 10 minutes answers carry the Order too, for such gateways still running during a rolling upgrade. */
void engine_reply_legacy_seen(int64_t now_ms);
int engine_reply_set(EngineReply *r, int http_status, const char *title, const char *detail,
                     const Food__V1__Order *order, int retry_after_s);

/* Decides `in` for `row` and emits everything. Returns 0 with reply 200 (201
 * for payment_authorized) carrying the new order, SAGA_CONFLICT with a 409
 * reply and nothing emitted, or negative errno (the batch must be dropped). */
int engine_apply(const EngineConfig *cfg, const EngineOut *out, SagaRow *row, SagaInput in, const EngineArgs *args,
                 EngineReply *reply);

/* What a payment reply (PaymentAuthorized/Declined/Failed with correlation `corr`) means for the
 * saga in `row`. Pure: the writer acts on it. */
typedef enum {
        ENGINE_PAY_STALE,       /* not what the saga awaits now (another step): ignored */
        ENGINE_PAY_LATE_CHARGE, /* a charge for a step the saga gave up: recorded and refunded */
        ENGINE_PAY_APPLY,       /* *in (and *args) for engine_apply */
        ENGINE_PAY_MODIFY,      /* *in (and *args) for engine_modify_outcome */
} EnginePayment;
EnginePayment engine_payment_reply(const SagaRow *row, const ProtobufCMessage *m, const Food__V1__Correlation *corr,
                                   SagaInput *in, EngineArgs *args);

/* The discount a redeemed coupon of `redeemed` gives order `o`: within 0..o->total. Pure. */
int64_t engine_coupon_discount(const Food__V1__Order *o, int64_t redeemed);

/* Whether a refund of `amount` fits charge `payment_id` of `o`: the charge exists, amount > 0 and
 * refunded + amount stays within what was charged (no overflow). Pure. */
bool engine_refund_fits(const Food__V1__Order *o, const char *payment_id, int64_t amount);

/* Records a refund of `amount` of charge `payment_id` (a compensation
 * finished): amount_refunded grows, version bumps, an event tells the read side. */
int engine_refunded(const EngineOut *out, SagaRow *row, const char *payment_id, int64_t amount);

/* Starts a saga in `row` (zeroed, order_id and shard set) for a priced order
 * awaiting payment: snapshot PAYMENT_PENDING, the coupon redeemed or the card
 * authorized first, reply_to remembered for the outcome; the request's
 * `traceparent` (may be NULL) stays with the order and its messages. */
int engine_start(const EngineConfig *cfg, const EngineOut *out, SagaRow *row, const Food__V1__PlaceOrder *req,
                 const char *reply_to, const char *traceparent);

/* Modifies an order before cooking (the gateway priced the new items). A
 * lower or equal total applies at once (the difference is refunded) with a 200
 * reply; a higher one charges the difference first: the saga waits in step
 * "modify_charge" and `reply_to` gets the answer (reply left empty).
 * SAGA_CONFLICT with a 409 reply when not allowed now. */
int engine_modify(const EngineConfig *cfg, const EngineOut *out, SagaRow *row, const Food__V1__ModifyOrder *req,
                  const char *reply_to, EngineReply *reply);
/* The outcome of a modification's extra charge: authorized applies it (200),
 * declined (402) or failed (503) leaves the order unchanged. */
int engine_modify_outcome(const EngineOut *out, SagaRow *row, SagaInput in, const EngineArgs *args,
                          EngineReply *reply);

/* The coupon of a placed order was redeemed (the payment of what is left is
 * sent; answered later) or refused (REJECTED with a 422 reply). */
/* The answer a rejected order gives: 402 for a declined card, 422 for a refused coupon, 503 when the
 * provider could not be reached. `repeat` (the same Idempotency-Key again): the same, except that an
 * unreachable provider is not "retry later" any more (this key will never pay): 402, nothing charged. */
int engine_reply_rejected(const Food__V1__Order *o, bool repeat, EngineReply *reply);

int engine_coupon_outcome(const EngineConfig *cfg, const EngineOut *out, SagaRow *row, const ProtobufCMessage *m,
                          EngineReply *reply);

/* A charge for `step` reported after the saga stopped waiting for it (payment
 * deadline, abandoned modification): records it and refunds it, once (a
 * charge already known, or one the saga still awaits, changes nothing). */
int engine_late_charge(const EngineOut *out, SagaRow *row, const char *step, const char *payment_id,
                       int64_t amount);
