/* Writes the seed corpora of the harnesses: real encoded messages (the command batches the
 * orchestrator sends, the answers workers send, its requests, status events, the request bodies
 * of the HTTP API) in each harness's input format, so that the fuzzers start deep. Usage:
 * fuzz-seeds <corpus dir> (writes <dir>/<target>/seed-*). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"

static const char *root;

/* An input being built. */
typedef struct {
        uint8_t data[16384];
        size_t len;
} Seed;

static void seed_bytes(Seed *s, const void *p, size_t n) {
        if (n == 0)
                return;
        if (s->len + n > sizeof(s->data)) {
                fprintf(stderr, "seed too long\n");
                exit(1);
        }
        memcpy(s->data + s->len, p, n);
        s->len += n;
}

static void seed_byte(Seed *s, int b) {
        uint8_t c = (uint8_t)b;
        seed_bytes(s, &c, 1);
}

static void seed_msg(Seed *s, const ProtobufCMessage *m) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (codec_pack(m, &buf, &len) < 0)
                exit(1);
        seed_bytes(s, buf, len);
        free(buf);
}

/* A record of the sequence harnesses: [op][length, 2 bytes big-endian][m packed, or nothing]. */
static void seed_record(Seed *s, int op, const ProtobufCMessage *m) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (m && codec_pack(m, &buf, &len) < 0)
                exit(1);
        seed_byte(s, op);
        seed_byte(s, (int)(len >> 8));
        seed_byte(s, (int)(len & 0xff));
        seed_bytes(s, buf, len);
        free(buf);
}

static void put(const char *target, const char *name, const Seed *s) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", root, target);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                perror(path);
                exit(1);
        }
        snprintf(path, sizeof(path), "%s/%s/seed-%s", root, target, name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(s->data, 1, s->len, f) != s->len || fclose(f)) {
                perror(path);
                exit(1);
        }
}

/* A message behind a selector byte (none when selector < 0). */
static void put_msg(const char *target, const char *name, int selector, const ProtobufCMessage *m) {
        Seed s = {.len = 0};
        if (selector >= 0)
                seed_byte(&s, selector);
        seed_msg(&s, m);
        put(target, name, &s);
}

static void put_text(const char *target, const char *name, int selector, const char *text) {
        Seed s = {.len = 0};
        seed_byte(&s, selector);
        seed_bytes(&s, text, strlen(text));
        put(target, name, &s);
}

/* A CommandBatch of `n` commands (each a command message) behind a selector byte (none when < 0). */
static void put_batch(const char *target, const char *name, int selector, const ProtobufCMessage *const *cmds,
                      size_t n) {
        Food__V1__Command c[8], *cp[8];
        Food__V1__CommandBatch b = FOOD__V1__COMMAND_BATCH__INIT;
        for (size_t i = 0; i < n && i < 8; i++) {
                if (codec_command_wrap(&c[i], cmds[i]) < 0)
                        exit(1);
                cp[i] = &c[i];
        }
        b.commands = cp;
        b.n_commands = n;
        put_msg(target, name, selector, &b.base);
}

/* A ReplyBatch of `n` answers (each a reply message) as a record of fuzz-orchestrator-replies. */
static void seed_replies(Seed *s, int op, const ProtobufCMessage *const *reps, size_t n) {
        Food__V1__Reply r[8], *rp[8];
        Food__V1__ReplyBatch b = FOOD__V1__REPLY_BATCH__INIT;
        for (size_t i = 0; i < n && i < 8; i++) {
                if (codec_reply_wrap(&r[i], reps[i]) < 0)
                        exit(1);
                rp[i] = &r[i];
        }
        b.replies = rp;
        b.n_replies = n;
        seed_record(s, op, &b.base);
}

/* fuzz-orchestrator-replies: the scenario (first byte), then one ReplyBatch record of `reps`. */
static void put_replies(const char *name, int scenario, const ProtobufCMessage *const *reps, size_t n) {
        Seed s = {.len = 0};
        seed_byte(&s, scenario);
        seed_replies(&s, 0, reps, n);
        put("fuzz-orchestrator-replies", name, &s);
}

/* fuzz-readmodel-write: events behind 2-byte lengths. */
static void seed_event(Seed *s, const ProtobufCMessage *m) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (codec_pack(m, &buf, &len) < 0)
                exit(1);
        seed_byte(s, (int)(len >> 8));
        seed_byte(s, (int)(len & 0xff));
        seed_bytes(s, buf, len);
        free(buf);
}

/* Ops of fuzz-orchestrator-rpc (see its header). */
enum { RPC_PLACE = 0, RPC_ACTION = 1, RPC_MODIFY = 2, RPC_COUPON = 3, RPC_SAGA = 4, RPC_WORKERS = 5, RPC_TIME = 6 };
#define RPC_SAME_BATCH 8
#define RPC_TRACED 16
#define MOOD(m) ((m) << 3)

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
                return 2;
        }
        root = argv[1];

        Food__V1__Correlation corr = FOOD__V1__CORRELATION__INIT;
        corr.order_id = "ord_fuzz0001";
        corr.step = "authorize";
        corr.attempt = 1;
        corr.command_id = 1;
        corr.version = 1;
        corr.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        Food__V1__Location addr = FOOD__V1__LOCATION__INIT, pickup = FOOD__V1__LOCATION__INIT;
        addr.text = "서울 강남구 테헤란로 1";
        addr.region = "gangnam";
        addr.lat = 37.4979;
        addr.lon = 127.0276;
        pickup.text = "Store 1";
        pickup.region = "gangnam";
        pickup.lat = 37.5;
        pickup.lon = 127.03;
        Food__V1__OrderItem it1 = FOOD__V1__ORDER_ITEM__INIT, it2 = FOOD__V1__ORDER_ITEM__INIT;
        it1.menu_item_id = "m_bibimbap";
        it1.name = "비빔밥";
        it1.quantity = 2;
        it1.unit_price = 9000;
        it2.menu_item_id = "m_tea";
        it2.name = "Tea";
        it2.quantity = 1;
        it2.unit_price = 2500;
        Food__V1__OrderItem *items[] = {&it1, &it2};
        Food__V1__StatusAt h1 = FOOD__V1__STATUS_AT__INIT, h2 = FOOD__V1__STATUS_AT__INIT;
        h1.status = "PAYMENT_PENDING";
        h1.at_ms = 1700000000000;
        h2.status = "PAID";
        h2.at_ms = 1700000001000;
        Food__V1__StatusAt *hist[] = {&h1, &h2};
        Food__V1__Charge ch = FOOD__V1__CHARGE__INIT;
        ch.payment_id = "ch_1";
        ch.amount = 20500;
        Food__V1__Charge *charges[] = {&ch};
        Food__V1__Order o = FOOD__V1__ORDER__INIT;
        o.id = "ord_fuzz0001";
        o.customer_id = "cus_1";
        o.store_id = "sto_1";
        o.status = "PAID";
        o.n_items = 2;
        o.items = items;
        o.total = 20500;
        o.amount_paid = 20500;
        o.address = &addr;
        o.pickup = &pickup;
        o.note = "문 앞에 놓아 주세요";
        o.n_history = 2;
        o.history = hist;
        o.updated_at_ms = 1700000001000;
        o.version = 2;
        o.payment_id = "ch_1";
        o.n_charges = 1;
        o.charges = charges;
        o.traceparent = corr.traceparent;

        /* payment: the provider's status picked by the first byte (0: 201, 1: 402, 2: 409, 3: 500, 4: 503;
         * bits 3..5 for refunds), then the message on food.cmd.payment */
        Food__V1__AuthorizePayment ap = FOOD__V1__AUTHORIZE_PAYMENT__INIT;
        ap.corr = &corr;
        ap.customer_id = "cus_1";
        ap.amount = 20500;
        ap.card_token = "{\"id\":\"ch_1\",\"status\":\"approved\",\"amount\":20500}";
        ap.idempotency_key = "ord_fuzz0001.authorize";
        const ProtobufCMessage *pay[] = {&ap.base};
        put_batch("fuzz-payment", "authorize", 0, pay, 1);
        put_batch("fuzz-payment", "authorize-declined", 1, pay, 1);
        ap.card_token = "tok_ok";
        put_batch("fuzz-payment", "authorize-token", 2, pay, 1);
        Food__V1__RefundPayment rp = FOOD__V1__REFUND_PAYMENT__INIT;
        rp.corr = &corr;
        rp.payment_id = "ch_1";
        rp.amount = 20500;
        rp.reason = "{\"id\":\"rf_1\",\"status\":\"refunded\",\"amount\":20500}";
        rp.idempotency_key = "ord_fuzz0001.refund.ch_1";
        const ProtobufCMessage *refund[] = {&rp.base};
        put_batch("fuzz-payment", "refund", 0, refund, 1);
        put_batch("fuzz-payment", "refund-later", 4 << 3, refund, 1);
        const ProtobufCMessage *both[] = {&ap.base, &rp.base};
        put_batch("fuzz-payment", "two", 0, both, 2);

        /* store: a message on food.cmd.store */
        Food__V1__CreateTicket ct = FOOD__V1__CREATE_TICKET__INIT;
        ct.corr = &corr;
        ct.order = &o;
        const ProtobufCMessage *create[] = {&ct.base};
        put_batch("fuzz-store", "create", -1, create, 1);
        Food__V1__UpdateTicket ut = FOOD__V1__UPDATE_TICKET__INIT;
        ut.corr = &corr;
        ut.order = &o;
        const ProtobufCMessage *update[] = {&ut.base};
        o.status = "ACCEPTED";
        o.version = 3;
        put_batch("fuzz-store", "update", -1, update, 1);
        Food__V1__WithdrawTicket wt = FOOD__V1__WITHDRAW_TICKET__INIT;
        wt.corr = &corr;
        wt.store_id = "sto_1";
        wt.reason = "store refused";
        const ProtobufCMessage *withdraw[] = {&wt.base};
        put_batch("fuzz-store", "withdraw", -1, withdraw, 1);
        const ProtobufCMessage *tickets[] = {&ct.base, &ut.base, &wt.base};
        put_batch("fuzz-store", "three", -1, tickets, 3);

        /* delivery: a message on food.cmd.delivery */
        Food__V1__OpenDelivery od = FOOD__V1__OPEN_DELIVERY__INIT;
        od.corr = &corr;
        od.delivery_id = "dlv_fuzz0001";
        od.store_id = "sto_1";
        od.pickup = &pickup;
        od.dropoff = &addr;
        const ProtobufCMessage *open[] = {&od.base};
        put_batch("fuzz-delivery", "open", -1, open, 1);
        Food__V1__AssignRider ar = FOOD__V1__ASSIGN_RIDER__INIT;
        ar.corr = &corr;
        ar.delivery_id = "dlv_fuzz0001";
        ar.rider_id = "rid_1";
        const ProtobufCMessage *assign[] = {&ar.base};
        put_batch("fuzz-delivery", "assign", -1, assign, 1);
        Food__V1__CompleteDelivery cd = FOOD__V1__COMPLETE_DELIVERY__INIT;
        cd.corr = &corr;
        cd.delivery_id = "dlv_fuzz0001";
        cd.rider_id = "rid_1";
        const ProtobufCMessage *complete[] = {&cd.base};
        put_batch("fuzz-delivery", "complete", -1, complete, 1);
        const ProtobufCMessage *deliveries[] = {&od.base, &ar.base, &cd.base};
        put_batch("fuzz-delivery", "three", -1, deliveries, 3);

        /* coupon: the stored coupon's shape (first byte), then a message on food.cmd.coupon */
        Food__V1__IssueCoupon ic = FOOD__V1__ISSUE_COUPON__INIT;
        ic.corr = &corr;
        ic.customer_id = "cus_1";
        ic.store_id = "sto_1";
        ic.discount = 1000;
        ic.coupon_id = "cpn_fuzz0001";
        const ProtobufCMessage *issue[] = {&ic.base};
        put_batch("fuzz-coupon", "issue", 0, issue, 1);
        Food__V1__RedeemCoupon rc = FOOD__V1__REDEEM_COUPON__INIT;
        rc.corr = &corr;
        rc.coupon_id = "cpn_fuzz0001";
        rc.customer_id = "cus_1";
        rc.store_id = "sto_1";
        const ProtobufCMessage *redeem[] = {&rc.base};
        put_batch("fuzz-coupon", "redeem", 0, redeem, 1);
        put_batch("fuzz-coupon", "redeem-own", 1 | 2 | 4 | 8, redeem, 1);
        put_batch("fuzz-coupon", "redeem-issued", 1 | 2, redeem, 1);
        Food__V1__ReturnCoupon xc = FOOD__V1__RETURN_COUPON__INIT;
        xc.corr = &corr;
        xc.coupon_id = "cpn_fuzz0001";
        const ProtobufCMessage *ret[] = {&xc.base};
        put_batch("fuzz-coupon", "return", 0, ret, 1);

        /* status events: notification (1: an event), readmodel-write (length-prefixed events),
         * archive-export (0: an event), gateway events (0: the stream's own order) */
        Food__V1__OrderStatusChanged ev = FOOD__V1__ORDER_STATUS_CHANGED__INIT;
        ev.order = &o;
        ev.previous_status = "PAID";
        ev.at_ms = 1700000002000;
        static const char *const statuses[] = {"PAID", "ACCEPTED", "COOKING", "COOKED", "PICKED_UP",
                                               "DELIVERED", "COMPLETED", "CANCELLED", "REFUSED", "REJECTED"};
        Seed all = {.len = 0};
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
                char name[32];
                Seed one = {.len = 0};
                o.status = (char *)statuses[i];
                o.version = (int64_t)i + 2;
                o.rider_id = i >= 4 && i <= 6 ? "rid_1" : "";
                o.amount_refunded = i >= 7 ? o.amount_paid : 0;
                snprintf(name, sizeof(name), "status-%s", statuses[i]);
                ev.previous_status = "PAID";
                put_msg("fuzz-gateway-events", name, i % 2 ? 8 : 0, &ev.base);
                ev.previous_status = i == 0 ? "PAYMENT_PENDING" : i <= 6 ? (char *)statuses[i - 1] : "ACCEPTED";
                put_msg("fuzz-notification", name, 1, &ev.base);
                put_msg("fuzz-archive-export", name, 0, &ev.base);
                seed_event(&one, &ev.base);
                put("fuzz-readmodel-write", name, &one);
                if (i < 8)
                        seed_event(&all, &ev.base);
        }
        put("fuzz-readmodel-write", "lifecycle", &all);
        ev.previous_status = "CANCELLED";
        o.status = "CANCELLED";
        put_msg("fuzz-notification", "refunded", 1, &ev.base);
        put_text("fuzz-archive-export", "since-seq", 1, "12345");
        put_text("fuzz-archive-export", "since-time", 1, "2024-05-01T12:00:00.123+09:00");
        put_text("fuzz-archive-export", "limit", 2, "500");

        /* notification worker: 0, then a message on food.cmd.notification (rows) */
        Food__V1__Notification n1 = FOOD__V1__NOTIFICATION__INIT, n2 = FOOD__V1__NOTIFICATION__INIT;
        n1.msg_id = "0190d5a4-7c3e-7b1a-9f00-1234567890ab";
        n1.customer_id = "cus_1";
        n1.order_id = "ord_fuzz0001";
        n1.status = "PAID";
        n1.message = "결제가 완료되어 주문이 가게에 전달되었습니다";
        n1.at_ms = 1700000001000;
        n2 = n1;
        n2.msg_id = "0190d5a4-7c3e-7b1a-9f00-1234567890ac";
        n2.order_id = "";
        n2.status = "COUPON";
        n2.message = "쿠폰이 도착했습니다: 1000원 할인";
        Food__V1__Notification *rows[] = {&n1, &n2};
        Food__V1__CommandBatch nb = FOOD__V1__COMMAND_BATCH__INIT;
        nb.notifications = rows;
        nb.n_notifications = 2;
        put_msg("fuzz-notification", "rows", 0, &nb.base);

        /* RpcReply: 201 with the order, 409 problem, 503 with Retry-After, a saga history */
        Food__V1__RpcReply rr = FOOD__V1__RPC_REPLY__INIT;
        o.status = "PAID";
        rr.http_status = 201;
        rr.order = &o;
        put_msg("fuzz-gateway-rpc-reply", "201", -1, &rr.base);
        rr.http_status = 409;
        rr.title = "Conflict";
        rr.detail = "order ord_fuzz0001 is COOKING; cancel is not allowed now";
        put_msg("fuzz-gateway-rpc-reply", "409", -1, &rr.base);
        rr.http_status = 503;
        rr.order = NULL;
        rr.title = "Pay later";
        rr.retry_after_s = 5;
        put_msg("fuzz-gateway-rpc-reply", "503", -1, &rr.base);
        Food__V1__SagaStep st = FOOD__V1__SAGA_STEP__INIT;
        st.kind = "command";
        st.type = "food.v1.AuthorizePayment";
        st.step = "authorize";
        st.attempt = 1;
        st.at_ms = 1700000000000;
        st.detail = "answered";
        Food__V1__SagaStep *steps[] = {&st};
        Food__V1__SagaHistory sh = FOOD__V1__SAGA_HISTORY__INIT;
        sh.order_id = "ord_fuzz0001";
        sh.state = "PAID";
        sh.step = "";
        sh.version = 2;
        sh.definition_version = 1;
        sh.created_ms = 1700000000000;
        sh.updated_ms = 1700000001000;
        sh.n_steps = 1;
        sh.steps = steps;
        Food__V1__SagaHistory *sagas[] = {&sh};
        Food__V1__RpcReply rs = FOOD__V1__RPC_REPLY__INIT;
        rs.http_status = 200;
        rs.n_sagas = 1;
        rs.sagas = sagas;
        put_msg("fuzz-gateway-rpc-reply", "saga", -1, &rs.base);

        /* HTTP bodies: order (0), modify (1), dev token (2), reason (3), coupon (4), token payload (5) */
        put_text("fuzz-gateway-json", "order", 0,
                 "{\"store_id\":\"sto_1\",\"items\":[{\"menu_item_id\":\"m_bibimbap\",\"quantity\":2}],"
                 "\"address\":{\"text\":\"서울 강남구\",\"region\":\"gangnam\",\"lat\":37.4979,\"lon\":127.0276},"
                 "\"note\":\"문 앞\",\"coupon_id\":\"cpn_1\",\"payment\":{\"card_token\":\"tok_ok\"}}");
        put_text("fuzz-gateway-json", "modify", 1,
                 "{\"items\":[{\"menu_item_id\":\"m_tea\",\"quantity\":3}],\"note\":\"less spicy\","
                 "\"address\":{\"text\":\"t\",\"region\":\"mapo\",\"lat\":-1.5,\"lon\":2e1},"
                 "\"payment\":{\"card_token\":\"tok_ok\"}}");
        put_text("fuzz-gateway-json", "dev-token", 2, "{\"sub\":\"owner_1\",\"role\":\"store\",\"store_id\":\"sto_1\"}");
        put_text("fuzz-gateway-json", "reason", 3, "{\"reason\":\"out of rice\"}");
        put_text("fuzz-gateway-json", "coupon", 4, "{\"customer_id\":\"cus_1\",\"discount\":1000}");
        put_text("fuzz-gateway-json", "token", 5,
                 "{\"sub\":\"owner_1\",\"role\":\"store\",\"store_id\":\"sto_1\",\"exp\":1800000000,\"nbf\":1}");

        /* orchestrator RPC: sequences of requests, the workers' answers and time (see
         * fuzz-orchestrator-rpc.c) */
        Food__V1__Order po = o;
        po.status = "PAYMENT_PENDING";
        po.amount_paid = 0;
        po.amount_refunded = 0;
        po.rider_id = "";
        po.updated_at_ms = 0;
        po.n_charges = 0;
        po.charges = NULL;
        po.payment_id = "";
        po.n_history = 0;
        po.history = NULL;
        po.version = 0;
        po.traceparent = "";
        Food__V1__PlaceOrder pl = FOOD__V1__PLACE_ORDER__INIT;
        pl.order = &po;
        pl.card_token = "tok_ok";
        pl.idempotency_key = "idem-1";
        pl.request_hash = "sha256:00";
        Food__V1__OrderAction oa = FOOD__V1__ORDER_ACTION__INIT;
        oa.order_id = "ord_fuzz0001";
        oa.actor_id = "owner_1";
        oa.actor_role = "store";
        oa.store_id = "sto_1";
        static const char *const store_steps[] = {"accept", "cooking_started", "cooking_finished"};
        Food__V1__OrderAction pick = oa, delivered, confirm, cancel;
        pick.action = "pick";
        pick.actor_id = "rid_1";
        pick.actor_role = "rider";
        pick.store_id = "";
        delivered = pick;
        delivered.action = "delivered";
        confirm = pick;
        confirm.action = "confirm";
        confirm.actor_id = "cus_1";
        confirm.actor_role = "customer";
        cancel = confirm;
        cancel.action = "cancel";
        cancel.reason = "changed my mind";

        Seed s = {.len = 0};
        seed_record(&s, RPC_PLACE | RPC_TRACED, &pl.base);
        seed_record(&s, RPC_WORKERS, NULL);
        seed_record(&s, RPC_WORKERS, NULL);
        for (int i = 0; i < 3; i++) {
                oa.action = (char *)store_steps[i];
                seed_record(&s, RPC_ACTION, &oa.base);
                seed_record(&s, RPC_WORKERS, NULL);
        }
        seed_record(&s, RPC_ACTION, &pick.base);
        seed_record(&s, RPC_WORKERS, NULL);
        seed_record(&s, RPC_ACTION, &delivered.base);
        seed_record(&s, RPC_WORKERS, NULL);
        seed_record(&s, RPC_ACTION, &confirm.base);
        seed_record(&s, RPC_WORKERS, NULL);
        put("fuzz-orchestrator-rpc", "lifecycle", &s);

        s.len = 0;
        seed_record(&s, RPC_PLACE, &pl.base);
        seed_record(&s, RPC_WORKERS, NULL);
        seed_record(&s, RPC_WORKERS, NULL);
        seed_record(&s, RPC_ACTION, &cancel.base);
        seed_record(&s, RPC_WORKERS, NULL);
        put("fuzz-orchestrator-rpc", "cancel", &s);

        s.len = 0;
        seed_record(&s, RPC_PLACE, &pl.base);
        seed_record(&s, RPC_PLACE | RPC_SAME_BATCH, &pl.base); /* the same Idempotency-Key again */
        seed_record(&s, RPC_WORKERS | MOOD(1), NULL);          /* declined */
        seed_record(&s, RPC_PLACE, &pl.base);
        put("fuzz-orchestrator-rpc", "declined-retried", &s);

        s.len = 0;
        seed_record(&s, RPC_PLACE, &pl.base);
        seed_record(&s, RPC_TIME | (1 << 3), NULL); /* 70 s: the payment deadline */
        seed_record(&s, RPC_WORKERS, NULL);         /* the charge lands late */
        seed_record(&s, RPC_WORKERS, NULL);         /* and is refunded */
        put("fuzz-orchestrator-rpc", "payment-timeout", &s);

        s.len = 0;
        po.coupon_id = "cpn_1";
        seed_record(&s, RPC_PLACE, &pl.base);
        seed_record(&s, RPC_WORKERS, NULL); /* redeemed */
        seed_record(&s, RPC_WORKERS, NULL); /* authorized */
        seed_record(&s, RPC_WORKERS, NULL);
        oa.action = "refuse";
        oa.reason = "out of rice";
        seed_record(&s, RPC_ACTION, &oa.base);
        seed_record(&s, RPC_WORKERS | MOOD(8), NULL); /* refunds later */
        seed_record(&s, RPC_TIME | (2 << 3), NULL);
        seed_record(&s, RPC_WORKERS, NULL);
        put("fuzz-orchestrator-rpc", "coupon-refused", &s);
        po.coupon_id = "";
        oa.reason = "";

        s.len = 0;
        Food__V1__ModifyOrder mo = FOOD__V1__MODIFY_ORDER__INIT;
        mo.order_id = "ord_fuzz0001";
        mo.customer_id = "cus_1";
        mo.n_items = 1;
        mo.items = items;
        mo.has_items = true;
        mo.total = 25000;
        seed_record(&s, RPC_PLACE, &pl.base);
        seed_record(&s, RPC_WORKERS, NULL);
        seed_record(&s, RPC_WORKERS, NULL);
        oa.action = "accept";
        seed_record(&s, RPC_ACTION, &oa.base);
        seed_record(&s, RPC_MODIFY, &mo.base); /* more: charged first */
        seed_record(&s, RPC_WORKERS, NULL);
        mo.total = 18000;
        mo.has_note = true;
        mo.note = "less spicy";
        seed_record(&s, RPC_MODIFY, &mo.base); /* less: refunded */
        seed_record(&s, RPC_WORKERS, NULL);
        Food__V1__SagaQuery sq = FOOD__V1__SAGA_QUERY__INIT;
        sq.query = "show";
        sq.order_id = "ord_fuzz0001";
        seed_record(&s, RPC_SAGA, &sq.base);
        put("fuzz-orchestrator-rpc", "modify", &s);

        s.len = 0;
        Food__V1__GrantCoupon gc = FOOD__V1__GRANT_COUPON__INIT;
        gc.coupon_id = "cpn_2";
        gc.customer_id = "cus_1";
        gc.store_id = "sto_1";
        gc.discount = 2000;
        seed_record(&s, RPC_COUPON, &gc.base);
        seed_record(&s, RPC_WORKERS, NULL);
        seed_record(&s, RPC_PLACE, &pl.base);
        seed_record(&s, RPC_WORKERS | MOOD(16), NULL); /* lost */
        seed_record(&s, RPC_TIME, NULL);               /* re-sent */
        sq.query = "redrive";
        seed_record(&s, RPC_SAGA, &sq.base);
        seed_record(&s, 7 | (4 << 5), &sq.base); /* a SagaQuery on the place subject: refused */
        put("fuzz-orchestrator-rpc", "coupon-resend", &s);

        /* orchestrator answers: the saga's scenario (fuzz-orchestrator-replies.c), then a ReplyBatch of
         * answers to what it awaits (command ids as the scenario gives them) */
        corr.step = "authorize";
        corr.command_id = 1;
        Food__V1__PaymentAuthorized pa = FOOD__V1__PAYMENT_AUTHORIZED__INIT;
        pa.corr = &corr;
        pa.payment_id = "ch_1";
        pa.amount = 20500;
        const ProtobufCMessage *authorized[] = {&pa.base};
        put_replies("authorized", 0, authorized, 1);
        put_replies("authorized-late", 7, authorized, 1);
        const ProtobufCMessage *twice[] = {&pa.base, &pa.base};
        put_replies("authorized-twice", 0, twice, 2);
        Food__V1__PaymentDeclined pd = FOOD__V1__PAYMENT_DECLINED__INIT;
        pd.corr = &corr;
        pd.reason = "declined";
        const ProtobufCMessage *declined[] = {&pd.base};
        put_replies("declined", 0, declined, 1);
        Food__V1__PaymentFailed pf = FOOD__V1__PAYMENT_FAILED__INIT;
        pf.corr = &corr;
        pf.reason = "provider unavailable";
        pf.retryable = true;
        const ProtobufCMessage *failed[] = {&pf.base};
        put_replies("failed", 0, failed, 1);

        corr.step = "redeem_coupon";
        Food__V1__CouponRedeemed cr = FOOD__V1__COUPON_REDEEMED__INIT;
        cr.corr = &corr;
        cr.coupon_id = "cpn_1";
        cr.discount = 1000;
        const ProtobufCMessage *redeemed[] = {&cr.base};
        put_replies("coupon-redeemed", 1, redeemed, 1);
        cr.discount = 30000;
        put_replies("coupon-pays-all", 1, redeemed, 1);
        cr.discount = -9223372036854775807LL - 1; /* reproducer of a fixed finding: a negative discount */
        put_replies("coupon-negative-discount", 1, redeemed, 1);
        Food__V1__CouponRejected cj = FOOD__V1__COUPON_REJECTED__INIT;
        cj.corr = &corr;
        cj.coupon_id = "cpn_1";
        cj.reason = "this coupon was already used";
        const ProtobufCMessage *rejected[] = {&cj.base};
        put_replies("coupon-rejected", 1, rejected, 1);

        corr.step = "create_ticket";
        corr.command_id = 2;
        corr.version = 2;
        Food__V1__TicketRecorded tr = FOOD__V1__TICKET_RECORDED__INIT;
        tr.corr = &corr;
        tr.store_id = "sto_1";
        tr.status = "PAID";
        const ProtobufCMessage *ticket[] = {&tr.base};
        put_replies("ticket-recorded", 2, ticket, 1);

        corr.step = "modify_charge";
        corr.command_id = 4;
        corr.version = 3;
        pa.payment_id = "ch_2";
        pa.amount = 5000;
        put_replies("modify-authorized", 3, authorized, 1);
        put_replies("modify-declined", 3, declined, 1);

        corr.version = 5;
        Food__V1__DeliveryRecorded dr = FOOD__V1__DELIVERY_RECORDED__INIT;
        dr.corr = &corr;
        dr.delivery_id = "dlv_fuzz0001";
        dr.status = "OPEN";
        corr.step = "open_delivery";
        corr.command_id = 6;
        Food__V1__CouponIssued ci = FOOD__V1__COUPON_ISSUED__INIT;
        Food__V1__Correlation corr2 = corr;
        corr2.step = "issue_coupon";
        corr2.command_id = 7;
        ci.corr = &corr2;
        ci.coupon_id = "cpn_fuzz0001";
        ci.customer_id = "cus_1";
        const ProtobufCMessage *cooked[] = {&dr.base, &ci.base};
        put_replies("cooked", 4, cooked, 2);

        corr.step = "complete_delivery";
        corr.command_id = 9;
        corr.version = 7;
        dr.status = "DELIVERED";
        dr.rider_id = "rid_1";
        const ProtobufCMessage *complete_rep[] = {&dr.base};
        put_replies("delivered", 5, complete_rep, 1);

        corr.step = "withdraw_ticket";
        corr.command_id = 4;
        corr.version = 4;
        Food__V1__TicketWithdrawn tw = FOOD__V1__TICKET_WITHDRAWN__INIT;
        tw.corr = &corr;
        tw.store_id = "sto_1";
        corr2 = corr;
        corr2.step = "refund";
        corr2.command_id = 5;
        Food__V1__PaymentRefunded pr = FOOD__V1__PAYMENT_REFUNDED__INIT;
        pr.corr = &corr2;
        pr.refund_id = "rf_1";
        pr.amount = 20500;
        pr.payment_id = "ch_85a23786b7466cf0"; /* the simulated provider's charge id of the authorize key */
        const ProtobufCMessage *compensated[] = {&tw.base, &pr.base};
        put_replies("cancelled", 6, compensated, 2);
        Food__V1__PaymentFailed rf = FOOD__V1__PAYMENT_FAILED__INIT;
        rf.corr = &corr2;
        rf.reason = "refund refused";
        const ProtobufCMessage *refund_failed[] = {&rf.base};
        put_replies("refund-failed", 6, refund_failed, 1);

        /* The same answers in a sequence with time, the workers and an operator. */
        s.len = 0;
        seed_byte(&s, 6);
        for (int i = 0; i < 6; i++)
                seed_record(&s, 2 | (3 << 2), NULL); /* 2 h each: the refund's tries run out: COMPENSATION_FAILED */
        seed_record(&s, 3, NULL);            /* show */
        seed_record(&s, 3 | 4, NULL);        /* redrive */
        seed_replies(&s, 0, compensated, 2);
        put("fuzz-orchestrator-replies", "compensation-failed", &s);
        return 0;
}
