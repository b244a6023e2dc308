/* Unit test of the codec: registry lookups, subjects, round trips, garbage rejection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "test-check.h"

static void test_round_trip(void) {
        Food__V1__Correlation corr = FOOD__V1__CORRELATION__INIT;
        Food__V1__AuthorizePayment cmd = FOOD__V1__AUTHORIZE_PAYMENT__INIT;
        ProtobufCMessage *back = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;

        corr.order_id = "ord_1";
        corr.step = "authorize";
        corr.attempt = 2;
        cmd.corr = &corr;
        cmd.amount = 18000;
        cmd.card_token = "tok_ok";
        CHECK(codec_pack(&cmd.base, &buf, &len) == 0, "pack failed");
        CHECK(codec_unpack(&food__v1__authorize_payment__descriptor, buf, len, &back) == 0, "unpack failed");
        if (back) {
                Food__V1__AuthorizePayment *a = (Food__V1__AuthorizePayment *)back;
                CHECK(a->amount == 18000, "amount: expected 18000, got %lld", (long long)a->amount);
                CHECK(strcmp(a->card_token, "tok_ok") == 0, "card token: expected tok_ok, got %s", a->card_token);
                Food__V1__Correlation *c = codec_correlation(back);
                CHECK(c && strcmp(c->order_id, "ord_1") == 0 && c->attempt == 2, "correlation not carried");
        }
        codec_free(back);
        free(buf);
}

static void test_garbage_rejected(void) {
        const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x80};
        ProtobufCMessage *m = NULL;
        int r = codec_unpack(&food__v1__authorize_payment__descriptor, garbage, sizeof(garbage), &m);
        CHECK(r < 0 && m == NULL, "garbage decoded (r=%d)", r);
}

static void test_registry_and_subjects(void) {
        char subj[CODEC_SUBJECT_MAX];
        const CodecType *t = codec_type_by_name("food.v1.RefundPayment");
        CHECK(t && t->desc == &food__v1__refund_payment__descriptor, "RefundPayment not registered");
        CHECK(codec_type_by_name("food.v1.Nope") == NULL, "unknown type found");
        CHECK(codec_subject(&food__v1__refund_payment__descriptor, NULL, subj, sizeof(subj)) == 0 &&
                      strcmp(subj, "food.cmd.payment.refund") == 0,
              "refund subject: got %s", subj);
        CHECK(codec_subject(&food__v1__order_status_changed__descriptor, "ord_9", subj, sizeof(subj)) == 0 &&
                      strcmp(subj, "food.order.ord_9.status") == 0,
              "status subject: got %s", subj);
        CHECK(codec_subject(&food__v1__order_status_changed__descriptor, "a.b", subj, sizeof(subj)) < 0,
              "order id with a dot accepted as subject token");
        CHECK(codec_correlation(&((Food__V1__Order)FOOD__V1__ORDER__INIT).base) == NULL, "Order has no corr");
}

static void test_order_id(void) {
        Food__V1__Correlation corr = FOOD__V1__CORRELATION__INIT;
        Food__V1__RefundPayment refund = FOOD__V1__REFUND_PAYMENT__INIT;
        Food__V1__Order order = FOOD__V1__ORDER__INIT;
        Food__V1__OrderStatusChanged ev = FOOD__V1__ORDER_STATUS_CHANGED__INIT;
        Food__V1__RpcReply empty = FOOD__V1__RPC_REPLY__INIT;

        corr.order_id = "ord_a";
        refund.corr = &corr;
        order.id = "ord_b";
        ev.order = &order;
        CHECK(strcmp(codec_order_id(&refund.base), "ord_a") == 0, "command: expected ord_a, got %s",
              codec_order_id(&refund.base));
        CHECK(strcmp(codec_order_id(&ev.base), "ord_b") == 0, "event: expected ord_b, got %s",
              codec_order_id(&ev.base));
        CHECK(strcmp(codec_order_id(&empty.base), "") == 0, "reply without order: expected \"\", got %s",
              codec_order_id(&empty.base));
        CHECK(strcmp(codec_order_id(NULL), "") == 0, "NULL message: expected \"\"");
}

int main(void) {
        test_round_trip();
        test_garbage_rejected();
        test_registry_and_subjects();
        test_order_id();
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
