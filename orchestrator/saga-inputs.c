/* What each input means for the sagas: the gateway's requests (place,
 * actions, modify, a store's coupon, saga queries), the workers' answers, and
 * the timers and re-sends that fall due. Decided with the engine into the
 * writer's batch; answered only after its commit. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"
#include "metrics.h"
#include "saga-admin.h"
#include "saga-requests.h"

_Static_assert(sizeof(((SagaRow *)0)->order_id) > RPC_ORDER_ID_MAX, "a saga row holds every valid order id");
#include "saga-writer.h"
#include "worker.h"

static Metric *m_replies, *m_stale, *m_timers, *m_resent, *m_comp_failed;

void inputs_metrics_init(void) {
        m_replies = metrics_counter("food_saga_replies_total", "Worker answers applied by the orchestrator");
        m_stale = metrics_counter("food_saga_replies_stale_total",
                                  "Answers to commands no longer awaited (answered before, or superseded)");
        m_timers = metrics_counter("food_saga_timers_fired_total", "Durable saga timers fired");
        m_resent = metrics_counter("food_commands_resent_total", "Commands re-sent after no answer");
        m_comp_failed = metrics_counter("food_saga_compensation_failed_total",
                                        "Sagas whose compensation ran out of tries (COMPENSATION_FAILED)");
        worker_poison_init();
}

/* Answers `in` (an RPC) with `reply` after the commit. */
static void answer_rpc(Writer *w, const Input *in, const EngineReply *reply) {
        writer_answer(w, natsMsg_GetReply(in->msg), reply->data, reply->len);
}

static void answer_abandoned(void *ud, const char *inbox, const uint8_t *data, size_t len) {
        writer_answer(ud, inbox, data, len);
}

/* Every request waiting on this saga's payment (row->reply_to, taken) gets `reply`. */
static void answer_waiters(Writer *w, const char *waiters, EngineReply *reply) {
        char copy[SAGA_REPLY_TO_MAX];
        snprintf(copy, sizeof(copy), "%s", waiters);
        for (char *save = NULL, *inbox = strtok_r(copy, " ", &save); inbox && reply->data;
             inbox = strtok_r(NULL, " ", &save))
                writer_answer(w, inbox, reply->data, reply->len);
}

void inputs_unavailable(Writer *w, Input *in) {
        EngineReply reply = {0};
        const char *to = natsMsg_GetReply(in->msg);
        if (in->kind == IN_ANSWERS || !to || !*to)
                return;
        if (engine_reply_set(&reply, 503, "Service unavailable",
                             "the order service could not record the decision; try again", NULL, 1) == 0)
                (void)bus_publish_core(w->o->svc.bus, to, food__v1__rpc_reply__descriptor.name, reply.data, reply.len);
        engine_reply_clear(&reply);
}

/* ---- requests --------------------------------------------------------------------- */

/* Whether `reply_to` is the request that made the saga's last change: the same message decided again,
 * after a lost session left its batch's commit unconfirmed (it did commit). */
static bool rpc_repeated(const SagaRow *row, const char *reply_to) {
        return reply_to && *reply_to && strcmp(row->last_request, reply_to) == 0;
}

/* Remembers the request whose decision this batch writes. */
static void rpc_applied(SagaRow *row, const char *reply_to, const EngineReply *reply) {
        if (reply_to && reply->http_status == 200)
                snprintf(row->last_request, sizeof(row->last_request), "%s", reply_to);
}

static int rpc_action(Writer *w, const Input *in, const Food__V1__OrderAction *a, EngineReply *reply) {
        const RpcActionDef *def = rpc_action_find(a->action);
        EngineArgs args = {.rider_id = a->actor_id, .reason = a->reason};
        int r;

        if (!def)
                return engine_reply_set(reply, 400, "Bad request", "unknown order action", NULL, 0);
        SagaRow *row = writer_saga(w, a->order_id, &r);
        if (r < 0)
                return r;
        if (!row || !rpc_actor_owns(a, def, row->order) || row->state == SAGA_PAYMENT_PENDING)
                return engine_reply_set(reply, 404, "Not found", "no such order", NULL, 0);
        /* Only a picked delivery has a rider; before that "delivered" is simply not allowed (409). */
        if (def->input == SAGA_IN_DELIVERED && *row->order->rider_id && strcmp(row->order->rider_id, a->actor_id) != 0 &&
            strcmp(a->actor_role, "admin") != 0)
                return engine_reply_set(reply, 403, "Forbidden", "this delivery was picked by another rider", NULL, 0);
        const char *reply_to = natsMsg_GetReply(in->msg);
        if (rpc_repeated(row, reply_to))
                return engine_reply_set(reply, 200, NULL, NULL, row->order, 0);
        r = engine_apply(&w->o->engine, &w->out, row, def->input, &args, reply);
        if (r == 0)
                rpc_applied(row, reply_to, reply);
        if (r == SAGA_CONFLICT && def->input == SAGA_IN_PICK)
                r = engine_reply_set(reply, 409, "Conflict",
                                     row->state == SAGA_PICKED_UP ? "this delivery was already picked by a rider"
                                                                  : "this delivery is not open",
                                     NULL, 0);
        engine_reply_each_abandoned(reply, answer_abandoned, w);
        return r == SAGA_CONFLICT ? 0 : r;
}

/* A place whose order exists: answered from it, or, while it is being paid, answered with the payment outcome. */
static int rpc_place_existing(Writer *w, SagaRow *row, const char *reply_to, EngineReply *reply) {
        if (row->state == SAGA_PAYMENT_PENDING) {
                /* Still paying: this request waits for the outcome too. */
                size_t used = strlen(row->reply_to);
                if (!reply_to || used + strlen(reply_to) + 2 > sizeof(row->reply_to))
                        return engine_reply_set(reply, 409, "Request in progress",
                                                "an order with this Idempotency-Key is being paid; retry shortly", NULL,
                                                0);
                snprintf(row->reply_to + used, sizeof(row->reply_to) - used, "%s%s", used ? " " : "", reply_to);
                writer_touch(w, row); /* stored: a new owner answers this waiter too */
                return 0;
        }
        if (row->state == SAGA_REJECTED)
                return engine_reply_rejected(row->order, true, reply);
        return engine_reply_set(reply, 201, NULL, NULL, row->order, 0);
}

/* Starts the saga, or answers a repeated Idempotency-Key from what exists. Leaves reply->data
 * NULL when the answer comes later (the payment outcome). */
static int rpc_place(Writer *w, const Input *in, const Food__V1__PlaceOrder *p, EngineReply *reply) {
        const char *invalid = rpc_place_invalid(p);
        const char *reply_to = natsMsg_GetReply(in->msg);
        const KeySlot *key = NULL;
        SagaRow *row;
        int r;

        if (invalid) {
                worker_poison_count(natsMsg_GetSubject(in->msg));
                log_warn("rpc: refusing a place request on %s: %s", natsMsg_GetSubject(in->msg), invalid);
                return engine_reply_set(reply, 400, "Bad request", invalid, NULL, 0);
        }
        if (*p->idempotency_key)
                key = writer_key_find(w, p->order->customer_id, p->idempotency_key);
        if (key) {
                if (strcmp(key->hash, p->request_hash) != 0)
                        return engine_reply_set(reply, 422, "Idempotency key reused",
                                                "this Idempotency-Key was used with a different request", NULL, 0);
                row = writer_saga(w, key->order_id, &r);
                if (r < 0)
                        return r;
                if (row)
                        return rpc_place_existing(w, row, reply_to, reply);
                /* Noted by a batch that never committed: the key is not claimed after all. */
        }
        if (writer_has_saga(w, p->order->id)) { /* in memory only: a new order costs no look-up */
                row = writer_saga(w, p->order->id, &r);
                if (r < 0)
                        return r;
                /* The gateway makes every order id afresh: an existing one is this very request decided again (its
                 * batch committed, then the session was lost before the writer heard so; its key is not in memory
                 * after the shards were taken again). Another customer's id is refused. */
                if (strcmp(row->order->customer_id, p->order->customer_id) != 0)
                        return engine_reply_set(reply, 409, "Conflict", "an order with this id exists", NULL, 0);
                return rpc_place_existing(w, row, reply_to, reply);
        }
        row = writer_new_saga(w, p->order->id);
        if (!row)
                return -ENOMEM;
        r = engine_start(&w->o->engine, &w->out, row, p, reply_to, bus_header(in->msg, BUS_HDR_TRACE));
        if (r == 0 && *p->idempotency_key) {
                saga_batch_key(&w->batch, p->order->customer_id, p->idempotency_key, p->order->id, p->request_hash);
                writer_key_note(w, p->order->customer_id, p->idempotency_key, p->order->id, p->request_hash);
        }
        return r; /* answered when the payment outcome arrives */
}

static int rpc_modify(Writer *w, const Input *in, const Food__V1__ModifyOrder *req, EngineReply *reply) {
        int r;
        if (*req->card_token && !ids_card_token_valid(req->card_token))
                return engine_reply_set(reply, 400, "Bad request",
                                        "card token over 128 characters or not printable ASCII", NULL, 0);
        SagaRow *row = writer_saga(w, req->order_id, &r);
        if (r < 0)
                return r;
        if (!row || strcmp(row->order->customer_id, req->customer_id) != 0 || row->state == SAGA_PAYMENT_PENDING)
                return engine_reply_set(reply, 404, "Not found", "no such order", NULL, 0);
        const char *reply_to = natsMsg_GetReply(in->msg);
        if (rpc_repeated(row, reply_to))
                return engine_reply_set(reply, 200, NULL, NULL, row->order, 0);
        r = engine_modify(&w->o->engine, &w->out, row, req, reply_to, reply);
        if (r == 0)
                rpc_applied(row, reply_to, reply);
        return r == SAGA_CONFLICT ? 0 : r;
}

/* A store owner's coupon for a customer: the coupon worker records it, the customer is told. */
static int rpc_coupon(Writer *w, const Food__V1__GrantCoupon *g, EngineReply *reply) {
        Food__V1__IssueCoupon issue = FOOD__V1__ISSUE_COUPON__INIT;
        Food__V1__Correlation corr = FOOD__V1__CORRELATION__INIT; /* no saga: no answer awaited */
        Food__V1__Command cmd;
        char message[256], key[96];
        int r;

        if (!*g->coupon_id || !*g->customer_id || !*g->store_id || g->discount <= 0)
                return engine_reply_set(reply, 400, "Bad request", "incomplete coupon", NULL, 0);
        if (strlen(g->coupon_id) > WRITER_LOOSE_ID_MAX)
                return engine_reply_set(reply, 400, "Bad request", "coupon id over 63 characters", NULL, 0);
        issue.corr = &corr;
        issue.coupon_id = g->coupon_id;
        issue.customer_id = g->customer_id;
        issue.store_id = g->store_id;
        issue.discount = g->discount;
        snprintf(message, sizeof(message), "쿠폰이 도착했습니다: %" PRId64 "원 할인 (A %" PRId64 " KRW coupon from %s)",
                 g->discount, g->discount, g->store_id);
        r = codec_command_wrap(&cmd, &issue.base);
        if (r == 0)
                r = writer_loose_command(w, "coupon", g->coupon_id, ids_shard(g->customer_id), &cmd);
        /* Keyed by the coupon: a grant decided again (a session lost after its commit) notifies once. */
        snprintf(key, sizeof(key), "grant-%s", g->coupon_id);
        if (r == 0)
                r = writer_notification(w, key, g->customer_id, NULL, "COUPON", message, w->now_ms);
        return r < 0 ? r : engine_reply_set(reply, 201, NULL, NULL, NULL, 0);
}

static int rpc_saga(Writer *w, const Food__V1__SagaQuery *q, EngineReply *reply) {
        Food__V1__RpcReply m = FOOD__V1__RPC_REPLY__INIT;
        int r;
        SagaRow *row = *q->order_id ? writer_saga(w, q->order_id, &r) : (r = 0, NULL);
        if (r < 0)
                return r;
        if (strcmp(q->query, "show") == 0)
                return row ? saga_admin_show(row, reply)
                           : engine_reply_set(reply, 404, "Not found", "no saga for this order", NULL, 0);
        if (strcmp(q->query, "redrive") == 0) {
                /* Unknown or settled: nothing waits, nothing is redriven. */
                m.http_status = 200;
                if (row && saga_admin_redrive(row, w->now_ms)) {
                        m.affected = 1;
                        writer_touch(w, row);
                }
                return engine_reply_message(reply, &m);
        }
        return engine_reply_set(reply, 400, "Bad request", "query must be show or redrive (stuck: any orchestrator)",
                                NULL, 0);
}

/* Decodes a request by its Food-Type; NULL (poison: counted, logged) when it is not one its subject carries. */
static ProtobufCMessage *rpc_decode(const Input *in) {
        const char *type_name = bus_header(in->msg, BUS_HDR_TYPE);
        const CodecType *type = type_name ? codec_type_by_name(type_name) : NULL;
        ProtobufCMessage *m = NULL;

        if (type && codec_unpack(type->desc, natsMsg_GetData(in->msg), (size_t)natsMsg_GetDataLength(in->msg), &m) == 0 &&
            codec_subject_fits(m, natsMsg_GetSubject(in->msg)))
                return m;
        worker_poison_count(natsMsg_GetSubject(in->msg));
        log_warn("rpc: refusing a request on %s (type %.128s, %d bytes): %s", natsMsg_GetSubject(in->msg),
                 type_name ? type_name : "none", natsMsg_GetDataLength(in->msg),
                 m ? "Food-Type does not match the subject" : "unknown Food-Type or undecodable payload");
        codec_free(m);
        return NULL;
}

static int rpc_handle(Writer *w, Input *in) {
        EngineReply reply = {0};
        ProtobufCMessage *m = rpc_decode(in);
        int r;

        if (!m)
                r = engine_reply_set(&reply, 400, "Bad request", "undecodable request", NULL, 0);
        else if (in->kind == IN_STUCK)
                r = m->descriptor == &food__v1__saga_query__descriptor
                            ? saga_admin_stuck(w->pg, (Food__V1__SagaQuery *)m, &reply)
                            : engine_reply_set(&reply, 400, "Bad request", "expected a SagaQuery", NULL, 0);
        else if (m->descriptor == &food__v1__place_order__descriptor)
                r = rpc_place(w, in, (Food__V1__PlaceOrder *)m, &reply);
        else if (m->descriptor == &food__v1__order_action__descriptor)
                r = rpc_action(w, in, (Food__V1__OrderAction *)m, &reply);
        else if (m->descriptor == &food__v1__modify_order__descriptor)
                r = rpc_modify(w, in, (Food__V1__ModifyOrder *)m, &reply);
        else if (m->descriptor == &food__v1__grant_coupon__descriptor)
                r = rpc_coupon(w, (Food__V1__GrantCoupon *)m, &reply);
        else if (m->descriptor == &food__v1__saga_query__descriptor)
                r = rpc_saga(w, (Food__V1__SagaQuery *)m, &reply);
        else
                r = engine_reply_set(&reply, 400, "Bad request", "unexpected request type", NULL, 0);
        if (r >= 0 && reply.data)
                answer_rpc(w, in, &reply);
        engine_reply_clear(&reply);
        codec_free(m);
        return r < 0 ? r : 0;
}

/* ---- workers' answers ------------------------------------------------------------------ */

static bool compensation_waiting(const SagaRow *row) {
        for (size_t i = 0; i < row->n_commands; i++)
                if (row->commands[i].step->compensation)
                        return true;
        return false;
}

/* A payment outcome for the saga (its command answered). */
static int on_payment(Writer *w, SagaRow *row, const ProtobufCMessage *m, const Food__V1__Correlation *corr) {
        EngineReply reply = {0};
        EngineArgs args = {0};
        SagaInput in;
        char waiters[SAGA_REPLY_TO_MAX];
        int r = 0;

        switch (engine_payment_reply(row, m, corr, &in, &args)) {
        case ENGINE_PAY_LATE_CHARGE: {
                const Food__V1__PaymentAuthorized *a = (const Food__V1__PaymentAuthorized *)m;
                return engine_late_charge(&w->out, row, corr->step, a->payment_id, a->amount);
        }
        case ENGINE_PAY_STALE:
                metric_add(m_stale, 1);
                return 0;
        case ENGINE_PAY_MODIFY:
                snprintf(waiters, sizeof(waiters), "%s", row->reply_to);
                row->reply_to[0] = 0;
                r = engine_modify_outcome(&w->out, row, in, &args, &reply);
                break;
        case ENGINE_PAY_APPLY:
                snprintf(waiters, sizeof(waiters), "%s", row->reply_to);
                row->reply_to[0] = 0;
                r = engine_apply(&w->o->engine, &w->out, row, in, &args, &reply);
                if (r == 0 && row->state == SAGA_REJECTED)
                        r = engine_reply_rejected(row->order, false, &reply);
                break;
        }
        if (r >= 0)
                answer_waiters(w, waiters, &reply);
        engine_reply_clear(&reply);
        return r == SAGA_CONFLICT ? 0 : r;
}

/* The coupon of a saga waiting to be paid. */
static int on_coupon(Writer *w, SagaRow *row, const ProtobufCMessage *m) {
        EngineReply reply = {0};
        char waiters[SAGA_REPLY_TO_MAX];
        int r;
        if (row->state != SAGA_PAYMENT_PENDING || strcmp(row->step, "redeem_coupon") != 0) {
                metric_add(m_stale, 1);
                return 0;
        }
        snprintf(waiters, sizeof(waiters), "%s", row->reply_to);
        r = engine_coupon_outcome(&w->o->engine, &w->out, row, m, &reply);
        if (r >= 0 && reply.data) {
                row->reply_to[0] = 0;
                answer_waiters(w, waiters, &reply);
        }
        engine_reply_clear(&reply);
        return r == SAGA_CONFLICT ? 0 : r;
}

/* One answer of a ReplyBatch. 0, or negative errno when the batch is lost. */
static int on_reply(Writer *w, const Food__V1__Reply *reply) {
        const ProtobufCMessage *m = codec_reply_message(reply);
        const Food__V1__Correlation *corr = m ? codec_correlation(m) : NULL;
        SagaPending *p;
        int r;

        if (!corr || !corr->order_id || !*corr->order_id || corr->command_id <= 0) {
                /* An answer to a command no saga sent (a store owner's coupon), or none at all. */
                if (!corr || corr->command_id != 0)
                        worker_poison_count(w->answer_subject);
                return 0;
        }
        SagaRow *row = writer_saga(w, corr->order_id, &r);
        if (!row)
                return r; /* another owner's saga, or none */
        p = corr->command_id <= UINT32_MAX ? saga_row_command(row, (uint32_t)corr->command_id) : NULL;
        if (!p) {
                /* Answered before, or a charge that reaches a saga that stopped waiting for it (while the
                 * saga still awaits its step, that step's own command answers it). */
                if (m->descriptor == &food__v1__payment_authorized__descriptor && strcmp(row->step, corr->step) != 0) {
                        const Food__V1__PaymentAuthorized *a = (const Food__V1__PaymentAuthorized *)m;
                        return engine_late_charge(&w->out, row, corr->step, a->payment_id, a->amount);
                }
                metric_add(m_stale, 1);
                return 0;
        }
        /* A failed refund is not an answer: it is re-sent with back-off until the provider takes it
         * (its idempotency key prevents paying twice). */
        if (m->descriptor == &food__v1__payment_failed__descriptor && p->step->compensation) {
                log_warn("saga %s: step %s failed (%s); it will be retried", row->order_id, p->step->name,
                         ((const Food__V1__PaymentFailed *)m)->reason);
                return 0;
        }
        metric_add(m_replies, 1);
        saga_row_log(row, LOG_REPLY, m->descriptor, p->step, p->attempt, p->command_id, LOG_APPLIED, w->now_ms);
        saga_row_log_detail(row, p->command_id, LOG_ANSWERED);
        saga_row_drop_command(row, p);
        if (row->compensation_failed && !compensation_waiting(row)) {
                row->compensation_failed = false; /* answered after all */
                writer_touch(w, row);
        }
        if (m->descriptor == &food__v1__payment_authorized__descriptor ||
            m->descriptor == &food__v1__payment_declined__descriptor ||
            m->descriptor == &food__v1__payment_failed__descriptor)
                r = on_payment(w, row, m, corr);
        else if (m->descriptor == &food__v1__coupon_redeemed__descriptor ||
                 m->descriptor == &food__v1__coupon_rejected__descriptor)
                r = on_coupon(w, row, m);
        else if (m->descriptor == &food__v1__payment_refunded__descriptor) {
                const Food__V1__PaymentRefunded *f = (const Food__V1__PaymentRefunded *)m;
                r = engine_refunded(&w->out, row, f->payment_id, f->amount);
        } else
                r = 0; /* a ticket or a delivery recorded: nothing more than the answer itself */
        /* The saga's last answer: it is written settled. */
        if (r == 0 && saga_row_done(row))
                writer_touch(w, row);
        return r;
}

static int answers_handle(Writer *w, Input *in) {
        ProtobufCMessage *m = NULL;
        const char *type = bus_header(in->msg, BUS_HDR_TYPE);
        int r = 0;
        if (!type || strcmp(type, food__v1__reply_batch__descriptor.name) != 0 ||
            codec_unpack(&food__v1__reply_batch__descriptor, natsMsg_GetData(in->msg),
                         (size_t)natsMsg_GetDataLength(in->msg), &m) < 0) {
                worker_poison_count(natsMsg_GetSubject(in->msg));
                log_warn("answers: an undecodable message on %s (type %.128s)", natsMsg_GetSubject(in->msg),
                         type ? type : "none");
                return 0;
        }
        const Food__V1__ReplyBatch *b = (const Food__V1__ReplyBatch *)m;
        for (size_t i = 0; i < b->n_replies && r == 0; i++)
                r = on_reply(w, b->replies[i]);
        codec_free(m);
        return r;
}

int inputs_handle(Writer *w, Input *in) {
        return in->kind == IN_ANSWERS ? answers_handle(w, in) : rpc_handle(w, in);
}

/* ---- timers and re-sends -------------------------------------------------------------------- */

/* A durable timer of the saga's state fired: a store that never answered refuses, a delivered
 * order never confirmed completes, a payment that never came is given up. */
static int fire_deadline(Writer *w, SagaRow *row) {
        EngineReply reply = {0};
        EngineArgs args = {.reason = "the store did not answer in time"};
        char waiters[SAGA_REPLY_TO_MAX];
        SagaInput in;
        int r;

        snprintf(waiters, sizeof(waiters), "%s", row->reply_to);
        if (row->state == SAGA_PAYMENT_PENDING) {
                /* A charge that lands later is refunded: its command is still asked until answered. */
                args.reason = "the payment provider did not answer in time";
                in = SAGA_IN_PAYMENT_FAILED;
                row->reply_to[0] = 0;
        } else if (row->state == SAGA_PAID)
                in = SAGA_IN_STORE_TIMEOUT;
        else if (row->state == SAGA_DELIVERED) {
                args.reason = NULL;
                in = SAGA_IN_AUTO_COMPLETE;
        } else {
                row->deadline_ms = 0; /* a timer left on a state that has none */
                writer_touch(w, row);
                return 0;
        }
        r = engine_apply(&w->o->engine, &w->out, row, in, &args, &reply);
        if (r == 0) {
                metric_add(m_timers, 1);
                log_info("saga %s: timer fired, now %s", row->order_id, saga_state_name(row->state));
                if (in == SAGA_IN_PAYMENT_FAILED &&
                    engine_reply_set(&reply, 503, "Pay later",
                                     "the payment provider is unavailable; nothing was charged, try again later", NULL,
                                     5) == 0)
                        answer_waiters(w, waiters, &reply);
        } else if (r == SAGA_CONFLICT) {
                row->deadline_ms = 0;
                writer_touch(w, row);
                r = 0;
        }
        engine_reply_clear(&reply);
        return r;
}

/* An awaited step past its own deadline (a modification's extra charge): given up; the order
 * stays as it was; a charge that lands later is refunded. */
static int fire_step_deadline(Writer *w, SagaRow *row) {
        EngineReply reply = {0};
        char waiters[SAGA_REPLY_TO_MAX];
        int r;
        log_warn("saga %s: step %s got no answer in time; given up", row->order_id, row->step);
        snprintf(waiters, sizeof(waiters), "%s", row->reply_to);
        row->reply_to[0] = 0;
        r = engine_modify_outcome(&w->out, row, SAGA_IN_PAYMENT_FAILED, &(EngineArgs){0}, &reply);
        if (r == 0 && !row->pending) {
                row->step[0] = 0;
                row->step_deadline_ms = 0;
        }
        if (r == 0) {
                metric_add(m_timers, 1);
                answer_waiters(w, waiters, &reply);
                writer_touch(w, row);
        }
        engine_reply_clear(&reply);
        return r;
}

/* Re-sends the due commands of `row`, or gives them up when their tries are spent; `unconfirmed_since`
 * (not 0): also those sent since then, which JetStream may never have stored, and with `direct_lost` those
 * last sent over core NATS, which nobody may have taken, without using a try. */
static int resend_due(Writer *w, SagaRow *row, int64_t unconfirmed_since, bool direct_lost) {
        int r = 0;
        for (size_t i = 0; i < row->n_commands && r == 0; i++) {
                SagaPending *p = &row->commands[i];
                if (!p->next_try_ms)
                        continue;
                if (p->next_try_ms > w->now_ms) {
                        if ((unconfirmed_since && p->sent_ms >= unconfirmed_since) || (direct_lost && p->direct)) {
                                r = writer_resend(w, row, p, false);
                                metric_add(m_resent, 1);
                        }
                        continue;
                }
                if ((int)p->budget >= saga_step_max_attempts(p->step)) {
                        p->next_try_ms = 0;
                        saga_row_log_detail(row, p->command_id, LOG_GAVE_UP);
                        if (p->step->compensation && !row->compensation_failed) {
                                row->compensation_failed = true;
                                metric_add(m_comp_failed, 1);
                                log_error("saga %s: COMPENSATION_FAILED: %s got no answer in all the tries its policy "
                                          "allows; redrive it with `sagactl redrive %s` once the worker is back",
                                          row->order_id, p->step->name, row->order_id);
                        } else if (!p->step->compensation)
                                log_warn("saga %s: %s got no answer in %u tries; waiting for an operator's redrive",
                                         row->order_id, p->step->name, p->attempt);
                        writer_touch(w, row);
                        continue;
                }
                log_info("saga %s: no answer to %s, sending try %u", row->order_id, p->step->name, p->attempt + 1);
                r = writer_resend(w, row, p, true);
                metric_add(m_resent, 1);
        }
        return r;
}

typedef struct {
        int r;
        int64_t unconfirmed_since;
        bool direct_lost;
} TimerScan;

static void timers_of(Writer *w, SagaRow *row, void *ud) {
        TimerScan *t = ud;
        if (t->r < 0)
                return;
        if (row->deadline_ms && row->deadline_ms <= w->now_ms)
                t->r = fire_deadline(w, row);
        if (t->r == 0 && row->step_deadline_ms && row->step_deadline_ms <= w->now_ms)
                t->r = fire_step_deadline(w, row);
        if (t->r == 0 && row->n_commands)
                t->r = resend_due(w, row, t->unconfirmed_since, t->direct_lost);
}

int inputs_timers(Writer *w) {
        TimerScan t = {0};
        if (w->unconfirmed_since_ms && w->now_ms >= w->republish_at_ms) {
                t.unconfirmed_since = w->unconfirmed_since_ms;
                w->unconfirmed_since_ms = 0; /* a batch whose publishes fail again sets it again */
                log_info("orchestrator: sending again the commands JetStream did not confirm");
        }
        t.direct_lost = w->direct_lost;
        w->direct_lost = false;
        writer_each_saga(w, timers_of, &t);
        return t.r;
}
