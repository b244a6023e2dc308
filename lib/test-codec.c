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
        Food__V1__Correlation corr = FOOD__V1__CORRELATION__INIT;
        Food__V1__CreateTicket ticket = FOOD__V1__CREATE_TICKET__INIT;
        Food__V1__AuthorizePayment pay = FOOD__V1__AUTHORIZE_PAYMENT__INIT;
        Food__V1__Command c1, c2, *cmds[2] = {&c1, &c2};
        Food__V1__CommandBatch batch = FOOD__V1__COMMAND_BATCH__INIT;
        Food__V1__Order order = FOOD__V1__ORDER__INIT;
        Food__V1__OrderStatusChanged ev = FOOD__V1__ORDER_STATUS_CHANGED__INIT;
        Food__V1__PlaceOrder place = FOOD__V1__PLACE_ORDER__INIT;

        const CodecType *t = codec_type_by_name("food.v1.RefundPayment");
        CHECK(t && t->desc == &food__v1__refund_payment__descriptor, "RefundPayment not registered");
        CHECK(codec_type_by_name("food.v1.Nope") == NULL, "unknown type found");
        CHECK(codec_correlation(&((Food__V1__Order)FOOD__V1__ORDER__INIT).base) == NULL, "Order has no corr");

        /* A batch fits the subject of the worker all its commands go to, and no other. */
        ticket.corr = &corr;
        pay.corr = &corr;
        CHECK(codec_command_wrap(&c1, &ticket.base) == 0 && codec_command_wrap(&c2, &ticket.base) == 0,
              "wrapping a ticket command");
        CHECK(codec_command_message(&c1) == &ticket.base, "the wrapped command is the ticket");
        CHECK(strcmp(codec_command_worker(&c1) ? codec_command_worker(&c1) : "", "store") == 0,
              "ticket commands go to store, got %s", codec_command_worker(&c1));
        CHECK(codec_command_wrap(&c1, &order.base) < 0, "an Order is not a command");
        CHECK(codec_command_wrap(&c1, &ticket.base) == 0, "wrapping again");
        batch.commands = cmds;
        batch.n_commands = 2;
        CHECK(codec_subject_fits(&batch.base, "food.cmd.store"), "a store batch fits food.cmd.store");
        CHECK(!codec_subject_fits(&batch.base, "food.cmd.payment"), "a store batch does not fit food.cmd.payment");
        CHECK(codec_subject_fits(&batch.base, "food.direct.store"), "a store batch fits food.direct.store");
        CHECK(!codec_subject_fits(&batch.base, "food.direct.payment"), "a store batch does not fit food.direct.payment");
        CHECK(codec_command_wrap(&c2, &pay.base) == 0, "wrapping a payment");
        CHECK(!codec_subject_fits(&batch.base, "food.cmd.store"), "a mixed batch fits no worker");

        /* A status event fits the subject of its own order only. */
        order.id = "ord_9";
        ev.order = &order;
        CHECK(codec_subject_fits(&ev.base, "food.order.ord_9.status"), "status event on its order's subject");
        CHECK(!codec_subject_fits(&ev.base, "food.order.ord_8.status"), "status event on another order's subject");
        /* An RPC fits its verb on any shard. */
        CHECK(codec_subject_fits(&place.base, "food.rpc.orders.3.place"), "place on shard 3");
        CHECK(!codec_subject_fits(&place.base, "food.rpc.orders.3.action"), "place on the action subject");
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
