/* Writes the seed corpora of the harnesses: real encoded messages (the order and commands the
 * orchestrator sends, the replies workers send, the request bodies of the HTTP API) so that the
 * fuzzers start deep. Usage: fuzz-seeds <corpus dir> (writes <dir>/<target>/seed-*). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"

static const char *root;

static void put(const char *target, const char *name, uint8_t selector, bool with_selector, const void *data,
                size_t len) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", root, target);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                perror(path);
                exit(1);
        }
        snprintf(path, sizeof(path), "%s/%s/seed-%s", root, target, name);
        FILE *f = fopen(path, "wb");
        if (!f || (with_selector && fwrite(&selector, 1, 1, f) != 1) || fwrite(data, 1, len, f) != len || fclose(f)) {
                perror(path);
                exit(1);
        }
}

/* A message behind a selector byte picking its Food-Type in the harness's list. */
static void put_msg(const char *target, const char *name, int selector, const ProtobufCMessage *m) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (codec_pack(m, &buf, &len) < 0)
                exit(1);
        put(target, name, (uint8_t)selector, selector >= 0, buf, len);
        free(buf);
}

/* A reply behind two selector bytes: its Food-Type, then the saga's state and flags. */
static void put_reply(const char *name, int type, int saga, const ProtobufCMessage *m) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (codec_pack(m, &buf, &len) < 0)
                exit(1);
        uint8_t *two = malloc(len + 1);
        if (!two)
                exit(1);
        two[0] = (uint8_t)saga;
        memcpy(two + 1, buf, len);
        put("fuzz-orchestrator-replies", name, (uint8_t)type, true, two, len + 1);
        free(two);
        free(buf);
}

static void put_text(const char *target, const char *name, int selector, const char *text) {
        put(target, name, (uint8_t)selector, true, text, strlen(text));
}

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
        corr.command_id = 42;
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

        /* payment: AuthorizePayment (0), RefundPayment (1) */
        Food__V1__AuthorizePayment ap = FOOD__V1__AUTHORIZE_PAYMENT__INIT;
        ap.corr = &corr;
        ap.customer_id = "cus_1";
        ap.amount = 20500;
        ap.card_token = "{\"id\":\"ch_1\",\"status\":\"approved\",\"amount\":20500}";
        ap.idempotency_key = "ord_fuzz0001.authorize";
        put_msg("fuzz-payment", "authorize", 0, &ap.base);
        ap.card_token = "tok_ok";
        put_msg("fuzz-payment", "authorize-token", 2, &ap.base);
        Food__V1__RefundPayment rp = FOOD__V1__REFUND_PAYMENT__INIT;
        rp.corr = &corr;
        rp.payment_id = "ch_1";
        rp.amount = 20500;
        rp.reason = "{\"id\":\"rf_1\",\"status\":\"refunded\",\"amount\":20500}";
        rp.idempotency_key = "ord_fuzz0001.refund.ch_1";
        put_msg("fuzz-payment", "refund", 3, &rp.base);

        /* store: CreateTicket (0), UpdateTicket (1), WithdrawTicket (2) */
        Food__V1__CreateTicket ct = FOOD__V1__CREATE_TICKET__INIT;
        ct.corr = &corr;
        ct.order = &o;
        put_msg("fuzz-store", "create", 0, &ct.base);
        o.status = "ACCEPTED";
        o.version = 3;
        put_msg("fuzz-store", "update", 1, &ct.base);
        Food__V1__WithdrawTicket wt = FOOD__V1__WITHDRAW_TICKET__INIT;
        wt.corr = &corr;
        wt.store_id = "sto_1";
        wt.reason = "store refused";
        put_msg("fuzz-store", "withdraw", 2, &wt.base);

        /* delivery: Open (0), Assign (1), Complete (2), Cancel (3) */
        Food__V1__OpenDelivery od = FOOD__V1__OPEN_DELIVERY__INIT;
        od.corr = &corr;
        od.delivery_id = "dlv_fuzz0001";
        od.store_id = "sto_1";
        od.pickup = &pickup;
        od.dropoff = &addr;
        put_msg("fuzz-delivery", "open", 0, &od.base);
        Food__V1__AssignRider ar = FOOD__V1__ASSIGN_RIDER__INIT;
        ar.corr = &corr;
        ar.delivery_id = "dlv_fuzz0001";
        ar.rider_id = "rid_1";
        put_msg("fuzz-delivery", "assign", 1, &ar.base);
        Food__V1__CompleteDelivery cd = FOOD__V1__COMPLETE_DELIVERY__INIT;
        cd.corr = &corr;
        cd.delivery_id = "dlv_fuzz0001";
        cd.rider_id = "rid_1";
        put_msg("fuzz-delivery", "complete", 2, &cd.base);
        Food__V1__CancelDelivery xd = FOOD__V1__CANCEL_DELIVERY__INIT;
        xd.corr = &corr;
        xd.delivery_id = "dlv_fuzz0001";
        xd.reason = "customer cancelled";
        put_msg("fuzz-delivery", "cancel", 3, &xd.base);

        /* coupon: Issue (0), Redeem (1), Return (2) */
        Food__V1__IssueCoupon ic = FOOD__V1__ISSUE_COUPON__INIT;
        ic.corr = &corr;
        ic.customer_id = "cus_1";
        ic.store_id = "sto_1";
        ic.discount = 1000;
        ic.coupon_id = "cpn_fuzz0001";
        put_msg("fuzz-coupon", "issue", 0, &ic.base);
        Food__V1__RedeemCoupon rc = FOOD__V1__REDEEM_COUPON__INIT;
        rc.corr = &corr;
        rc.coupon_id = "cpn_fuzz0001";
        rc.customer_id = "cus_1";
        rc.store_id = "sto_1";
        put_msg("fuzz-coupon", "redeem", 1, &rc.base);
        put_msg("fuzz-coupon", "redeem-own", 1 | 2 | 4 | 8 | 16, &rc.base);
        Food__V1__ReturnCoupon xc = FOOD__V1__RETURN_COUPON__INIT;
        xc.corr = &corr;
        xc.coupon_id = "cpn_fuzz0001";
        put_msg("fuzz-coupon", "return", 2, &xc.base);

        /* status events: notification (0 = event, 1 = NotifyCustomer), projector (no selector),
         * gateway events (0: the stream's own order) */
        Food__V1__OrderStatusChanged ev = FOOD__V1__ORDER_STATUS_CHANGED__INIT;
        ev.order = &o;
        ev.previous_status = "PAID";
        ev.at_ms = 1700000002000;
        static const char *const statuses[] = {"PAID", "ACCEPTED", "COOKING", "COOKED", "PICKED_UP",
                                               "DELIVERED", "COMPLETED", "CANCELLED", "REFUSED", "REJECTED"};
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
                char name[32];
                o.status = (char *)statuses[i];
                o.version = (int64_t)i + 2;
                o.rider_id = i >= 4 && i <= 6 ? "rid_1" : "";
                o.amount_refunded = i >= 7 ? o.amount_paid : 0;
                snprintf(name, sizeof(name), "status-%s", statuses[i]);
                put_msg("fuzz-notification", name, 0, &ev.base);
                put_msg("fuzz-projector", name, -1, &ev.base);
                put_msg("fuzz-gateway-events", name, i % 2 ? 8 : 0, &ev.base);
        }
        Food__V1__NotifyCustomer nc = FOOD__V1__NOTIFY_CUSTOMER__INIT;
        nc.corr = &corr;
        nc.customer_id = "cus_1";
        nc.kind = "COUPON";
        nc.message = "쿠폰이 발급되었습니다: 1000원 할인";
        put_msg("fuzz-notification", "notify", 1, &nc.base);
        nc.kind = "THANK_YOU";
        nc.message = "";
        put_msg("fuzz-notification", "notify-kind", 1, &nc.base);

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

        /* orchestrator replies: selector = type index, then state (low 4 bits) | 16 (the saga awaits this
         * step) | 32 (and this attempt) */
        Food__V1__PaymentAuthorized pa = FOOD__V1__PAYMENT_AUTHORIZED__INIT;
        pa.corr = &corr;
        pa.payment_id = "ch_1";
        pa.amount = 20500;
        put_reply("authorized", 0, 0 | 16 | 32, &pa.base);
        put_reply("authorized-late", 0, 1, &pa.base);
        Food__V1__PaymentDeclined pd = FOOD__V1__PAYMENT_DECLINED__INIT;
        pd.corr = &corr;
        pd.reason = "declined";
        put_reply("declined", 1, 0 | 16 | 32, &pd.base);
        Food__V1__PaymentFailed pf = FOOD__V1__PAYMENT_FAILED__INIT;
        pf.corr = &corr;
        pf.reason = "provider unavailable";
        pf.retryable = true;
        put_reply("failed", 2, 0 | 16 | 32, &pf.base);
        corr.step = "modify_charge";
        put_reply("modify-authorized", 0, 2 | 16 | 32, &pa.base);
        corr.step = "refund";
        Food__V1__PaymentRefunded pr = FOOD__V1__PAYMENT_REFUNDED__INIT;
        pr.corr = &corr;
        pr.refund_id = "rf_1";
        pr.amount = 15500;
        pr.payment_id = "ch_1";
        put_reply("refunded", 3, 9, &pr.base);
        corr.step = "redeem_coupon";
        Food__V1__CouponRedeemed cr = FOOD__V1__COUPON_REDEEMED__INIT;
        cr.corr = &corr;
        cr.coupon_id = "cpn_1";
        cr.discount = 1000;
        put_reply("coupon-redeemed", 4, 0 | 16 | 32, &cr.base);
        Food__V1__CouponRejected cj = FOOD__V1__COUPON_REJECTED__INIT;
        cj.corr = &corr;
        cj.coupon_id = "cpn_1";
        cj.reason = "this coupon was already used";
        put_reply("coupon-rejected", 5, 0 | 16 | 32, &cj.base);
        corr.step = "create_ticket";
        Food__V1__TicketRecorded tr = FOOD__V1__TICKET_RECORDED__INIT;
        tr.corr = &corr;
        tr.store_id = "sto_1";
        tr.status = "PAID";
        put_reply("ticket-recorded", 6, 1, &tr.base);
        corr.step = "authorize";

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
        /* orchestrator RPC: PlaceOrder (0), OrderAction (1; flags in the selector's upper bits), ModifyOrder
         * (2), SagaQuery (3) */
        Food__V1__Order po = o;
        po.status = "PAYMENT_PENDING";
        po.amount_paid = 0;
        po.n_charges = 0;
        po.charges = NULL;
        po.payment_id = "";
        Food__V1__PlaceOrder pl = FOOD__V1__PLACE_ORDER__INIT;
        pl.order = &po;
        pl.card_token = "tok_ok";
        pl.idempotency_key = "idem-1";
        pl.request_hash = "sha256:00";
        put_msg("fuzz-orchestrator-rpc", "place", 0, &pl.base);
        Food__V1__OrderAction oa = FOOD__V1__ORDER_ACTION__INIT;
        oa.order_id = "ord_fuzz0001";
        oa.action = "accept";
        oa.actor_id = "owner_1";
        oa.actor_role = "store";
        oa.store_id = "sto_1";
        put_msg("fuzz-orchestrator-rpc", "accept", 1 | (2 << 2), &oa.base);
        oa.action = "cancel";
        oa.actor_id = "cus_1";
        oa.actor_role = "customer";
        oa.store_id = "";
        put_msg("fuzz-orchestrator-rpc", "cancel", 1 | (1 << 2), &oa.base);
        oa.action = "pick";
        oa.actor_id = "rider_1";
        oa.actor_role = "rider";
        put_msg("fuzz-orchestrator-rpc", "pick", 1, &oa.base);
        Food__V1__ModifyOrder mo = FOOD__V1__MODIFY_ORDER__INIT;
        mo.order_id = "ord_fuzz0001";
        mo.customer_id = "cus_1";
        mo.n_items = 1;
        mo.items = items;
        mo.has_items = true;
        mo.total = 18000;
        put_msg("fuzz-orchestrator-rpc", "modify", 2, &mo.base);
        Food__V1__SagaQuery sq = FOOD__V1__SAGA_QUERY__INIT;
        sq.query = "show";
        sq.order_id = "ord_fuzz0001";
        put_msg("fuzz-orchestrator-rpc", "saga-show", 3, &sq.base);
        return 0;
}
