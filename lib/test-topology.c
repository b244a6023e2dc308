/* Unit test of the topology: subject builders, matching, tokens, consumers. */
#include <stdio.h>
#include <string.h>

#include "test-check.h"
#include "topology.h"

int main(void) {
        char buf[TOPO_SUBJECT_MAX];
        CHECK(topo_command_subject(buf, sizeof(buf), "store") == 0 && strcmp(buf, "food.cmd.store") == 0,
              "command subject: %s", buf);
        CHECK(topo_rpc_subject(buf, sizeof(buf), 7, "place") == 0 && strcmp(buf, "food.rpc.orders.7.place") == 0,
              "rpc subject: %s", buf);
        CHECK(topo_status_subject(buf, sizeof(buf), "ord_1") == 0 && strcmp(buf, "food.order.ord_1.status") == 0,
              "status subject: %s", buf);
        CHECK(topo_status_subject(buf, sizeof(buf), "a.b") < 0, "an order id with a dot is refused");
        CHECK(topo_status_subject(buf, sizeof(buf), "a*") < 0 && topo_status_subject(buf, sizeof(buf), "") < 0,
              "wildcards and empty tokens are refused");
        CHECK(topo_answer_subject(buf, 8, "orch_0123456789") < 0, "a subject that does not fit is refused");
        CHECK(topo_direct_answer_subject(buf, sizeof(buf), "orch_1") == 0 && strcmp(buf, "food.ans.orch_1-direct") == 0 &&
                      topo_subject_matches("food.ans.*", buf),
              "the answers to direct tries: %s, one of the answer subjects", buf);
        CHECK(topo_read_subject(buf, sizeof(buf), "order") == 0 && strcmp(buf, "food.read.order") == 0,
              "read subject: %s", buf);
        CHECK(topo_read_query("food.read.customer_orders", buf, sizeof(buf)) == 0 && strcmp(buf, "customer_orders") == 0,
              "the query of a read subject: %s", buf);
        CHECK(topo_read_query("food.rpc.orders.3.place", buf, sizeof(buf)) < 0 &&
                      topo_read_query("food.read.a.b", buf, sizeof(buf)) < 0 && topo_read_query("food.read", buf, sizeof(buf)) < 0,
              "a subject that is no read query names none");
        CHECK(topo_inbox_prefix(buf, sizeof(buf), "gateway") == 0 && strcmp(buf, "_INBOX_gateway") == 0,
              "the gateway's inbox prefix: %s", buf);
        CHECK(!topo_subject_matches("_INBOX.>", "_INBOX_gateway.abc") &&
                      topo_subject_matches("_INBOX_gateway.>", "_INBOX_gateway.abc.1"),
              "a user's inboxes are outside the operators' _INBOX.>");
        CHECK(topo_inbox_prefix(buf, sizeof(buf), "a.b") < 0 && topo_inbox_prefix(buf, sizeof(buf), "") < 0,
              "a user that is no subject token has no inbox prefix");

        CHECK(topo_subject_matches("food.rpc.orders.*.place", "food.rpc.orders.12.place"), "* matches one token");
        CHECK(!topo_subject_matches("food.rpc.orders.*.place", "food.rpc.orders.12.x.place"), "* is one token only");
        CHECK(topo_subject_matches("food.cmd.>", "food.cmd.store"), "> matches the rest");
        CHECK(!topo_subject_matches("food.cmd.>", "food.cmd"), "> needs at least one token");
        CHECK(!topo_subject_matches("food.cmd.store", "food.cmd.store.x"), "exact subjects match exactly");
        CHECK(!topo_subject_matches("food.cmd.store", "food.cmd"), "a shorter subject does not match");

        CHECK(topo_token("food.order.ord_1.status", 2, buf, sizeof(buf)) == 0 && strcmp(buf, "ord_1") == 0,
              "token 2: %s", buf);
        CHECK(topo_token("food.order", 3, buf, sizeof(buf)) < 0, "a token past the end");

        const TopoConsumer *c = topo_consumer("store");
        CHECK(c && strcmp(c->filter, "food.cmd.store") == 0 && strcmp(c->stream, "FOOD_CMD") == 0,
              "the store durable consumes food.cmd.store of FOOD_CMD");
        CHECK(topo_consumer("projector") == NULL, "no projector durable");
        CHECK(topo_consumer("payment")->direct && !c->direct, "only the payment worker takes direct commands");
        CHECK(topo_direct_subject(buf, sizeof(buf), "payment") == 0 && strcmp(buf, "food.direct.payment") == 0 &&
                      topo_subject_matches(TOPO_DIRECT_SUBJECTS, buf) && !topo_subject_matches("food.cmd.>", buf),
              "direct subject: %s, outside the command stream", buf);
        size_t n = 0;
        while (topo_consumer_at(n))
                n++;
        CHECK(n == 5, "five worker durables, got %zu", n);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
