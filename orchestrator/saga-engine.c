/* Applies saga decisions; what they produce goes to the caller's EngineOut hooks. */
#include "saga-engine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ids.h"
#include "log.h"
#include "order-json.h"

#define ENGINE_THANK_YOU_DEFAULT "주문해 주셔서 감사합니다! 맛있게 드세요. (Thank you for your order, enjoy your meal!)"

void engine_reply_clear(EngineReply *r) {
        free(r->data);
        memset(r, 0, sizeof(*r));
}

void engine_reply_each_abandoned(EngineReply *r, void (*fn)(void *ud, const char *inbox, const uint8_t *data,
                                                             size_t len),
                                 void *ud) {
        EngineReply conflict = {0};
        if (!r->abandoned[0] ||
            engine_reply_set(&conflict, 409, "Conflict",
                             "the order changed while the modification was being paid; it was not applied and "
                             "any extra charge is refunded",
                             NULL, 0) < 0)
                return;
        for (char *save = NULL, *inbox = strtok_r(r->abandoned, " ", &save); inbox; inbox = strtok_r(NULL, " ", &save))
                fn(ud, inbox, conflict.data, conflict.len);
        engine_reply_clear(&conflict);
        r->abandoned[0] = 0;
}

int engine_reply_message(EngineReply *r, const Food__V1__RpcReply *m) {
        free(r->data); /* keeps r->abandoned */
        r->data = NULL;
        r->len = 0;
        r->http_status = m->http_status;
        return codec_pack(&m->base, &r->data, &r->len);
}

/* When a request last came from a gateway of a build before order_view (no Food-Answer-Form header): while
 * such gateways may still be running (a rolling upgrade), answers carry the Order as well. */
#define ENGINE_LEGACY_MS (10 * 60 * 1000)
static _Atomic int64_t engine_legacy_at;

void engine_reply_legacy_seen(int64_t now_ms) {
        atomic_store(&engine_legacy_at, now_ms);
}

int engine_reply_set(EngineReply *r, int http_status, const char *title, const char *detail,
                     const Food__V1__Order *order, int retry_after_s) {
        Food__V1__RpcReply m = FOOD__V1__RPC_REPLY__INIT;
        char *view = NULL;
        int ret;
        m.http_status = http_status;
        m.title = (char *)(title ? title : "");
        m.detail = (char *)(detail ? detail : "");
        m.retry_after_s = retry_after_s;
        if (order) {
                /* The view the gateway sends as it is: it neither decodes the order nor writes its JSON. An
                 * order without a view (text that is not UTF-8) goes as it is, for the gateway to refuse. */
                int64_t legacy = atomic_load(&engine_legacy_at);
                if ((view = order_json_view(order, &m.order_view.len))) {
                        m.order_view.data = (uint8_t *)view;
                        m.order_id = order->id;
                        m.order_version = order->version;
                }
                if (!view || (legacy && ids_now_ms() - legacy < ENGINE_LEGACY_MS))
                        m.order = (Food__V1__Order *)order;
        }
        ret = engine_reply_message(r, &m);
        free(view);
        return ret;
}

/* A shallow copy of an order with a new status appended to its history (and
 * maybe a new charge); the copy borrows every string and sub-message of `cur`
 * except the arrays it grows. Free with next_order_free. */
typedef struct {
        Food__V1__Order order;
        Food__V1__StatusAt entry;
        Food__V1__StatusAt **history;
        Food__V1__Charge charge;
        Food__V1__Charge **charges;
} NextOrder;

static void next_order_free(NextOrder *n) {
        free(n->history);
        free(n->charges);
}

/* Records a new charge on the card: amount_paid grows by `amount`. */
static int next_order_add_charge(NextOrder *n, const char *payment_id, int64_t amount) {
        size_t k = n->order.n_charges;
        if (amount <= 0 || amount > INT64_MAX - n->order.amount_paid)
                return -ERANGE; /* no card charge is that large: a forged or broken reply */
        n->charges = malloc((k + 1) * sizeof(*n->charges));
        if (!n->charges)
                return -ENOMEM;
        if (k)
                memcpy(n->charges, n->order.charges, k * sizeof(*n->charges));
        food__v1__charge__init(&n->charge);
        n->charge.payment_id = (char *)payment_id;
        n->charge.amount = amount;
        n->charges[k] = &n->charge;
        n->order.charges = n->charges;
        n->order.n_charges = k + 1;
        n->order.amount_paid += amount;
        n->order.payment_id = (char *)payment_id;
        return 0;
}

static Food__V1__Charge *find_charge(const Food__V1__Order *o, const char *payment_id) {
        for (size_t i = 0; i < o->n_charges; i++)
                if (strcmp(o->charges[i]->payment_id, payment_id) == 0)
                        return o->charges[i];
        return NULL;
}

static int next_order(NextOrder *n, const Food__V1__Order *cur, const char *status, int64_t now_ms) {
        n->order = *cur;
        n->history = NULL;
        n->charges = NULL;
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

/* A command of `step_name` for order `o` (the new snapshot) into `c`, and to the writer. */
static int emit_command(const EngineOut *out, SagaRow *row, const Food__V1__Order *o, const char *step_name,
                        int64_t coupon_discount, StepCommand *c) {
        const SagaStep *step = saga_step(step_name);
        int r = step ? saga_step_command(step, o, o->version, coupon_discount, c) : -EINVAL;
        return r < 0 ? r : out->command(out->ud, row, step, c);
}

static int emit_status(const EngineOut *out, SagaRow *row, const Food__V1__Order *o, const char *previous) {
        return out->status(out->ud, row, o, previous);
}

/* Asks for `amount` back (all that is left when amount < 0), from the latest
 * charge first, one RefundPayment per charge, each with its own provider-side
 * key "<key_prefix>.<payment_id>" so that re-sends never pay twice. Marks the
 * amounts as being refunded on the charges (which `o` shares with its
 * snapshot; they are written with it). */
static int emit_refunds(const EngineOut *out, SagaRow *row, const Food__V1__Order *o, int64_t amount,
                        const char *key_prefix, const char *reason) {
        StepCommand c;
        char key[200];
        int r = 0;

        for (size_t i = o->n_charges; i-- > 0 && r == 0 && amount != 0;) {
                Food__V1__Charge *ch = o->charges[i];
                int64_t left = ch->amount - ch->refunded - ch->refunding;
                int64_t take = amount < 0 || amount > left ? left : amount;
                if (take <= 0)
                        continue;
                r = saga_step_command(saga_step("refund"), o, o->version, 0, &c);
                if (r < 0)
                        break;
                snprintf(key, sizeof(key), "%s.%s", key_prefix, ch->payment_id);
                food__v1__refund_payment__init(&c.m.refund_payment);
                c.m.refund_payment.corr = &c.corr;
                c.m.refund_payment.payment_id = ch->payment_id;
                c.m.refund_payment.amount = take;
                c.m.refund_payment.reason = (char *)reason;
                c.m.refund_payment.idempotency_key = key;
                r = codec_command_wrap(&c.command, &c.m.refund_payment.base);
                if (r == 0)
                        r = out->command(out->ud, row, saga_step("refund"), &c);
                ch->refunding += take;
                if (amount > 0)
                        amount -= take;
        }
        return r;
}

/* Emits the commands of `actions` for order `o` (the new snapshot). */
static int emit_actions(const EngineConfig *cfg, const EngineOut *out, SagaRow *row, const Food__V1__Order *o,
                        unsigned actions, const EngineArgs *args) {
        int64_t discount = cfg ? cfg->cooked_coupon_discount : 0;
        StepCommand c;
        char key[160], text[256];
        int r = 0;

        if (actions & SAGA_ACT_CREATE_TICKET)
                r = emit_command(out, row, o, "create_ticket", 0, &c);
        if (r == 0 && (actions & SAGA_ACT_UPDATE_TICKET))
                r = emit_command(out, row, o, "update_ticket", 0, &c);
        if (r == 0 && (actions & SAGA_ACT_WITHDRAW_TICKET))
                r = emit_command(out, row, o, "withdraw_ticket", 0, &c);
        if (r == 0 && (actions & SAGA_ACT_REFUND)) {
                snprintf(key, sizeof(key), "%s.refund", o->id);
                r = emit_refunds(out, row, o, -1, key, args && args->reason ? args->reason : o->status);
        }
        if (r == 0 && (actions & SAGA_ACT_OPEN_DELIVERY))
                r = emit_command(out, row, o, "open_delivery", 0, &c);
        if (r == 0 && (actions & SAGA_ACT_ASSIGN_RIDER))
                r = emit_command(out, row, o, "assign_rider", 0, &c);
        if (r == 0 && (actions & SAGA_ACT_COMPLETE_DELIVERY))
                r = emit_command(out, row, o, "complete_delivery", 0, &c);
        /* A coupon is given back only if the order actually used it. */
        if (r == 0 && (actions & SAGA_ACT_RETURN_COUPON) && *o->coupon_id && o->discount > 0)
                r = emit_command(out, row, o, "return_coupon", 0, &c);
        if (r == 0 && (actions & SAGA_ACT_ISSUE_COUPON) && discount > 0) {
                r = emit_command(out, row, o, "issue_coupon", discount, &c);
                snprintf(text, sizeof(text), "쿠폰이 발급되었습니다: %" PRId64 "원 할인 (A %" PRId64 " KRW coupon for your next order here)",
                         discount, discount);
                if (r == 0)
                        r = out->notice(out->ud, row, "COUPON", text);
        }
        if (r == 0 && (actions & SAGA_ACT_THANK_CUSTOMER))
                r = out->notice(out->ud, row, "THANK_YOU", *o->store_message ? o->store_message : ENGINE_THANK_YOU_DEFAULT);
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

int engine_apply(const EngineConfig *cfg, const EngineOut *out, SagaRow *row, SagaInput in, const EngineArgs *args,
                 EngineReply *reply) {
        SagaDecision d;
        NextOrder n;
        SagaState from = row->state;
        int64_t now = ids_now_ms();
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
        if (in == SAGA_IN_PAYMENT_AUTHORIZED && args->amount > 0)
                r = next_order_add_charge(&n, args->payment_id, args->amount);
        if (args && args->reason && *args->reason)
                n.order.reason = (char *)args->reason;
        if (d.next == SAGA_REJECTED) /* what rejected it: the answer to the order's every repeat */
                n.order.rejection = (char *)(args && args->rejection ? args->rejection
                                             : in == SAGA_IN_PAYMENT_FAILED ? "unavailable"
                                                                            : "declined");

        SagaDecision still;
        row->state = d.next;
        if (row->pending && saga_decide(d.next, SAGA_IN_MODIFY, &still) == 0) {
                /* A modification being paid stays valid in the new state (PAID ->
                 * ACCEPTED): it goes on waiting for its charge. */
        } else {
                if (row->pending) {
                        /* The modification loses to this transition: its charge, if
                         * it lands, is refunded (late charge), and whoever waits for
                         * it is told (reply->abandoned, answered 409). */
                        snprintf(reply->abandoned, sizeof(reply->abandoned), "%s", row->reply_to);
                        row->reply_to[0] = 0;
                        codec_free(&row->pending->base);
                        row->pending = NULL;
                }
                row->step[0] = 0; /* a transition ends any awaited step (a later answer is voided) */
                row->step_deadline_ms = 0;
        }
        if (r == 0)
                r = emit_actions(cfg, out, row, &n.order, d.actions, args);
        if (r == 0)
                r = emit_status(out, row, &n.order, saga_state_name(from));
        if (r == 0)
                r = out->saga(out->ud, row, &n.order, deadline_for(cfg, d.next, now));
        if (r == 0)
                r = engine_reply_set(reply, in == SAGA_IN_PAYMENT_AUTHORIZED ? 201 : 200, NULL, NULL, &n.order, 0);
        next_order_free(&n);
        return r;
}

EnginePayment engine_payment_reply(const SagaRow *row, const ProtobufCMessage *m, const Food__V1__Correlation *corr,
                                   SagaInput *in, EngineArgs *args) {
        bool modifying = strcmp(corr->step, "modify_charge") == 0;
        bool authorized = m->descriptor == &food__v1__payment_authorized__descriptor;

        if (authorized && strcmp(row->step, corr->step) != 0)
                return ENGINE_PAY_LATE_CHARGE; /* the saga no longer waits for this charge */
        /* Any try of the awaited command answers it: every try carries the same provider key. */
        if ((!modifying && row->state != SAGA_PAYMENT_PENDING) || strcmp(row->step, corr->step) != 0)
                return ENGINE_PAY_STALE;
        memset(args, 0, sizeof(*args));
        if (authorized) {
                const Food__V1__PaymentAuthorized *a = (const Food__V1__PaymentAuthorized *)m;
                *in = SAGA_IN_PAYMENT_AUTHORIZED;
                args->payment_id = a->payment_id;
                args->amount = a->amount;
        } else
                *in = m->descriptor == &food__v1__payment_declined__descriptor ? SAGA_IN_PAYMENT_DECLINED
                                                                               : SAGA_IN_PAYMENT_FAILED;
        return modifying ? ENGINE_PAY_MODIFY : ENGINE_PAY_APPLY;
}

int64_t engine_coupon_discount(const Food__V1__Order *o, int64_t redeemed) {
        if (redeemed <= 0)
                return 0; /* a negative discount would charge the card more than the order costs */
        return redeemed < o->total ? redeemed : o->total;
}

bool engine_refund_fits(const Food__V1__Order *o, const char *payment_id, int64_t amount) {
        const Food__V1__Charge *c = find_charge(o, payment_id ? payment_id : "");
        return c && amount > 0 && amount <= c->amount - c->refunded; /* refunded <= amount: no overflow */
}

int engine_refunded(const EngineOut *out, SagaRow *row, const char *payment_id, int64_t amount) {
        Food__V1__Charge *c = find_charge(row->order, payment_id ? payment_id : "");
        NextOrder n;
        int r;

        if (!engine_refund_fits(row->order, payment_id, amount)) {
                log_error("saga %s: refund of %" PRId64 " on charge %s does not match what was charged; ignored",
                          row->order_id, amount, payment_id ? payment_id : "?");
                return 0;
        }
        r = next_order(&n, row->order, NULL, ids_now_ms());
        if (r < 0)
                return r;
        c->refunded += amount;
        c->refunding = c->refunding > amount ? c->refunding - amount : 0;
        n.order.amount_refunded += amount;
        r = emit_status(out, row, &n.order, n.order.status);
        if (r == 0)
                r = out->saga(out->ud, row, &n.order, ENGINE_KEEP_DEADLINE);
        next_order_free(&n);
        return r;
}

/* The card payment of a placed order (after its coupon, if any): what is left to pay, under one
 * provider key per order. */
static int emit_authorize(const EngineOut *out, SagaRow *row, const Food__V1__Order *o) {
        StepCommand c;
        char key[160];
        int r = saga_step_command(saga_step("authorize"), o, o->version, 0, &c);
        if (r < 0)
                return r;
        snprintf(key, sizeof(key), "%s.authorize", o->id);
        food__v1__authorize_payment__init(&c.m.authorize_payment);
        c.m.authorize_payment.corr = &c.corr;
        c.m.authorize_payment.customer_id = o->customer_id;
        c.m.authorize_payment.amount = o->total - o->discount;
        c.m.authorize_payment.card_token = row->card_token;
        c.m.authorize_payment.idempotency_key = key;
        r = codec_command_wrap(&c.command, &c.m.authorize_payment.base);
        return r < 0 ? r : out->command(out->ud, row, saga_step("authorize"), &c);
}

int engine_start(const EngineConfig *cfg, const EngineOut *out, SagaRow *row, const Food__V1__PlaceOrder *req,
                 const char *reply_to, const char *traceparent) {
        bool coupon = *req->order->coupon_id;
        StepCommand c;
        NextOrder n;
        int r;

        r = next_order(&n, req->order, saga_state_name(SAGA_PAYMENT_PENDING), ids_now_ms());
        if (r < 0)
                return r;
        n.order.version = 1;
        n.order.traceparent = (char *)(ids_traceparent_valid(traceparent) ? traceparent : "");
        n.order.discount = 0; /* known once the coupon is redeemed */
        n.order.amount_paid = 0;
        n.order.amount_refunded = 0;
        row->state = SAGA_PAYMENT_PENDING;
        /* A coupon is redeemed first: payment is for what is left to pay. */
        snprintf(row->step, sizeof(row->step), "%s", coupon ? "redeem_coupon" : "authorize");
        row->attempt = 1;
        snprintf(row->card_token, sizeof(row->card_token), "%s", req->card_token ? req->card_token : "");
        snprintf(row->reply_to, sizeof(row->reply_to), "%s", reply_to ? reply_to : "");

        r = out->saga(out->ud, row, &n.order, deadline_for(cfg, SAGA_PAYMENT_PENDING, n.order.updated_at_ms));
        if (r == 0 && coupon)
                r = emit_command(out, row, row->order, "redeem_coupon", 0, &c);
        else if (r == 0)
                r = emit_authorize(out, row, row->order);
        next_order_free(&n);
        return r;
}

int engine_reply_rejected(const Food__V1__Order *o, bool repeat, EngineReply *reply) {
        if (strcmp(o->rejection, "coupon") == 0) {
                char detail[200];
                snprintf(detail, sizeof(detail), "coupon %s cannot be used: %s; no order was placed", o->coupon_id,
                         o->reason);
                return engine_reply_set(reply, 422, "Invalid coupon", detail, NULL, 0);
        }
        if (strcmp(o->rejection, "unavailable") == 0 && repeat)
                return engine_reply_set(reply, 402, "Payment failed",
                                        "the payment provider was unavailable; nothing was charged and no order was "
                                        "placed; place it again with a new Idempotency-Key",
                                        NULL, 0);
        if (strcmp(o->rejection, "unavailable") == 0)
                return engine_reply_set(reply, 503, "Pay later",
                                        "the payment provider is unavailable; nothing was charged, try again later",
                                        NULL, 5);
        return engine_reply_set(reply, 402, "Payment declined", "the card was declined; no order was placed", NULL, 0);
}

int engine_coupon_outcome(const EngineConfig *cfg, const EngineOut *out, SagaRow *row, const ProtobufCMessage *m,
                          EngineReply *reply) {
        if (m->descriptor == &food__v1__coupon_rejected__descriptor) {
                const Food__V1__CouponRejected *rej = (const Food__V1__CouponRejected *)m;
                int r = engine_apply(cfg, out, row, SAGA_IN_PAYMENT_DECLINED,
                                     &(EngineArgs){.reason = rej->reason, .rejection = "coupon"}, reply);
                return r == 0 ? engine_reply_rejected(row->order, false, reply) : r;
        }
        const Food__V1__CouponRedeemed *red = (const Food__V1__CouponRedeemed *)m;
        /* Still PAYMENT_PENDING, never published: the snapshot changes in place. */
        row->order->discount = engine_coupon_discount(row->order, red->discount);
        if (row->order->total - row->order->discount == 0) /* the coupon pays it all: nothing to charge */
                return engine_apply(cfg, out, row, SAGA_IN_PAYMENT_AUTHORIZED, &(EngineArgs){.payment_id = ""}, reply);
        snprintf(row->step, sizeof(row->step), "authorize");
        row->attempt = 1;
        int r = out->saga(out->ud, row, row->order, ENGINE_KEEP_DEADLINE);
        if (r == 0)
                r = emit_authorize(out, row, row->order);
        return r; /* answered when the payment outcome arrives */
}

int engine_late_charge(const EngineOut *out, SagaRow *row, const char *step, const char *payment_id,
                       int64_t amount) {
        NextOrder n;
        char key[160];
        int r;

        /* Known already (a repeated answer): nothing more to do. */
        if (amount <= 0 || !payment_id || !*payment_id || find_charge(row->order, payment_id))
                return 0;
        r = next_order(&n, row->order, NULL, ids_now_ms());
        if (r == 0)
                r = next_order_add_charge(&n, payment_id, amount);
        if (r < 0) {
                next_order_free(&n);
                return r;
        }
        log_warn("saga %s: charge %s of %" PRId64 " arrived after its step (%s) was given up; refunding it",
                 row->order_id, payment_id, amount, step);
        snprintf(key, sizeof(key), "%s.void", row->order_id);
        r = emit_refunds(out, row, &n.order, amount, key, "payment arrived too late");
        if (r == 0)
                r = emit_status(out, row, &n.order, n.order.status);
        if (r == 0)
                r = out->saga(out->ud, row, &n.order, ENGINE_KEEP_DEADLINE);
        next_order_free(&n);
        return r;
}

/* Applies a modification to the saga: new items/total, address or note;
 * `payment_id` (may be NULL) is the extra charge that paid for it; a lower
 * total is refunded. The ticket follows; the status does not change. */
static int apply_modification(const EngineOut *out, SagaRow *row, const Food__V1__ModifyOrder *req,
                              const char *payment_id, int64_t charged, EngineReply *reply) {
        NextOrder n;
        StepCommand c;
        int64_t diff;
        char key[160];
        /* `req` may be the saga's own pending modification: keep it alive
         * until the new snapshot (which borrows from it) is written. */
        Food__V1__ModifyOrder *pending = row->pending;
        int r = next_order(&n, row->order, NULL, ids_now_ms());
        if (r < 0)
                return r;
        row->pending = NULL;
        if (req->has_items) {
                n.order.items = req->items;
                n.order.n_items = req->n_items;
                n.order.total = req->total;
        }
        if (req->has_address)
                n.order.address = req->address;
        if (req->has_note)
                n.order.note = req->note;
        diff = n.order.total - row->order->total;
        if (payment_id)
                r = next_order_add_charge(&n, payment_id, charged);
        row->step[0] = 0;
        row->step_deadline_ms = 0;
        if (r == 0 && diff < 0) {
                snprintf(key, sizeof(key), "%s.modify.%" PRId64, row->order_id, n.order.version);
                r = emit_refunds(out, row, &n.order, -diff, key, "order modified");
        }
        if (r == 0)
                r = emit_command(out, row, &n.order, "update_ticket", 0, &c);
        if (r == 0)
                r = emit_status(out, row, &n.order, n.order.status);
        if (r == 0)
                r = out->saga(out->ud, row, &n.order, ENGINE_KEEP_DEADLINE);
        if (r == 0)
                r = engine_reply_set(reply, 200, NULL, NULL, &n.order, 0);
        next_order_free(&n);
        codec_free(pending ? &pending->base : NULL);
        return r;
}

int engine_modify(const EngineConfig *cfg, const EngineOut *out, SagaRow *row, const Food__V1__ModifyOrder *req,
                  const char *reply_to, EngineReply *reply) {
        ProtobufCMessage *copy = NULL;
        SagaDecision d;
        StepCommand c;
        uint8_t *buf = NULL;
        size_t len = 0;
        char key[160], detail[160];
        int64_t diff;
        int r;

        if (saga_decide(row->state, SAGA_IN_MODIFY, &d) != 0) {
                snprintf(detail, sizeof(detail), "order %s is %s; it can no longer be modified", row->order_id,
                         saga_state_name(row->state));
                r = engine_reply_set(reply, 409, "Conflict", detail, row->order, 0);
                return r < 0 ? r : SAGA_CONFLICT;
        }
        if (row->step[0]) {
                r = engine_reply_set(reply, 409, "Conflict",
                                     "a previous modification of this order is still being paid; retry shortly",
                                     row->order, 0);
                return r < 0 ? r : SAGA_CONFLICT;
        }
        if (req->has_items && req->total < 0)
                return engine_reply_set(reply, 400, "Bad request", "negative total", NULL, 0);
        diff = req->has_items ? req->total - row->order->total : 0;
        if (diff <= 0)
                return apply_modification(out, row, req, NULL, 0, reply);

        /* The extra amount is charged first; the order changes only if it is paid. */
        r = codec_pack(&req->base, &buf, &len);
        if (r == 0)
                r = codec_unpack(&food__v1__modify_order__descriptor, buf, len, &copy);
        free(buf);
        if (r < 0)
                return r;
        codec_free(row->pending ? &row->pending->base : NULL);
        row->pending = (Food__V1__ModifyOrder *)copy;
        snprintf(row->step, sizeof(row->step), "modify_charge");
        row->attempt = 1;
        row->step_deadline_ms = ids_now_ms() + cfg->payment_timeout_ms;
        snprintf(row->reply_to, sizeof(row->reply_to), "%s", reply_to ? reply_to : "");
        r = saga_step_command(saga_step("modify_charge"), row->order, row->version, 0, &c);
        if (r < 0)
                return r;
        /* One provider-side key per modification request (re-sends of this
         * command keep it; a retry after a decline is a new request). */
        snprintf(key, sizeof(key), "%s.modify.%" PRId64 ".%" PRId64, row->order_id, row->version, ids_now_ms());
        food__v1__authorize_payment__init(&c.m.authorize_payment);
        c.m.authorize_payment.corr = &c.corr;
        c.m.authorize_payment.customer_id = row->order->customer_id;
        c.m.authorize_payment.amount = diff;
        c.m.authorize_payment.card_token = req->card_token && *req->card_token ? req->card_token : row->card_token;
        c.m.authorize_payment.idempotency_key = key;
        r = codec_command_wrap(&c.command, &c.m.authorize_payment.base);
        if (r == 0)
                r = out->command(out->ud, row, saga_step("modify_charge"), &c);
        if (r == 0)
                r = out->saga(out->ud, row, row->order, ENGINE_KEEP_DEADLINE);
        return r; /* answered when the payment outcome arrives */
}

int engine_modify_outcome(const EngineOut *out, SagaRow *row, SagaInput in, const EngineArgs *args,
                          EngineReply *reply) {
        int r;
        if (!row->pending)
                return 0;
        if (in == SAGA_IN_PAYMENT_AUTHORIZED)
                return apply_modification(out, row, row->pending, args->payment_id, args->amount, reply);
        /* Declined or failed: the order stays as it was. */
        row->step[0] = 0;
        row->step_deadline_ms = 0;
        codec_free(&row->pending->base);
        row->pending = NULL;
        r = out->saga(out->ud, row, row->order, ENGINE_KEEP_DEADLINE);
        if (r == 0 && in == SAGA_IN_PAYMENT_DECLINED)
                r = engine_reply_set(reply, 402, "Payment declined",
                                     "the extra charge was declined; the order is unchanged", NULL, 0);
        else if (r == 0)
                r = engine_reply_set(reply, 503, "Pay later",
                                     "the payment provider is unavailable; the order is unchanged, try again later",
                                     NULL, 5);
        return r;
}
