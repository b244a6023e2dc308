/* Applies saga decisions inside one PostgreSQL transaction. */
#include "saga-engine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ids.h"
#include "log.h"
#include "order-json.h"

/* Actions with a worker behind them today; coupon and loyalty commands join
 * when the coupon worker exists (issue: the customer's world). */
#define ENGINE_ACTIONS_WIRED                                                                                           \
        (SAGA_ACT_CREATE_TICKET | SAGA_ACT_UPDATE_TICKET | SAGA_ACT_WITHDRAW_TICKET | SAGA_ACT_REFUND |               \
         SAGA_ACT_OPEN_DELIVERY | SAGA_ACT_ASSIGN_RIDER | SAGA_ACT_COMPLETE_DELIVERY | SAGA_ACT_CANCEL_DELIVERY)

void engine_reply_clear(EngineReply *r) {
        free(r->data);
        memset(r, 0, sizeof(*r));
}

int engine_reply_set(EngineReply *r, int http_status, const char *title, const char *detail,
                     const Food__V1__Order *order, int retry_after_s) {
        Food__V1__RpcReply m = FOOD__V1__RPC_REPLY__INIT;
        engine_reply_clear(r);
        m.http_status = http_status;
        m.title = (char *)(title ? title : "");
        m.detail = (char *)(detail ? detail : "");
        m.order = (Food__V1__Order *)order;
        m.retry_after_s = retry_after_s;
        r->http_status = http_status;
        return codec_pack(&m.base, &r->data, &r->len);
}

/* A shallow copy of an order with a new status appended to its history; the
 * copy borrows every string and sub-message of `cur` except the history array. */
typedef struct {
        Food__V1__Order order;
        Food__V1__StatusAt entry;
        Food__V1__StatusAt **history;
} NextOrder;

static int next_order(NextOrder *n, const Food__V1__Order *cur, const char *status, int64_t now_ms) {
        n->order = *cur;
        n->history = NULL;
        n->order.version = cur->version + 1;
        n->order.updated_at_ms = now_ms;
        if (!status || strcmp(status, cur->status) == 0)
                return 0;
        n->history = malloc((cur->n_history + 1) * sizeof(*n->history));
        if (!n->history)
                return -ENOMEM;
        if (cur->n_history)
                memcpy(n->history, cur->history, cur->n_history * sizeof(*n->history));
        food__v1__status_at__init(&n->entry);
        n->entry.status = (char *)status;
        n->entry.at_ms = now_ms;
        n->history[cur->n_history] = &n->entry;
        n->order.history = n->history;
        n->order.n_history = cur->n_history + 1;
        n->order.status = (char *)status;
        return 0;
}

static void corr_init(Food__V1__Correlation *c, const char *order_id, const char *step) {
        food__v1__correlation__init(c);
        c->order_id = (char *)order_id;
        c->step = (char *)step;
        c->attempt = 1; /* the relay stamps the real attempt and command id */
}

static int emit_status(Pg *pg, const Food__V1__Order *o, const char *previous) {
        Food__V1__OrderStatusChanged ev = FOOD__V1__ORDER_STATUS_CHANGED__INIT;
        ev.order = (Food__V1__Order *)o;
        ev.previous_status = (char *)previous;
        ev.at_ms = o->updated_at_ms;
        return saga_store_outbox(pg, o->id, "status", &ev.base, false);
}

/* Writes the commands of `actions` for order `o` (the new snapshot). */
static int emit_actions(Pg *pg, const Food__V1__Order *o, unsigned actions, const EngineArgs *args) {
        Food__V1__Correlation corr;
        char delivery_id[80], key[160];
        int r = 0;

        if (order_delivery_id(o->id, delivery_id, sizeof(delivery_id)) < 0)
                return -EINVAL;
        actions &= ENGINE_ACTIONS_WIRED;
        if (actions & SAGA_ACT_CREATE_TICKET) {
                Food__V1__CreateTicket m = FOOD__V1__CREATE_TICKET__INIT;
                corr_init(&corr, o->id, "create_ticket");
                m.corr = &corr;
                m.order = (Food__V1__Order *)o;
                r = saga_store_outbox(pg, o->id, corr.step, &m.base, true);
        }
        if (r == 0 && (actions & SAGA_ACT_UPDATE_TICKET)) {
                Food__V1__UpdateTicket m = FOOD__V1__UPDATE_TICKET__INIT;
                corr_init(&corr, o->id, "update_ticket");
                m.corr = &corr;
                m.order = (Food__V1__Order *)o;
                r = saga_store_outbox(pg, o->id, corr.step, &m.base, true);
        }
        if (r == 0 && (actions & SAGA_ACT_WITHDRAW_TICKET)) {
                Food__V1__WithdrawTicket m = FOOD__V1__WITHDRAW_TICKET__INIT;
                corr_init(&corr, o->id, "withdraw_ticket");
                m.corr = &corr;
                m.store_id = o->store_id;
                m.reason = (char *)(args && args->reason ? args->reason : "");
                r = saga_store_outbox(pg, o->id, corr.step, &m.base, true);
        }
        if (r == 0 && (actions & SAGA_ACT_REFUND) && o->amount_paid > o->amount_refunded) {
                Food__V1__RefundPayment m = FOOD__V1__REFUND_PAYMENT__INIT;
                corr_init(&corr, o->id, "refund");
                /* One provider-side key per refund decision: re-sends never pay twice. */
                snprintf(key, sizeof(key), "%s.refund.%" PRId64, o->id, o->version);
                m.corr = &corr;
                m.payment_id = o->payment_id;
                m.amount = o->amount_paid - o->amount_refunded;
                m.reason = (char *)(args && args->reason ? args->reason : o->status);
                m.idempotency_key = key;
                r = saga_store_outbox(pg, o->id, corr.step, &m.base, true);
        }
        if (r == 0 && (actions & SAGA_ACT_OPEN_DELIVERY)) {
                Food__V1__OpenDelivery m = FOOD__V1__OPEN_DELIVERY__INIT;
                corr_init(&corr, o->id, "open_delivery");
                m.corr = &corr;
                m.delivery_id = delivery_id;
                m.store_id = o->store_id;
                m.pickup = o->pickup;
                m.dropoff = o->address;
                r = saga_store_outbox(pg, o->id, corr.step, &m.base, true);
        }
        if (r == 0 && (actions & SAGA_ACT_ASSIGN_RIDER)) {
                Food__V1__AssignRider m = FOOD__V1__ASSIGN_RIDER__INIT;
                corr_init(&corr, o->id, "assign_rider");
                m.corr = &corr;
                m.delivery_id = delivery_id;
                m.rider_id = o->rider_id;
                r = saga_store_outbox(pg, o->id, corr.step, &m.base, true);
        }
        if (r == 0 && (actions & SAGA_ACT_COMPLETE_DELIVERY)) {
                Food__V1__CompleteDelivery m = FOOD__V1__COMPLETE_DELIVERY__INIT;
                corr_init(&corr, o->id, "complete_delivery");
                m.corr = &corr;
                m.delivery_id = delivery_id;
                m.rider_id = o->rider_id;
                r = saga_store_outbox(pg, o->id, corr.step, &m.base, true);
        }
        if (r == 0 && (actions & SAGA_ACT_CANCEL_DELIVERY)) {
                Food__V1__CancelDelivery m = FOOD__V1__CANCEL_DELIVERY__INIT;
                corr_init(&corr, o->id, "cancel_delivery");
                m.corr = &corr;
                m.delivery_id = delivery_id;
                m.reason = (char *)(args && args->reason ? args->reason : "");
                r = saga_store_outbox(pg, o->id, corr.step, &m.base, true);
        }
        return r;
}

/* The durable timer that starts with a state, in ms since the epoch (0 = none). */
static int64_t deadline_for(const EngineConfig *cfg, SagaState s, int64_t now_ms) {
        if (s == SAGA_PAYMENT_PENDING)
                return now_ms + cfg->payment_timeout_ms;
        if (s == SAGA_PAID)
                return now_ms + cfg->store_accept_timeout_ms;
        if (s == SAGA_DELIVERED)
                return now_ms + cfg->auto_complete_ms;
        return 0;
}

int engine_apply(const EngineConfig *cfg, Pg *pg, SagaRow *row, SagaInput in, const EngineArgs *args,
                 EngineReply *reply) {
        SagaDecision d;
        NextOrder n;
        SagaState from = row->state;
        int64_t now = ids_now_ms(), expected = row->version;
        char detail[160];
        int r;

        if (saga_decide(from, in, &d) != 0) {
                snprintf(detail, sizeof(detail), "order %s is %s; %s is not allowed now", row->order_id,
                         saga_state_name(from), saga_input_name(in));
                r = engine_reply_set(reply, 409, "Conflict", detail, row->order, 0);
                return r < 0 ? r : SAGA_CONFLICT;
        }
        r = next_order(&n, row->order, saga_state_name(d.next), now);
        if (r < 0)
                return r;
        if (in == SAGA_IN_PICK)
                n.order.rider_id = (char *)args->rider_id;
        if (in == SAGA_IN_PAYMENT_AUTHORIZED) {
                n.order.payment_id = (char *)args->payment_id;
                n.order.amount_paid = args->amount;
        }
        if (args && args->reason && *args->reason)
                n.order.reason = (char *)args->reason;

        row->state = d.next;
        row->version = n.order.version;
        row->step[0] = 0; /* steps awaited by name are only the payment authorization */
        r = emit_actions(pg, &n.order, d.actions, args);
        if (r == 0)
                r = emit_status(pg, &n.order, saga_state_name(from));
        if (r == 0)
                r = saga_store_update(pg, row, &n.order, expected, deadline_for(cfg, d.next, now));
        if (r == 0)
                r = engine_reply_set(reply, in == SAGA_IN_PAYMENT_AUTHORIZED ? 201 : 200, NULL, NULL, &n.order, 0);
        free(n.history);
        return r;
}

int engine_refunded(Pg *pg, SagaRow *row, int64_t amount) {
        NextOrder n;
        int64_t expected = row->version;
        int r = next_order(&n, row->order, NULL, ids_now_ms());
        if (r < 0)
                return r;
        n.order.amount_refunded += amount;
        if (n.order.amount_refunded > n.order.amount_paid) {
                log_error("saga %s: refund of %" PRId64 " would exceed what was paid; ignored", row->order_id, amount);
                return 0;
        }
        row->version = n.order.version;
        r = emit_status(pg, &n.order, n.order.status);
        if (r == 0)
                r = saga_store_update(pg, row, &n.order, expected, 0);
        free(n.history);
        return r;
}

int engine_start(const EngineConfig *cfg, Pg *pg, const Food__V1__PlaceOrder *req, const char *reply_to) {
        Food__V1__AuthorizePayment cmd = FOOD__V1__AUTHORIZE_PAYMENT__INIT;
        Food__V1__Correlation corr;
        NextOrder n;
        SagaRow row;
        char key[160];
        int r;

        memset(&row, 0, sizeof(row));
        food__v1__order__init(&n.order);
        r = next_order(&n, req->order, saga_state_name(SAGA_PAYMENT_PENDING), ids_now_ms());
        if (r < 0)
                return r;
        n.order.version = 1;
        n.order.amount_paid = 0;
        n.order.amount_refunded = 0;
        snprintf(row.order_id, sizeof(row.order_id), "%s", req->order->id);
        row.state = SAGA_PAYMENT_PENDING;
        snprintf(row.step, sizeof(row.step), "authorize");
        row.attempt = 1;
        row.version = 1;
        snprintf(row.card_token, sizeof(row.card_token), "%s", req->card_token);
        snprintf(row.reply_to, sizeof(row.reply_to), "%s", reply_to ? reply_to : "");

        corr_init(&corr, row.order_id, "authorize");
        snprintf(key, sizeof(key), "%s.authorize", row.order_id);
        cmd.corr = &corr;
        cmd.customer_id = n.order.customer_id;
        cmd.amount = n.order.total - n.order.discount;
        cmd.card_token = req->card_token;
        cmd.idempotency_key = key;
        r = saga_store_insert(pg, &row, &n.order, deadline_for(cfg, SAGA_PAYMENT_PENDING, n.order.updated_at_ms));
        if (r == 0)
                r = saga_store_outbox(pg, row.order_id, "authorize", &cmd.base, true);
        free(n.history);
        return r;
}

int engine_void_late_charge(Pg *pg, SagaRow *row, const char *payment_id, int64_t amount) {
        NextOrder n;
        int64_t expected = row->version;
        int r;

        if (row->state != SAGA_REJECTED || row->order->amount_paid != 0 || amount <= 0)
                return 0;
        r = next_order(&n, row->order, NULL, ids_now_ms());
        if (r < 0)
                return r;
        n.order.payment_id = (char *)payment_id;
        n.order.amount_paid = amount;
        log_warn("saga %s: charge %s of %" PRId64 " arrived after the order was rejected; refunding it",
                 row->order_id, payment_id, amount);
        row->version = n.order.version;
        r = emit_actions(pg, &n.order, SAGA_ACT_REFUND, &(EngineArgs){.reason = "payment arrived too late"});
        if (r == 0)
                r = emit_status(pg, &n.order, n.order.status);
        if (r == 0)
                r = saga_store_update(pg, row, &n.order, expected, 0);
        free(n.history);
        return r;
}
