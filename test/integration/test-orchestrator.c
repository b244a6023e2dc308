/* Integration test of the orchestrator against real nats-server and
 * PostgreSQL (started by with-servers.mjs): this program plays the gateway
 * (RPCs on each order's shard) and the workers (JetStream command batches,
 * answered on the batch's Food-Answer-To), and checks the saga's promises:
 * payment outcome answers the place request, stale replies are ignored,
 * unanswered commands are re-sent, exactly one pick wins, idempotency keys
 * give one order, and a store deadline survives an orchestrator restart.
 * usage: test-orchestrator PATH-TO-ORCHESTRATOR */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "codec.h"
#include "ids.h"
#include "log.h"
#include "pg.h"
#include "test-check.h"
#include "topology.h"

static const char *orchestrator_path;
static pid_t orchestrator_pid;
static Bus *bus;
static BusPublisher *pub;
static BusConsumer *payments, *stores, *coupons;
/* The payment worker's direct subject (food.direct.payment): the first try of a charge a request waits on. */
static BusInbox *direct_payments;
static Pg *pg;

static void start_orchestrator(void) {
        orchestrator_pid = fork();
        if (orchestrator_pid == 0) {
                setenv("HEALTH_PORT", "0", 1);
                setenv("COMMAND_RESEND_MS", "700", 1);
                setenv("COMMAND_LINGER_MS", "250", 1);
                setenv("STORE_ACCEPT_TIMEOUT_S", "3", 1);
                setenv("PAYMENT_TIMEOUT_S", "3", 1);
                setenv("COMMAND_MAX_ATTEMPTS", "3", 1);
                setenv("LOG_LEVEL", "warn", 1);
                execl(orchestrator_path, orchestrator_path, (char *)NULL);
                _exit(127);
        }
}

static void stop_orchestrator(int sig) {
        kill(orchestrator_pid, sig);
        waitpid(orchestrator_pid, NULL, 0);
}

/* ---- the gateway's side ---------------------------------------------------- */

typedef struct {
        const ProtobufCMessage *req;
        char subject[CODEC_SUBJECT_MAX];
        const char *traceparent; /* sent as the NATS header, may be NULL */
        int status;
        char order_status[32];
        char order_id[64];
        int64_t amount_paid;
} Call;

static void *call_run(void *arg) {
        Call *c = arg;
        uint8_t *buf = NULL;
        size_t len = 0;
        natsMsg *reply = NULL;
        ProtobufCMessage *m = NULL;

        c->status = -1;
        if (codec_pack(c->req, &buf, &len) < 0)
                return NULL;
        const BusHeaders h = {.type = c->req->descriptor->name, .traceparent = c->traceparent,
                              .answer_form = BUS_ANSWER_VIEW};
        if (bus_request(bus, c->subject, &h, buf, len, 5000, &reply) == 0 &&
            codec_unpack(&food__v1__rpc_reply__descriptor, natsMsg_GetData(reply),
                         (size_t)natsMsg_GetDataLength(reply), &m) == 0) {
                Food__V1__RpcReply *r = (Food__V1__RpcReply *)m;
                c->status = r->http_status;
                /* The order comes as its JSON view (what the gateway sends to the client). */
                json_t *v = r->order_view.len ? json_loadb((const char *)r->order_view.data, r->order_view.len, 0, NULL)
                                              : NULL;
                if (v) {
                        const char *status = json_string_value(json_object_get(v, "status"));
                        const char *id = json_string_value(json_object_get(v, "id"));
                        snprintf(c->order_status, sizeof(c->order_status), "%s", status ? status : "");
                        snprintf(c->order_id, sizeof(c->order_id), "%s", r->order_id);
                        c->amount_paid = json_integer_value(json_object_get(v, "amount_paid"));
                        CHECK(id && strcmp(r->order_id, id) == 0, "order_id %s, view of %s", r->order_id, id ? id : "");
                        /* Asked with Food-Answer-Form: view, as every request here is: no protobuf order beside it. */
                        CHECK(r->order == NULL, "%s: the order came as a protobuf too (the request lacked its answer form?)",
                              r->order_id);
                        json_decref(v);
                } else
                        CHECK(r->order_view.len == 0, "an order view that is not JSON");
        }
        codec_free(m);
        natsMsg_Destroy(reply);
        free(buf);
        return NULL;
}

static Food__V1__OrderItem item = FOOD__V1__ORDER_ITEM__INIT;
static Food__V1__OrderItem *items[] = {&item};
static Food__V1__Location addr = FOOD__V1__LOCATION__INIT;

static void place_async_traced(pthread_t *t, Call *c, Food__V1__PlaceOrder *p, Food__V1__Order *o, const char *id,
                               const char *key, const char *card, const char *traceparent) {
        food__v1__order__init(o);
        food__v1__place_order__init(p);
        item.menu_item_id = "m1";
        item.name = "fried chicken";
        item.quantity = 2;
        item.unit_price = 9000;
        addr.text = "Teheran-ro 1";
        addr.region = "gangnam";
        o->id = (char *)id;
        o->customer_id = "cust_1";
        o->store_id = "st_1";
        o->items = items;
        o->n_items = 1;
        o->total = 18000;
        o->address = &addr;
        p->order = o;
        p->card_token = (char *)card;
        p->idempotency_key = (char *)key;
        p->request_hash = "h1";
        memset(c, 0, sizeof(*c));
        c->req = &p->base;
        topo_rpc_subject(c->subject, sizeof(c->subject), ids_shard(id), "place");
        c->traceparent = traceparent;
        pthread_create(t, NULL, call_run, c);
}

static void place_async(pthread_t *t, Call *c, Food__V1__PlaceOrder *p, Food__V1__Order *o, const char *id,
                        const char *key, const char *card) {
        place_async_traced(t, c, p, o, id, key, card, NULL);
}

/* Fills `a` and `c`: `act` on `order_id` by `actor` (a `role`), of store st_1. */
static void action_call(Food__V1__OrderAction *a, Call *c, const char *order_id, const char *act, const char *role,
                        const char *actor) {
        food__v1__order_action__init(a);
        a->order_id = (char *)order_id;
        a->action = (char *)act;
        a->actor_role = (char *)role;
        a->actor_id = (char *)actor;
        a->store_id = "st_1";
        memset(c, 0, sizeof(*c));
        c->req = &a->base;
        topo_rpc_subject(c->subject, sizeof(c->subject), ids_shard(order_id), "action");
}

static int action(const char *order_id, const char *act, const char *role, const char *actor, Call *c) {
        Food__V1__OrderAction a;
        action_call(&a, c, order_id, act, role, actor);
        call_run(c);
        return c->status;
}

/* The same on a thread of its own; `a` and `c` must outlive it (pthread_join). */
static void action_async(pthread_t *t, Food__V1__OrderAction *a, Call *c, const char *order_id, const char *act,
                         const char *role, const char *actor) {
        action_call(a, c, order_id, act, role, actor);
        pthread_create(t, NULL, call_run, c);
}

/* ---- the workers' side ----------------------------------------------------- */

/* Where the last command taken was to be answered (its batch's Food-Answer-To). */
static char answer_to[CODEC_SUBJECT_MAX];

/* Fetches command batches until one holds a command of `desc` for `order_id` (others are acked
 * and skipped); returns a copy of that command (codec_free) or NULL after timeout_ms. */
static ProtobufCMessage *next_command(BusConsumer *c, const ProtobufCMessageDescriptor *desc, const char *order_id,
                                      int timeout_ms) {
        int64_t until = ids_now_ms() + timeout_ms;
        while (ids_now_ms() < until) {
                natsMsgList list = {0};
                ProtobufCMessage *found = NULL, *b = NULL;
                natsMsg *msg = NULL;
                /* The payment worker's commands come over core NATS first, through JetStream again. */
                if (c == payments && bus_inbox_next(direct_payments, 50, &msg) == 0)
                        ;
                else if (bus_fetch(c, &list, 1, c == payments ? 50 : 500, false) == 0)
                        msg = list.Msgs[0];
                else
                        continue;
                const char *to = bus_header(msg, BUS_HDR_ANSWER_TO);
                if (codec_unpack(&food__v1__command_batch__descriptor, natsMsg_GetData(msg),
                                 (size_t)natsMsg_GetDataLength(msg), &b) == 0) {
                        const Food__V1__CommandBatch *batch = (const Food__V1__CommandBatch *)b;
                        for (size_t i = 0; i < batch->n_commands && !found; i++) {
                                const ProtobufCMessage *m = codec_command_message(batch->commands[i]);
                                uint8_t *buf = NULL;
                                size_t len = 0;
                                if (!m || m->descriptor != desc || strcmp(codec_correlation(m)->order_id, order_id) != 0)
                                        continue;
                                if (codec_pack(m, &buf, &len) == 0)
                                        (void)codec_unpack(desc, buf, len, &found);
                                free(buf);
                                snprintf(answer_to, sizeof(answer_to), "%s", to ? to : "");
                        }
                }
                codec_free(b);
                if (list.Count) {
                        bus_ack(c, msg);
                        natsMsgList_Destroy(&list);
                } else
                        natsMsg_Destroy(msg);
                if (found)
                        return found;
        }
        return NULL;
}

/* Answers the orchestrator as a worker does: one Reply in a ReplyBatch, on answer_to. */
static void reply(const ProtobufCMessage *m, const char *msg_id) {
        Food__V1__Reply r;
        Food__V1__Reply *rp = &r;
        Food__V1__ReplyBatch b = FOOD__V1__REPLY_BATCH__INIT;
        uint8_t *buf = NULL;
        size_t len = 0;
        (void)msg_id; /* answers are core messages: matched by command, not deduplicated by id */
        codec_reply_wrap(&r, m);
        b.replies = &rp;
        b.n_replies = 1;
        codec_pack(&b.base, &buf, &len);
        bus_publish_core(bus, answer_to, b.base.descriptor->name, buf, len);
        free(buf);
}

static void authorize(const Food__V1__Correlation *corr, const char *msg_id) {
        Food__V1__PaymentAuthorized a = FOOD__V1__PAYMENT_AUTHORIZED__INIT;
        a.corr = (Food__V1__Correlation *)corr;
        a.payment_id = "ch_1";
        a.amount = 18000;
        reply(&a.base, msg_id);
}

static char *saga_state(const char *order_id, char *buf, size_t cap) {
        static const PgStmt st = {"t_state", "SELECT state FROM orchestrator.sagas WHERE order_id = $1"};
        const char *vals[] = {order_id};
        PGresult *res = NULL;
        buf[0] = 0;
        if (pg_run(pg, &st, 1, vals, NULL, NULL, &res) == 0 && PQntuples(res) == 1)
                snprintf(buf, cap, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return buf;
}

/* Places an order and answers its payment; returns 201 on success. */
static int place_paid(const char *id) {
        Food__V1__PlaceOrder p;
        Food__V1__Order o;
        Call c;
        pthread_t t;
        place_async(&t, &c, &p, &o, id, "", "tok_ok");
        ProtobufCMessage *cmd = next_command(payments, &food__v1__authorize_payment__descriptor, id, 4000);
        char mid[96];
        snprintf(mid, sizeof(mid), "pay.%s", id);
        if (cmd)
                authorize(codec_correlation(cmd), mid);
        pthread_join(t, NULL);
        codec_free(cmd);
        return c.status;
}

/* ---- the tests --------------------------------------------------------------- */

#define TRACE "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static void test_place_pays_then_answers(void) {
        Food__V1__PlaceOrder p;
        Food__V1__Order o;
        Call c;
        pthread_t t;
        char id[64], st[32];
        ids_new(id, sizeof(id), "ord");
        place_async_traced(&t, &c, &p, &o, id, "", "tok_ok", TRACE);
        ProtobufCMessage *cmd = next_command(payments, &food__v1__authorize_payment__descriptor, id, 4000);
        CHECK(cmd != NULL, "no AuthorizePayment command for %s", id);
        if (cmd) {
                Food__V1__AuthorizePayment *a = (Food__V1__AuthorizePayment *)cmd;
                CHECK(a->amount == 18000, "authorize amount: expected 18000, got %lld", (long long)a->amount);
                CHECK(strcmp(a->corr->traceparent, TRACE) == 0, "trace context: expected %s, got %s", TRACE,
                      a->corr->traceparent);
                CHECK(strcmp(a->corr->step, "authorize") == 0 && a->corr->attempt == 1 && a->corr->command_id > 0,
                      "correlation: expected authorize/1/>0, got %s/%u/%lld", a->corr->step, a->corr->attempt,
                      (long long)a->corr->command_id);
                /* A reply to a command the saga never sent is stale and must change nothing. */
                Food__V1__Correlation stale = *a->corr;
                stale.command_id += 1000;
                authorize(&stale, "stale.1");
                usleep(300000);
                CHECK(strcmp(saga_state(id, st, sizeof(st)), "PAYMENT_PENDING") == 0,
                      "stale reply moved the saga to %s", st);
                authorize(a->corr, "good.1");
                authorize(a->corr, "good.1.again"); /* a duplicate answer: no second effect */
        }
        pthread_join(t, NULL);
        CHECK(c.status == 201, "place: expected 201, got %d", c.status);
        CHECK(strcmp(c.order_status, "PAID") == 0, "place: expected PAID, got %s", c.order_status);
        CHECK(c.amount_paid == 18000, "amount_paid: expected 18000, got %lld", (long long)c.amount_paid);
        ProtobufCMessage *ticket = next_command(stores, &food__v1__create_ticket__descriptor, id, 4000);
        CHECK(ticket != NULL, "no CreateTicket after PAID");
        CHECK(ticket && strcmp(codec_correlation(ticket)->traceparent, TRACE) == 0,
              "the ticket command lost the order's trace context");
        codec_free(ticket);
        codec_free(cmd);

        Call a;
        CHECK(action(id, "accept", "store", "owner", &a) == 200 && strcmp(a.order_status, "ACCEPTED") == 0,
              "accept: expected 200 ACCEPTED, got %d %s", a.status, a.order_status);
        CHECK(action(id, "accept", "store", "owner", &a) == 409, "second accept: expected 409, got %d", a.status);
        CHECK(action(id, "cancel", "customer", "cust_2", &a) == 404, "foreign cancel: expected 404, got %d",
              a.status);
}

static void test_declined(void) {
        Food__V1__PlaceOrder p;
        Food__V1__Order o;
        Call c;
        pthread_t t;
        char id[64], st[32];
        ids_new(id, sizeof(id), "ord");
        place_async(&t, &c, &p, &o, id, "", "tok_declined");
        ProtobufCMessage *cmd = next_command(payments, &food__v1__authorize_payment__descriptor, id, 4000);
        if (cmd) {
                Food__V1__PaymentDeclined d = FOOD__V1__PAYMENT_DECLINED__INIT;
                d.corr = codec_correlation(cmd);
                d.reason = "insufficient funds";
                reply(&d.base, "declined.1");
        }
        pthread_join(t, NULL);
        CHECK(c.status == 402, "declined: expected 402, got %d", c.status);
        CHECK(strcmp(saga_state(id, st, sizeof(st)), "REJECTED") == 0, "declined saga: expected REJECTED, got %s",
              st);
        codec_free(cmd);
}

static void test_unanswered_command_is_resent(void) {
        Food__V1__PlaceOrder p;
        Food__V1__Order o;
        Call c;
        pthread_t t;
        char id[64];
        ids_new(id, sizeof(id), "ord");
        place_async(&t, &c, &p, &o, id, "", "tok_ok");
        ProtobufCMessage *first = next_command(payments, &food__v1__authorize_payment__descriptor, id, 4000);
        ProtobufCMessage *second = next_command(payments, &food__v1__authorize_payment__descriptor, id, 4000);
        CHECK(first && second, "expected the authorization to be sent twice");
        if (first && second) {
                Food__V1__Correlation *a = codec_correlation(first), *b = codec_correlation(second);
                CHECK(a->command_id == b->command_id && b->attempt == a->attempt + 1,
                      "re-send: expected same command, next attempt; got %lld/%u then %lld/%u",
                      (long long)a->command_id, a->attempt, (long long)b->command_id, b->attempt);
                authorize(a, "answer.first"); /* any try answers the command: the provider key is one */
                authorize(b, "answer.second"); /* then the next is stale */
        }
        pthread_join(t, NULL);
        CHECK(c.status == 201, "resent place: expected 201, got %d", c.status);
        codec_free(first);
        codec_free(second);
}

/* The key a command is found by: its order, or for an IssueCoupon (a store owner's grant has no order)
 * its coupon. */
static const char *command_key(const ProtobufCMessage *c) {
        if (c->descriptor == &food__v1__issue_coupon__descriptor)
                return ((const Food__V1__IssueCoupon *)c)->coupon_id;
        return codec_correlation(c)->order_id;
}

/* Takes `desc` commands from `from` (acking every message) until the one keyed `a` comes: 1 when the
 * one keyed `b` came in the same message, 0 when not, -1 when `a`'s did not come within timeout_ms. */
static int together(BusConsumer *from, const ProtobufCMessageDescriptor *desc, const char *a, const char *b,
                    int timeout_ms) {
        int64_t until = ids_now_ms() + timeout_ms;
        while (ids_now_ms() < until) {
                natsMsgList list;
                ProtobufCMessage *m = NULL;
                int has_a = 0, has_b = 0;
                if (bus_fetch(from, &list, 1, 500, false) < 0)
                        continue;
                natsMsg *msg = list.Msgs[0];
                if (codec_unpack(&food__v1__command_batch__descriptor, natsMsg_GetData(msg),
                                 (size_t)natsMsg_GetDataLength(msg), &m) == 0) {
                        const Food__V1__CommandBatch *batch = (const Food__V1__CommandBatch *)m;
                        for (size_t i = 0; i < batch->n_commands; i++) {
                                const ProtobufCMessage *c = codec_command_message(batch->commands[i]);
                                if (!c || c->descriptor != desc)
                                        continue;
                                has_a |= strcmp(command_key(c), a) == 0;
                                has_b |= strcmp(command_key(c), b) == 0;
                        }
                }
                codec_free(m);
                bus_ack(from, msg);
                natsMsgList_Destroy(&list);
                if (has_a)
                        return has_b;
        }
        return -1;
}

/* Tickets of orders paid in two batches (COMMAND_LINGER_MS apart at most) reach the store worker in
 * one message: a store's commands wait for the next batch's instead of costing a message, a
 * delivery and a transaction each. The payment commands, which a request waits on, do not wait. */
static void test_commands_linger(void) {
        char a[64], b[64];
        ids_new(a, sizeof(a), "ord");
        ids_new(b, sizeof(b), "ord");
        CHECK(place_paid(a) == 201, "first place: expected 201");
        int64_t start = ids_now_ms();
        CHECK(place_paid(b) == 201, "second place: expected 201");
        int64_t paid = ids_now_ms() - start;
        int t = together(stores, &food__v1__create_ticket__descriptor, a, b, 4000);
        /* A second place takes milliseconds (12 here): far inside the 250 ms the tickets may wait. */
        CHECK(t == 1, "tickets of two orders paid %lld ms apart: expected one message, got %s", (long long)paid,
              t < 0 ? "none" : "two");
}

/* Up to cooking started: the next action, cooking finished, issues the order's coupon. */
static void cooking(const char *id) {
        Call c;
        CHECK(place_paid(id) == 201, "%s: place failed", id);
        CHECK(action(id, "accept", "store", "o", &c) == 200, "%s: accept: got %d", id, c.status);
        CHECK(action(id, "cooking_started", "store", "o", &c) == 200, "%s: cooking_started: got %d", id, c.status);
}

/* The coupon of a cooked order is no request's answer: the coupons of two orders cooked in two batches
 * reach the coupon worker in one message. A store owner's coupon does not wait: no saga keeps it, its
 * stored row (loose_commands) is settled with its own batch's confirmation (and the redemption at payment,
 * which POST /orders waits on, is marked the same way in the step table). */
static void test_coupon_commands_linger(void) {
        char a[64], b[64], c[64], ca[80], cb[80], cc[80], g[64];
        Food__V1__GrantCoupon grant = FOOD__V1__GRANT_COUPON__INIT;
        Call call;
        ids_new(a, sizeof(a), "ord");
        ids_new(b, sizeof(b), "ord");
        ids_new(c, sizeof(c), "ord");
        ids_new(g, sizeof(g), "cpn");
        snprintf(ca, sizeof(ca), "cpn_%s", a + 4);
        snprintf(cb, sizeof(cb), "cpn_%s", b + 4);
        snprintf(cc, sizeof(cc), "cpn_%s", c + 4);
        cooking(a);
        cooking(b);
        CHECK(action(a, "cooking_finished", "store", "o", &call) == 200, "a: cooking_finished: got %d", call.status);
        CHECK(action(b, "cooking_finished", "store", "o", &call) == 200, "b: cooking_finished: got %d", call.status);
        int t = together(coupons, &food__v1__issue_coupon__descriptor, ca, cb, 4000);
        CHECK(t == 1, "coupons of two orders cooked one after the other: expected one message, got %s",
              t < 0 ? "none" : "two");

        cooking(c);
        grant.coupon_id = g;
        grant.customer_id = "cust_1";
        grant.store_id = "st_1";
        grant.discount = 500;
        memset(&call, 0, sizeof(call));
        call.req = &grant.base;
        topo_rpc_subject(call.subject, sizeof(call.subject), ids_shard(grant.customer_id), "coupon"); /* routed as the gateway does */
        call_run(&call);
        CHECK(call.status == 201, "store owner's coupon: expected 201, got %d", call.status);
        CHECK(action(c, "cooking_finished", "store", "o", &call) == 200, "c: cooking_finished: got %d", call.status);
        /* Held, the grant would have left with the coupon of the order cooked milliseconds after it. */
        t = together(coupons, &food__v1__issue_coupon__descriptor, g, cc, 4000);
        CHECK(t == 0, "store owner's coupon: expected a message of its own, got %s",
              t < 0 ? "none" : "one with the coupon of the order cooked after it");
}

static void test_idempotency_key(void) {
        Food__V1__PlaceOrder p1, p2;
        Food__V1__Order o1, o2;
        Call c1, c2;
        pthread_t t1, t2;
        char id1[64], id2[64];
        ids_new(id1, sizeof(id1), "ord");
        ids_new(id2, sizeof(id2), "ord");
        place_async(&t1, &c1, &p1, &o1, id1, "key-1", "tok_ok");
        ProtobufCMessage *cmd = next_command(payments, &food__v1__authorize_payment__descriptor, id1, 4000);
        if (cmd)
                authorize(codec_correlation(cmd), "idem.1");
        pthread_join(t1, NULL);
        place_async(&t2, &c2, &p2, &o2, id2, "key-1", "tok_ok");
        pthread_join(t2, NULL);
        CHECK(c1.status == 201 && c2.status == 201, "idempotent place: expected 201 twice, got %d and %d", c1.status,
              c2.status);
        CHECK(strcmp(c1.order_id, c2.order_id) == 0, "idempotent place: two orders %s and %s", c1.order_id,
              c2.order_id);
        ProtobufCMessage *extra = next_command(payments, &food__v1__authorize_payment__descriptor, id2, 1500);
        CHECK(extra == NULL, "a second charge was requested for a repeated key");
        codec_free(extra);
        codec_free(cmd);
}

static void test_one_pick_wins(void) {
        for (int round = 0; round < 5; round++) {
                char id[64];
                Call a, r1, r2;
                pthread_t t1, t2;
                Food__V1__OrderAction p1, p2;
                ids_new(id, sizeof(id), "ord");
                cooking(id);
                CHECK(action(id, "cooking_finished", "store", "o", &a) == 200, "cooking_finished: got %d",
                      a.status);
                action_async(&t1, &p1, &r1, id, "pick", "rider", "rider_a");
                action_async(&t2, &p2, &r2, id, "pick", "rider", "rider_b");
                pthread_join(t1, NULL);
                pthread_join(t2, NULL);
                CHECK((r1.status == 200 && r2.status == 409) || (r1.status == 409 && r2.status == 200),
                      "pick race: expected one 200 and one 409, got %d and %d", r1.status, r2.status);
                const char *loser = r1.status == 200 ? "rider_b" : "rider_a";
                CHECK(action(id, "delivered", "rider", loser, &a) == 403, "delivered by the loser: expected 403, got %d",
                      a.status);
        }
}

static void test_payment_deadline_and_late_charge(void) {
        Food__V1__PlaceOrder p;
        Food__V1__Order o;
        Call c;
        pthread_t t;
        char id[64], st[32];
        ids_new(id, sizeof(id), "ord");
        place_async(&t, &c, &p, &o, id, "", "tok_ok");
        ProtobufCMessage *cmd = next_command(payments, &food__v1__authorize_payment__descriptor, id, 4000);
        pthread_join(t, NULL); /* nobody answers: the caller gets an error, not a hang */
        CHECK(c.status != 201, "unanswered payment: expected no 201, got %d", c.status);
        int64_t until = ids_now_ms() + 8000;
        while (ids_now_ms() < until && strcmp(saga_state(id, st, sizeof(st)), "REJECTED") != 0)
                usleep(200000);
        CHECK(strcmp(st, "REJECTED") == 0, "payment deadline: expected REJECTED, got %s", st);
        if (cmd) {
                authorize(codec_correlation(cmd), "late.charge"); /* the provider charged after all */
                ProtobufCMessage *refund = NULL;
                /* skip re-sent authorizations still in flight */
                refund = next_command(payments, &food__v1__refund_payment__descriptor, id, 5000);
                CHECK(refund != NULL, "late charge was not refunded");
                int64_t first_id = refund ? codec_correlation(refund)->command_id : 0;
                if (refund)
                        CHECK(((Food__V1__RefundPayment *)refund)->amount == 18000,
                              "late-charge refund: expected 18000, got %lld",
                              (long long)((Food__V1__RefundPayment *)refund)->amount);
                codec_free(refund);
                authorize(codec_correlation(cmd), "late.charge.again");
                /* Unanswered, the same refund command is re-sent; a second refund
                 * decision would be another command. */
                while ((refund = next_command(payments, &food__v1__refund_payment__descriptor, id, 1500))) {
                        CHECK(codec_correlation(refund)->command_id == first_id,
                              "a repeated late charge started a second refund (command %lld, first %lld)",
                              (long long)codec_correlation(refund)->command_id, (long long)first_id);
                        int attempt = (int)codec_correlation(refund)->attempt;
                        codec_free(refund);
                        if (attempt >= 3)
                                break;
                }
        }
        codec_free(cmd);
}

static void reply_free(Food__V1__RpcReply *a) {
        if (a)
                codec_free(&a->base);
}

/* Asks the orchestrator a SagaQuery; returns the decoded RpcReply (codec_free it) or NULL. */
static Food__V1__RpcReply *saga_query(const char *query, const char *order_id, bool all) {
        Food__V1__SagaQuery q = FOOD__V1__SAGA_QUERY__INIT;
        ProtobufCMessage *m = NULL;
        natsMsg *reply = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        char subject[CODEC_SUBJECT_MAX];
        q.query = (char *)query;
        q.order_id = (char *)(order_id ? order_id : "");
        q.all = all;
        if (order_id)
                topo_rpc_subject(subject, sizeof(subject), ids_shard(order_id), "saga");
        else
                snprintf(subject, sizeof(subject), "%s", TOPO_RPC_STUCK);
        if (codec_pack(&q.base, &buf, &len) == 0 &&
            bus_request(bus, subject, &(const BusHeaders){.type = q.base.descriptor->name, .answer_form = BUS_ANSWER_VIEW},
                        buf, len, 5000, &reply) == 0)
                (void)codec_unpack(&food__v1__rpc_reply__descriptor, natsMsg_GetData(reply),
                                   (size_t)natsMsg_GetDataLength(reply), &m);
        natsMsg_Destroy(reply);
        free(buf);
        return (Food__V1__RpcReply *)m;
}

static bool has_step(const Food__V1__SagaHistory *h, const char *kind, const char *step, const char *detail) {
        for (size_t i = 0; i < h->n_steps; i++)
                if (strcmp(h->steps[i]->kind, kind) == 0 && strcmp(h->steps[i]->step, step) == 0 &&
                    (!detail || strcmp(h->steps[i]->detail, detail) == 0))
                        return true;
        return false;
}

/* A refused order's refund nobody answers: after its tries it is flagged
 * COMPENSATION_FAILED and listed as stuck; a redrive sends it again. */
static void test_compensation_failed_and_redrive(const char *id) {
        Food__V1__RpcReply *a = NULL;
        bool flagged = false;
        int64_t until = ids_now_ms() + 20000;
        while (!flagged && ids_now_ms() < until) {
                reply_free(a);
                a = saga_query("show", id, false);
                flagged = a && a->n_sagas == 1 && a->sagas[0]->compensation_failed;
                if (!flagged)
                        usleep(500000);
        }
        CHECK(flagged, "refund never answered: expected COMPENSATION_FAILED");
        if (a && a->n_sagas == 1) {
                const Food__V1__SagaHistory *h = a->sagas[0];
                CHECK(strcmp(h->state, "REFUSED") == 0, "history state: expected REFUSED, got %s", h->state);
                CHECK(has_step(h, "command", "authorize", "answered"), "history lacks the answered authorization");
                CHECK(has_step(h, "compensation", "refund", NULL), "history lacks the refund compensation");
                CHECK(has_step(h, "event", "status", NULL), "history lacks the status events");
                CHECK(has_step(h, "reply", "authorize", NULL), "history lacks the payment reply");
        }
        reply_free(a);
        a = saga_query("stuck", NULL, false);
        bool listed = false;
        for (size_t i = 0; a && i < a->n_sagas; i++)
                listed |= strcmp(a->sagas[i]->order_id, id) == 0;
        CHECK(listed, "a saga with a failed compensation is not listed as stuck");
        reply_free(a);
        a = saga_query("redrive", id, false);
        CHECK(a && a->http_status == 200 && a->affected == 1, "redrive: expected 1 saga, got %d",
              a ? a->affected : -1);
        reply_free(a);
        a = saga_query("show", id, false);
        CHECK(a && a->n_sagas == 1 && !a->sagas[0]->compensation_failed, "redrive did not clear COMPENSATION_FAILED");
        reply_free(a);
        ProtobufCMessage *refund = next_command(payments, &food__v1__refund_payment__descriptor, id, 4000);
        CHECK(refund != NULL, "redrive did not send the refund again");
        codec_free(refund);
        a = saga_query("show", "ord_none", false);
        CHECK(a && a->http_status == 404, "show of an unknown order: expected 404, got %d", a ? a->http_status : -1);
        reply_free(a);
}

static void test_store_deadline_survives_restart(void) {
        char id[64], st[32];
        ids_new(id, sizeof(id), "ord");
        CHECK(place_paid(id) == 201, "deadline setup: place failed");
        stop_orchestrator(SIGKILL); /* the deadline (3 s) is pending in PostgreSQL only */
        sleep(1);
        start_orchestrator();
        int64_t until = ids_now_ms() + 8000;
        while (ids_now_ms() < until && strcmp(saga_state(id, st, sizeof(st)), "REFUSED") != 0)
                usleep(200000);
        CHECK(strcmp(st, "REFUSED") == 0, "store deadline after restart: expected REFUSED, got %s", st);
        ProtobufCMessage *refund = next_command(payments, &food__v1__refund_payment__descriptor, id, 4000);
        CHECK(refund != NULL, "no RefundPayment after the store deadline");
        if (refund)
                CHECK(((Food__V1__RefundPayment *)refund)->amount == 18000, "refund amount: expected 18000, got %lld",
                      (long long)((Food__V1__RefundPayment *)refund)->amount);
        codec_free(refund);
        test_compensation_failed_and_redrive(id);
}

/* COMMIT of a transaction a statement aborted is answered ROLLBACK, not an
 * error: pg_commit must say it failed, or a worker would ack what it never wrote. */
static void test_commit_of_failed_transaction(void) {
        CHECK(pg_begin(pg) == 0, "begin failed: %s", pg_error(pg));
        CHECK(pg_exec(pg, "SELECT 1/0") < 0, "division by zero accepted");
        int r = pg_commit(pg);
        CHECK(r == -ECANCELED, "COMMIT after a failed statement: expected -ECANCELED, got %d", r);
        pg_rollback(pg);
        CHECK(pg_begin(pg) == 0 && pg_commit(pg) == 0, "the session is not usable after that: %s", pg_error(pg));
}

/* Sessions leave GSS encryption off unless the URL asks for it (lib/pg.c: it started Kerberos in every
 * process); a URL's own setting wins. */
static void test_gss_encryption_default(const char *db) {
        char v[32] = "", url[1024];
        Pg *own = NULL;
        CHECK(pg_conninfo_value(pg, "gssencmode", v, sizeof(v)) == 0 && strcmp(v, "disable") == 0,
              "gssencmode by default: '%s'", v);
        snprintf(url, sizeof(url), "%s%sgssencmode=prefer", db, strchr(db, '?') ? "&" : "?");
        CHECK(pg_connect(&own, url, "orchestrator") == 0, "connect with %s: %s", url, pg_error(own));
        CHECK(pg_conninfo_value(own, "gssencmode", v, sizeof(v)) == 0 && strcmp(v, "prefer") == 0,
              "gssencmode from the URL: '%s'", v);
        pg_free(own);
}

/* ---- JetStream refusing status events ---------------------------------------------------- */

/* Sends of status events seen on the wire (core NATS sees every publish, a duplicate that JetStream would
 * drop included): how many, and how many distinct events (Nats-Msg-Id) among them. */
#define SENT_IDS_MAX 32
typedef struct {
        pthread_mutex_t lock;
        int sends, events;
        char ids[SENT_IDS_MAX][128];
} Sent;

static void sent_count(Sent *s, natsMsg *msg) {
        const char *id = NULL;
        (void)natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
        pthread_mutex_lock(&s->lock);
        s->sends++;
        bool known = false;
        for (int i = 0; i < s->events && id; i++)
                known = known || strcmp(s->ids[i], id) == 0;
        if (id && !known && s->events < SENT_IDS_MAX)
                snprintf(s->ids[s->events++], sizeof(s->ids[0]), "%s", id);
        pthread_mutex_unlock(&s->lock);
}

/* Reads both counts, and starts them again. */
static void sent_take(Sent *s, int *sends, int *events) {
        pthread_mutex_lock(&s->lock);
        *sends = s->sends;
        *events = s->events;
        s->sends = s->events = 0;
        pthread_mutex_unlock(&s->lock);
}

/* Plays a FOOD_ORDER stream without a leader: every status event is refused at once (an error PubAck),
 * as nats-server's "no responders" does; counts the sends and the distinct events. */
static Sent refused = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void refuse_status(void *closure, natsMsg *msg) {
        static const char refusal[] = "{\"error\":{\"code\":503,\"description\":\"test: no stream leader\"}}";
        const char *reply = natsMsg_GetReply(msg);
        (void)closure;
        sent_count(&refused, msg);
        if (reply && *reply)
                (void)bus_publish_core(bus, reply, NULL, refusal, sizeof(refusal) - 1);
        natsMsg_Destroy(msg);
}

/* How many messages FOOD_ORDER holds (its stream info), or -1. */
static long long order_stream_messages(void) {
        natsMsg *r = NULL;
        long long n = -1;
        if (bus_request(bus, "$JS.API.STREAM.INFO." TOPO_ARCHIVE_STREAM, NULL, NULL, 0, 2000, &r) == 0) {
                json_t *v = json_loadb(natsMsg_GetData(r), (size_t)natsMsg_GetDataLength(r), 0, NULL);
                json_t *m = json_object_get(json_object_get(v, "state"), "messages");
                if (json_is_integer(m))
                        n = json_integer_value(m);
                json_decref(v);
        }
        natsMsg_Destroy(r);
        return n;
}

/* While JetStream refuses the status events, the writer sends those waiting again about once a second
 * (WRITER_REPUBLISH_MS), not with every batch; once the stream is back they are published. */
static void test_refused_events_wait(void) {
        natsMsg *r = NULL;
        BusSubscription *fake = NULL;
        char id[64];
        CHECK(bus_request(bus, "$JS.API.STREAM.DELETE." TOPO_ARCHIVE_STREAM, NULL, NULL, 0, 5000, &r) == 0,
              "deleting the stream %s", TOPO_ARCHIVE_STREAM);
        natsMsg_Destroy(r);
        CHECK(bus_subscribe(bus, "food.order.*.status", NULL, refuse_status, NULL, &fake) == 0, "subscribing");
        ids_new(id, sizeof(id), "ord");
        CHECK(place_paid(id) == 201, "placing %s while its events are refused", id);
        /* Three seconds of an idle writer with its events refused. */
        int sends, events;
        sent_take(&refused, &sends, &events);
        sleep(3);
        sent_take(&refused, &sends, &events);
        CHECK(events >= 1 && sends <= events * 5,
              "events refused for 3 s: %d sends of %d event(s); expected one round a second at most", sends, events);
        bus_unsubscribe(fake);
        CHECK(bus_setup_topology(bus, NULL) == 0, "the stream back");
        long long n = -1;
        for (int i = 0; i < 50 && n < events; i++) {
                usleep(100000);
                n = order_stream_messages();
        }
        CHECK(n >= events, "once the stream is back, the %d waiting event(s) are published: the stream holds %lld",
              events, n);
}

/* The status events of the orders in seen_orders, counted as sent. */
#define SEEN_ORDERS 8
static char seen_orders[SEEN_ORDERS][64];
static Sent seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void see_status(void *closure, natsMsg *msg) {
        const char *subject = natsMsg_GetSubject(msg);
        bool ours = false;
        (void)closure;
        for (int i = 0; i < SEEN_ORDERS; i++)
                ours = ours || strstr(subject, seen_orders[i]) != NULL;
        if (ours)
                sent_count(&seen, msg);
        natsMsg_Destroy(msg);
}

/* How many of `order_id`'s status events lie past their shard's watermark in PostgreSQL, or -1. */
static int events_past_watermark(const char *order_id) {
        static const PgStmt st = {"t_past_watermark",
                                  "SELECT count(*) FROM orchestrator.events e LEFT JOIN orchestrator.shards s USING (shard)"
                                  " WHERE e.order_id = $1 AND e.seq > coalesce(s.published, 0)"};
        const char *vals[] = {order_id};
        PGresult *res = NULL;
        int n = -1;
        if (pg_run(pg, &st, 1, vals, NULL, NULL, &res) == 0 && PQntuples(res) == 1)
                n = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
        return n;
}

/* Runs `act` on every order of seen_orders at once: requests that arrive while a batch is written make
 * the next one, which starts before the last one's PubAcks were read. */
static void act_on_all(const char *act, const char *want) {
        pthread_t t[SEEN_ORDERS];
        Food__V1__OrderAction a[SEEN_ORDERS];
        Call c[SEEN_ORDERS];
        for (int i = 0; i < SEEN_ORDERS; i++)
                action_async(&t[i], &a[i], &c[i], seen_orders[i], act, "store", "o");
        for (int i = 0; i < SEEN_ORDERS; i++) {
                pthread_join(t[i], NULL);
                CHECK(c[i].status == 200 && strcmp(c[i].order_status, want) == 0, "%s of %s: %d %s", act,
                      seen_orders[i], c[i].status, c[i].order_status);
        }
}

/* The writer reads a batch's PubAcks after the next batch committed, or as soon as no batch follows:
 * batches written back to back send each status event once, and with no traffic after them the shards'
 * watermarks in PostgreSQL come to cover every event (a takeover would publish the rest again). */
static void test_events_sent_once_and_marked(void) {
        BusSubscription *sub = NULL;
        for (int i = 0; i < SEEN_ORDERS; i++)
                ids_new(seen_orders[i], sizeof(seen_orders[0]), "ord");
        CHECK(bus_subscribe(bus, "food.order.*.status", NULL, see_status, NULL, &sub) == 0, "subscribing");
        for (int i = 0; i < SEEN_ORDERS; i++)
                CHECK(place_paid(seen_orders[i]) == 201, "placing %s", seen_orders[i]);
        act_on_all("accept", "ACCEPTED");
        act_on_all("cooking_started", "COOKING");
        for (int i = 0; i < SEEN_ORDERS; i++) {
                int past = -1;
                for (int k = 0; k < 50 && past != 0; k++) {
                        past = events_past_watermark(seen_orders[i]);
                        if (past != 0)
                                usleep(100000);
                }
                CHECK(past == 0, "%d event(s) of %s past their shard's watermark in PostgreSQL", past, seen_orders[i]);
        }
        usleep(300000);
        bus_unsubscribe(sub);
        int sends, events;
        sent_take(&seen, &sends, &events);
        CHECK(events == SEEN_ORDERS * 3 && sends == events,
              "%d send(s) of %d status event(s) of %d orders paid, accepted, cooking: expected %d, each once", sends,
              events, SEEN_ORDERS, SEEN_ORDERS * 3);
}

/* A message handed back with bus_nak comes again no sooner than 1 s, then 2 s. */
static void test_nak_backs_off(void) {
        char id[64];
        uint8_t *buf = NULL;
        size_t len = 0;
        Food__V1__Correlation corr = FOOD__V1__CORRELATION__INIT;
        Food__V1__WithdrawTicket m = FOOD__V1__WITHDRAW_TICKET__INIT;
        Food__V1__Command cmd, *cmds[1] = {&cmd};
        Food__V1__CommandBatch batch = FOOD__V1__COMMAND_BATCH__INIT;
        ids_new(id, sizeof(id), "ord");
        corr.order_id = id;
        corr.step = "withdraw_ticket";
        m.corr = &corr;
        m.store_id = "nak-test";
        codec_command_wrap(&cmd, &m.base);
        batch.commands = cmds;
        batch.n_commands = 1;
        CHECK(codec_pack(&batch.base, &buf, &len) == 0, "pack failed");
        BusHeaders h = {.msg_id = id, .type = batch.base.descriptor->name};
        CHECK(bus_publish(pub, "food.cmd.store", &h, buf, len) == 0 && bus_publisher_flush(pub, 2000) == 0,
              "publish failed");
        free(buf);
        int64_t last = 0, gaps[3] = {0}, until = ids_now_ms() + 25000;
        for (int delivery = 0; delivery < 3 && ids_now_ms() < until;) {
                natsMsgList list;
                if (bus_fetch(stores, &list, 1, 500, false) < 0)
                        continue;
                natsMsg *msg = list.Msgs[0];
                const char *mid = bus_header(msg, "Nats-Msg-Id");
                if (mid && strcmp(mid, id) == 0) {
                        int64_t now = ids_now_ms();
                        gaps[delivery++] = last ? now - last : 0;
                        last = now;
                        if (delivery < 3)
                                bus_nak(stores, msg);
                        else
                                bus_ack(stores, msg);
                } else
                        bus_ack(stores, msg); /* another test's leftover command */
                natsMsgList_Destroy(&list);
        }
        /* As asked: 1 s, then 2 s (no consumer BackOff list stretching them: with one, nats-server 2.9
         * waited BackOff[n] - AckWait + delay, ~12 s for the second NAK). */
        CHECK(gaps[1] >= 900 && gaps[1] < 2500, "second delivery after %lld ms, expected about 1000", (long long)gaps[1]);
        CHECK(gaps[2] >= 1900 && gaps[2] < 4000, "third delivery after %lld ms, expected about 2000", (long long)gaps[2]);
}

int main(int argc, char **argv) {
        const char *nats_url = getenv("NATS_URL"), *db = getenv("DATABASE_URL");
        if (argc != 2 || !nats_url || !db) {
                fprintf(stderr, "usage: NATS_URL=... DATABASE_URL=... test-orchestrator ORCHESTRATOR\n");
                return 2;
        }
        orchestrator_path = argv[1];
        log_setup("test-orchestrator", LOG_WARN);
        NatsConfig nats = {.url = nats_url, .user = "", .password = ""};
        if (bus_connect(&bus, &nats, "test", NULL) < 0 || bus_setup_topology(bus, NULL) < 0 ||
            bus_publisher_new(bus, &pub) < 0 || bus_consumer_open(bus, "payment", &payments) < 0 ||
            bus_inbox_open(bus, "food.direct.payment", "payment", 1024, &direct_payments) < 0 ||
            bus_consumer_open(bus, "store", &stores) < 0 ||
            bus_consumer_open(bus, "coupon", &coupons) < 0) {
                printf("FAIL: cannot set up NATS\n");
                return 1;
        }
        start_orchestrator();
        for (int i = 0; i < 100 && pg_connect(&pg, db, "orchestrator") < 0; i++)
                usleep(100000);
        usleep(500000); /* migrations */

        test_place_pays_then_answers();
        test_declined();
        test_unanswered_command_is_resent();
        test_commands_linger();
        test_coupon_commands_linger();
        test_idempotency_key();
        test_one_pick_wins();
        test_payment_deadline_and_late_charge();
        test_store_deadline_survives_restart();
        test_commit_of_failed_transaction();
        test_events_sent_once_and_marked();
        test_gss_encryption_default(db);
        test_nak_backs_off();
        test_refused_events_wait();

        stop_orchestrator(SIGTERM);
        pg_free(pg);
        bus_consumer_close(payments);
        bus_inbox_close(direct_payments);
        bus_consumer_close(stores);
        bus_consumer_close(coupons);
        bus_publisher_free(pub);
        bus_free(bus);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
