/* RPC lanes: synchronous decisions requested by the gateway over core NATS
 * (place, store/rider/customer actions), each in one transaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "orchestrator.h"
#include "saga-admin.h"
#include "saga-requests.h"
#include "worker.h"

#define RPC_SUBJECT FOOD_PREFIX ".rpc.>"
#define RPC_DRAIN_MS 3000 /* answering what was delivered before SIGTERM */
#define RPC_QUEUE "orchestrator"

static int rpc_action(Orchestrator *o, Pg *pg, const Food__V1__OrderAction *a, EngineReply *reply) {
        const RpcActionDef *def = rpc_action_find(a->action);
        EngineArgs args = {.rider_id = a->actor_id, .reason = a->reason};
        SagaRow row;
        int r;

        if (!def)
                return engine_reply_set(reply, 400, "Bad request", "unknown order action", NULL, 0);
        r = saga_store_load(pg, a->order_id, &row);
        if (r < 0)
                return r;
        if (r == SAGA_STORE_NOT_FOUND || !rpc_actor_owns(a, def, row.order) || row.state == SAGA_PAYMENT_PENDING) {
                saga_row_clear(&row);
                return engine_reply_set(reply, 404, "Not found", "no such order", NULL, 0);
        }
        /* Only a picked delivery has a rider; before that "delivered" is simply not allowed (409). */
        if (def->input == SAGA_IN_DELIVERED && *row.order->rider_id && strcmp(row.order->rider_id, a->actor_id) != 0 &&
            strcmp(a->actor_role, "admin") != 0) {
                saga_row_clear(&row);
                return engine_reply_set(reply, 403, "Forbidden", "this delivery was picked by another rider", NULL,
                                        0);
        }
        r = engine_apply(&o->engine, pg, &row, def->input, &args, reply);
        if (r == SAGA_CONFLICT && def->input == SAGA_IN_PICK) {
                r = engine_reply_set(reply, 409, "Conflict",
                                     row.state == SAGA_PICKED_UP ? "this delivery was already picked by a rider"
                                                                 : "this delivery is not open",
                                     NULL, 0);
                if (r == 0)
                        r = SAGA_CONFLICT;
        }
        saga_row_clear(&row);
        return r;
}

/* Starts the saga, or answers a repeated Idempotency-Key from what exists.
 * Returns 0 with reply->data NULL when the answer comes later (payment). */
static int rpc_place(Orchestrator *o, Pg *pg, const Food__V1__PlaceOrder *p, const char *reply_to,
                     const char *traceparent, EngineReply *reply) {
        char existing[64] = "", hash[80] = "";
        SagaRow row;
        int r;

        const char *invalid = rpc_place_invalid(p);
        if (invalid) {
                worker_poison_count(FOOD_PREFIX ".rpc.orders.place");
                log_warn("rpc: refusing a place request on %s: %s", FOOD_PREFIX ".rpc.orders.place", invalid);
                return engine_reply_set(reply, 400, "Bad request", invalid, NULL, 0);
        }
        if (p->idempotency_key && *p->idempotency_key) {
                r = saga_store_claim_key(pg, p->order->customer_id, p->idempotency_key, p->order->id,
                                         p->request_hash, existing, sizeof(existing), hash, sizeof(hash));
                if (r < 0)
                        return r;
                if (r == SAGA_STORE_DUPLICATE) {
                        if (strcmp(hash, p->request_hash) != 0)
                                return engine_reply_set(reply, 422, "Idempotency key reused",
                                                        "this Idempotency-Key was used with a different request",
                                                        NULL, 0);
                        r = saga_store_load(pg, existing, &row);
                        if (r != 0)
                                return r < 0 ? r : -EAGAIN;
                        if (row.state == SAGA_PAYMENT_PENDING) {
                                /* Still paying: this request waits for the outcome too. */
                                size_t used = strlen(row.reply_to);
                                if (used + strlen(reply_to) + 2 > sizeof(row.reply_to))
                                        r = engine_reply_set(reply, 409, "Request in progress",
                                                             "an order with this Idempotency-Key is being paid; retry shortly",
                                                             NULL, 0);
                                else {
                                        snprintf(row.reply_to + used, sizeof(row.reply_to) - used, "%s%s",
                                                 used ? " " : "", reply_to);
                                        r = saga_store_update(pg, &row, row.order, row.version,
                                                              SAGA_KEEP_DEADLINE);
                                }
                        } else if (row.state == SAGA_REJECTED)
                                r = engine_reply_set(reply, 402, "Payment declined",
                                                     "the card was declined; no order was placed", NULL, 0);
                        else
                                r = engine_reply_set(reply, 201, NULL, NULL, row.order, 0);
                        saga_row_clear(&row);
                        return r;
                }
        }
        return engine_start(&o->engine, pg, p, reply_to, traceparent);
}

static int rpc_modify(Orchestrator *o, Pg *pg, const Food__V1__ModifyOrder *req, const char *reply_to,
                      EngineReply *reply) {
        SagaRow row;
        int r = saga_store_load(pg, req->order_id, &row);
        if (r < 0)
                return r;
        if (r == SAGA_STORE_NOT_FOUND || strcmp(row.order->customer_id, req->customer_id) != 0 ||
            row.state == SAGA_PAYMENT_PENDING)
                r = engine_reply_set(reply, 404, "Not found", "no such order", NULL, 0);
        else
                r = engine_modify(&o->engine, pg, &row, req, reply_to, reply);
        saga_row_clear(&row);
        return r;
}

static int rpc_dispatch(Orchestrator *o, Pg *pg, natsMsg *msg, EngineReply *reply) {
        const char *type_name = bus_header(msg, BUS_HDR_TYPE);
        const CodecType *type = type_name ? codec_type_by_name(type_name) : NULL;
        ProtobufCMessage *m = NULL;
        int r;

        if (!type || codec_unpack(type->desc, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &m) < 0 ||
            !worker_subject_fits(m, natsMsg_GetSubject(msg))) {
                /* Poison: counted and logged once per delivery (not per retry of this request). */
                worker_poison_count(natsMsg_GetSubject(msg));
                log_warn("rpc: refusing a request on %s (type %.128s, %d bytes): %s", natsMsg_GetSubject(msg),
                         type_name ? type_name : "none", natsMsg_GetDataLength(msg),
                         m ? "Food-Type does not match the subject" : "unknown Food-Type or undecodable payload");
                codec_free(m);
                return engine_reply_set(reply, 400, "Bad request", "undecodable request", NULL, 0);
        }
        if (type->desc == &food__v1__place_order__descriptor)
                r = rpc_place(o, pg, (Food__V1__PlaceOrder *)m, natsMsg_GetReply(msg), bus_header(msg, BUS_HDR_TRACE),
                              reply);
        else if (type->desc == &food__v1__order_action__descriptor)
                r = rpc_action(o, pg, (Food__V1__OrderAction *)m, reply);
        else if (type->desc == &food__v1__saga_query__descriptor)
                r = saga_admin_query(pg, (Food__V1__SagaQuery *)m, reply);
        else if (type->desc == &food__v1__modify_order__descriptor)
                r = rpc_modify(o, pg, (Food__V1__ModifyOrder *)m, natsMsg_GetReply(msg), reply);
        else
                r = engine_reply_set(reply, 400, "Bad request", "unexpected request type", NULL, 0);
        codec_free(m);
        return r;
}

static void rpc_publish(void *orchestrator, const char *inbox, const uint8_t *data, size_t len) {
        Orchestrator *o = orchestrator;
        (void)bus_publish_core(o->svc.bus, inbox, food__v1__rpc_reply__descriptor.name, data, len);
}

/* One request, one transaction; retried when the saga moved under us. */
static void rpc_handle(Orchestrator *o, Pg *pg, natsMsg *msg) {
        EngineReply reply = {0};
        const char *reply_subject = natsMsg_GetReply(msg);
        int r = -EAGAIN;

        /* Retried: a saga moved under us, a race on a new key, or a lost
         * connection (reconnected by pg_ensure). */
        for (int tries = 0; tries < 5 && (r == -EAGAIN || r == -ESTALE || r == -EEXIST || r == -ENOTCONN);
             tries++) {
                engine_reply_clear(&reply);
                r = pg_ensure(pg);
                if (r == 0)
                        r = pg_begin(pg);
                if (r == 0)
                        r = rpc_dispatch(o, pg, msg, &reply);
                if (r >= 0 && reply.http_status < 400 && pg_commit(pg) == 0) {
                        orchestrator_kick_relay(o);
                        engine_reply_each_abandoned(&reply, rpc_publish, o);
                        break;
                }
                if (r >= 0 && reply.http_status >= 400) {
                        pg_rollback(pg); /* refused: nothing changes */
                        break;
                }
                pg_rollback(pg);
                if (r >= 0)
                        r = -EAGAIN; /* commit failed */
        }
        if (r < 0 && r != SAGA_CONFLICT) {
                log_warn("rpc: %s failed: %s (%s)", natsMsg_GetSubject(msg), strerror(-r), pg_error(pg));
                (void)engine_reply_set(&reply, 503, "Service unavailable",
                                       "the order service could not record the decision; try again", NULL, 1);
        }
        if (reply.data && reply_subject && *reply_subject)
                (void)bus_publish_core(o->svc.bus, reply_subject, food__v1__rpc_reply__descriptor.name, reply.data,
                                       reply.len);
        engine_reply_clear(&reply);
}

void *rpc_lane_run(void *arg) {
        Orchestrator *o = arg;
        natsSubscription *sub = NULL;
        Pg *pg = NULL;
        natsStatus s;

        worker_poison_init();
        if (service_pg(&o->svc, &pg) < 0)
                return NULL;
        s = natsConnection_QueueSubscribeSync(&sub, bus_conn(o->svc.bus), RPC_SUBJECT, RPC_QUEUE);
        if (s != NATS_OK) {
                log_error("rpc: cannot subscribe to %s: %s", RPC_SUBJECT, natsStatus_GetText(s));
                pg_free(pg);
                service_stopping = true;
                return NULL;
        }
        natsSubscription_SetPendingLimits(sub, 65536, 256 * 1024 * 1024);
        while (!service_stopping) {
                natsMsg *msg = NULL;
                s = natsSubscription_NextMsg(&msg, sub, 500);
                if (s != NATS_OK)
                        continue;
                rpc_handle(o, pg, msg);
                natsMsg_Destroy(msg);
        }
        /* Stopping: no new request comes here (the queue group's other members
         * take them), and those already delivered are answered rather than left
         * to time out at the gateway. The drain ends the subscription once they
         * are handled (NextMsg then fails), or after RPC_DRAIN_MS. */
        if (natsSubscription_DrainTimeout(sub, RPC_DRAIN_MS) == NATS_OK) {
                int64_t deadline = ids_now_ms() + RPC_DRAIN_MS;
                while (ids_now_ms() < deadline) {
                        natsMsg *msg = NULL;
                        s = natsSubscription_NextMsg(&msg, sub, 100);
                        if (s == NATS_TIMEOUT)
                                continue;
                        if (s != NATS_OK)
                                break;
                        rpc_handle(o, pg, msg);
                        natsMsg_Destroy(msg);
                }
        }
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
        pg_free(pg);
        return NULL;
}
