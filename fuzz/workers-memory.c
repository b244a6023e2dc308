/* Well-behaved workers for the orchestrator in memory (see workers-memory.h). */
#include "workers-memory.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"

/* A message the writer sent to a worker and nobody answered yet. */
typedef struct {
        char worker[16];
        uint8_t *data;
        size_t len;
} WorkersMemorySent;
static WorkersMemorySent queue[WORKERS_MEMORY_QUEUE];
static size_t n_queue;

static void queue_drop(size_t i) {
        free(queue[i].data);
        memmove(queue + i, queue + i + 1, (n_queue - i - 1) * sizeof(queue[0]));
        n_queue--;
}

void workers_memory_clear(void) {
        while (n_queue)
                queue_drop(n_queue - 1);
}

void workers_memory_queue(const char *worker, const uint8_t *data, size_t len) {
        if (n_queue == WORKERS_MEMORY_QUEUE)
                queue_drop(0);
        WorkersMemorySent *q = &queue[n_queue];
        q->data = malloc(len ? len : 1);
        FUZZ_CHECK(q->data, "out of memory");
        memcpy(q->data, data, len);
        q->len = len;
        snprintf(q->worker, sizeof(q->worker), "%s", worker);
        n_queue++;
}

/* Appends `data` as a reply of a ReplyBatch (its field 1), as the writer builds its batches. */
static void put_reply(PartBuf *b, const uint8_t *data, size_t len) {
        FUZZ_CHECK(writer_part_add(b, data, len, 1) == 0, "out of memory");
}

/* The provider's charge id for a key: the same charge for every try of a command. */
static void charge_id(const char *key, char *buf, size_t cap) {
        uint64_t h = 1469598103934665603ULL;
        for (const char *c = key; *c; c++)
                h = (h ^ (unsigned char)*c) * 1099511628211ULL;
        snprintf(buf, cap, "ch_%016" PRIx64, h);
}

/* Appends the answer a well-behaved worker gives `cmd` (none: nothing appended) to `out`. */
static void answer(const ProtobufCMessage *cmd, unsigned mood, PartBuf *out) {
        union {
                Food__V1__PaymentAuthorized authorized;
                Food__V1__PaymentDeclined declined;
                Food__V1__PaymentFailed failed;
                Food__V1__PaymentRefunded refunded;
                Food__V1__TicketRecorded ticket;
                Food__V1__TicketWithdrawn withdrawn;
                Food__V1__DeliveryRecorded delivery;
                Food__V1__CouponRedeemed redeemed;
                Food__V1__CouponRejected rejected;
                Food__V1__CouponReturned returned;
                Food__V1__CouponIssued issued;
        } a;
        ProtobufCMessage *rep = NULL;
        Food__V1__Correlation *corr = codec_correlation(cmd);
        char id[40];

        if (cmd->descriptor == &food__v1__authorize_payment__descriptor) {
                const Food__V1__AuthorizePayment *m = (const Food__V1__AuthorizePayment *)cmd;
                if (mood & WORKERS_MEMORY_DECLINE) {
                        food__v1__payment_declined__init(&a.declined);
                        a.declined.reason = (char *)"card declined";
                        rep = &a.declined.base;
                } else if (mood & WORKERS_MEMORY_PSP_DOWN) {
                        food__v1__payment_failed__init(&a.failed);
                        a.failed.reason = (char *)"provider unavailable";
                        a.failed.retryable = true;
                        rep = &a.failed.base;
                } else {
                        charge_id(m->idempotency_key, id, sizeof(id));
                        food__v1__payment_authorized__init(&a.authorized);
                        a.authorized.payment_id = id;
                        a.authorized.amount = m->amount;
                        rep = &a.authorized.base;
                }
        } else if (cmd->descriptor == &food__v1__refund_payment__descriptor) {
                const Food__V1__RefundPayment *m = (const Food__V1__RefundPayment *)cmd;
                if (mood & WORKERS_MEMORY_REFUND_LATER)
                        return; /* WORKER_RETRY: no answer */
                charge_id(m->idempotency_key, id, sizeof(id));
                food__v1__payment_refunded__init(&a.refunded);
                a.refunded.payment_id = m->payment_id;
                a.refunded.refund_id = id;
                a.refunded.amount = m->amount;
                rep = &a.refunded.base;
        } else if (cmd->descriptor == &food__v1__create_ticket__descriptor ||
                   cmd->descriptor == &food__v1__update_ticket__descriptor) {
                const Food__V1__Order *o = cmd->descriptor == &food__v1__create_ticket__descriptor
                                                   ? ((const Food__V1__CreateTicket *)cmd)->order
                                                   : ((const Food__V1__UpdateTicket *)cmd)->order;
                food__v1__ticket_recorded__init(&a.ticket);
                a.ticket.store_id = o ? o->store_id : (char *)"";
                a.ticket.status = o ? o->status : (char *)"";
                rep = &a.ticket.base;
        } else if (cmd->descriptor == &food__v1__withdraw_ticket__descriptor) {
                food__v1__ticket_withdrawn__init(&a.withdrawn);
                a.withdrawn.store_id = ((const Food__V1__WithdrawTicket *)cmd)->store_id;
                rep = &a.withdrawn.base;
        } else if (cmd->descriptor == &food__v1__open_delivery__descriptor ||
                   cmd->descriptor == &food__v1__assign_rider__descriptor ||
                   cmd->descriptor == &food__v1__complete_delivery__descriptor) {
                food__v1__delivery_recorded__init(&a.delivery);
                if (cmd->descriptor == &food__v1__open_delivery__descriptor) {
                        a.delivery.delivery_id = ((const Food__V1__OpenDelivery *)cmd)->delivery_id;
                        a.delivery.status = (char *)"OPEN";
                } else if (cmd->descriptor == &food__v1__assign_rider__descriptor) {
                        a.delivery.delivery_id = ((const Food__V1__AssignRider *)cmd)->delivery_id;
                        a.delivery.rider_id = ((const Food__V1__AssignRider *)cmd)->rider_id;
                        a.delivery.status = (char *)"PICKED_UP";
                } else {
                        a.delivery.delivery_id = ((const Food__V1__CompleteDelivery *)cmd)->delivery_id;
                        a.delivery.rider_id = ((const Food__V1__CompleteDelivery *)cmd)->rider_id;
                        a.delivery.status = (char *)"DELIVERED";
                }
                rep = &a.delivery.base;
        } else if (cmd->descriptor == &food__v1__redeem_coupon__descriptor) {
                const Food__V1__RedeemCoupon *m = (const Food__V1__RedeemCoupon *)cmd;
                if (mood & WORKERS_MEMORY_NO_COUPON) {
                        food__v1__coupon_rejected__init(&a.rejected);
                        a.rejected.coupon_id = m->coupon_id;
                        a.rejected.reason = (char *)"this coupon was already used";
                        rep = &a.rejected.base;
                } else {
                        food__v1__coupon_redeemed__init(&a.redeemed);
                        a.redeemed.coupon_id = m->coupon_id;
                        a.redeemed.discount = 1500;
                        rep = &a.redeemed.base;
                }
        } else if (cmd->descriptor == &food__v1__return_coupon__descriptor) {
                food__v1__coupon_returned__init(&a.returned);
                a.returned.coupon_id = ((const Food__V1__ReturnCoupon *)cmd)->coupon_id;
                rep = &a.returned.base;
        } else if (cmd->descriptor == &food__v1__issue_coupon__descriptor) {
                const Food__V1__IssueCoupon *m = (const Food__V1__IssueCoupon *)cmd;
                if (!corr || !*corr->order_id)
                        return; /* a store owner's coupon: nobody waits for it */
                food__v1__coupon_issued__init(&a.issued);
                a.issued.coupon_id = m->coupon_id;
                a.issued.customer_id = m->customer_id;
                rep = &a.issued.base;
        }
        FUZZ_CHECK(rep, "no answer for %s", cmd->descriptor->name);
        /* Every reply's field 1 is its correlation, copied from the command. */
        *(Food__V1__Correlation **)((char *)rep + rep->descriptor->fields[0].offset) = corr;
        FUZZ_CHECK(codec_correlation(rep) == corr, "%s: the correlation is not field 1", rep->descriptor->name);
        Food__V1__Reply r;
        uint8_t *data = NULL;
        size_t len = 0;
        FUZZ_CHECK(codec_reply_wrap(&r, rep) == 0 && codec_pack(&r.base, &data, &len) == 0, "%s does not wrap",
                   rep->descriptor->name);
        put_reply(out, data, len);
        free(data);
}

void workers_memory_answer(Writer *w, unsigned mood, int64_t advance_ms) {
        PartBuf out = {0};
        int r = 0;

        if (mood & WORKERS_MEMORY_SILENT) {
                workers_memory_clear();
                return;
        }
        writer_memory_begin(w, advance_ms);
        while (n_queue && r == 0) {
                WorkersMemorySent *q = &queue[0];
                Food__V1__CommandBatch *b = fuzz_command_batch(q->worker, q->data, q->len);
                out.len = out.n = 0;
                for (size_t i = 0; b && i < b->n_commands; i++)
                        answer(codec_command_message(b->commands[i]), mood, &out);
                if (out.n)
                        r = writer_memory_answers(w, food__v1__reply_batch__descriptor.name, out.data, out.len);
                codec_free(b ? &b->base : NULL);
                queue_drop(0);
        }
        free(out.data);
        writer_memory_end(w, r < 0);
}
