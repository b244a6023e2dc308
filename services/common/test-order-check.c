/* Unit test of the order plausibility rules: a valid snapshot and one broken rule at a time. */
#include <stdio.h>
#include <string.h>

#include "order-check.h"
#include "test-check.h"

static Food__V1__OrderItem item;
static Food__V1__OrderItem *items[1] = {&item};

static void valid_order(Food__V1__Order *o) {
        food__v1__order__init(o);
        food__v1__order_item__init(&item);
        item.menu_item_id = "m1";
        item.name = "Tteokbokki";
        item.quantity = 1;
        item.unit_price = 8000;
        o->id = "ord_0123456789abcdef01234567";
        o->customer_id = "cus_1";
        o->store_id = "sto_1";
        o->status = "PAID";
        o->version = 2;
        o->total = 8000;
        o->items = items;
        o->n_items = 1;
}

static void expect_invalid(const char *what, const Food__V1__Order *o) {
        const char *why = NULL;
        int r = order_check(o, &why);
        CHECK(r < 0 && why && *why, "%s: expected rejection with a reason, got %d (%s)", what, r, why ? why : "none");
}

int main(void) {
        Food__V1__Order o;
        const char *why = NULL;
        int r;

        valid_order(&o);
        r = order_check(&o, &why);
        CHECK(r == 0, "valid order: expected 0, got %d (%s)", r, why ? why : "");
        o.n_items = 0;
        r = order_check(&o, &why);
        CHECK(r == 0, "order without items (a status-only snapshot): expected 0, got %d", r);

        expect_invalid("no order", NULL);
        valid_order(&o);
        o.id = "";
        expect_invalid("empty order id", &o);
        valid_order(&o);
        o.id = "ord with space";
        expect_invalid("order id with a space", &o);
        valid_order(&o);
        o.customer_id = NULL;
        expect_invalid("missing customer", &o);
        valid_order(&o);
        o.store_id = "";
        expect_invalid("empty store", &o);
        valid_order(&o);
        o.status = "";
        expect_invalid("empty status", &o);
        valid_order(&o);
        o.version = -1;
        expect_invalid("negative version", &o);
        valid_order(&o);
        o.total = -100;
        expect_invalid("negative total", &o);
        valid_order(&o);
        o.amount_refunded = -1;
        expect_invalid("negative refund", &o);
        valid_order(&o);
        item.quantity = 0;
        expect_invalid("quantity 0", &o);
        valid_order(&o);
        item.unit_price = -1;
        expect_invalid("negative unit price", &o);
        valid_order(&o);
        item.menu_item_id = "";
        expect_invalid("item without id", &o);

        char long_id[ORDER_ID_MAX + 2];
        memset(long_id, 'a', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = 0;
        CHECK(!order_check_id(long_id), "id of %zu chars: expected rejected", strlen(long_id));
        long_id[ORDER_ID_MAX] = 0;
        CHECK(order_check_id(long_id), "id of %zu chars: expected accepted", strlen(long_id));
        CHECK(!order_check_id("a\nb"), "id with a newline: expected rejected");

        /* Status transitions: forward or the same, never backwards, terminal stays. */
        static const struct {
                const char *from, *to;
                bool ok;
        } moves[] = {
                {"", "PAID", true},           {"PAID", "PAID", true},         {"PAID", "ACCEPTED", true},
                {"ACCEPTED", "CANCELLED", true}, {"DELIVERED", "COMPLETED", true}, {"CANCELLED", "CANCELLED", true},
                {"PAYMENT_PENDING", "REJECTED", true}, {"COMPLETED", "PAID", false}, {"COOKING", "ACCEPTED", false},
                {"CANCELLED", "COMPLETED", false}, {"PAID", "SHIPPED", false},  {"BOGUS", "PAID", false},
                {"", "", false},
        };
        for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
                bool got = order_check_transition(moves[i].from, moves[i].to);
                CHECK(got == moves[i].ok, "transition '%s' -> '%s': expected %s, got %s", moves[i].from, moves[i].to,
                      moves[i].ok ? "allowed" : "refused", got ? "allowed" : "refused");
        }
        CHECK(order_status_known("REFUSED") && !order_status_known("refused"), "order_status_known is exact");

        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
