/* Unit test of the read-model rules: the delivery row of every order status, creation times. */
#include <stdio.h>
#include <string.h>

#include "readmodel-write.h"
#include "test-check.h"

/* The contract's delivery read model, written out independently of the table under test. */
static const struct {
        const char *order_status;
        const char *delivery_status; /* NULL: no delivery row touched */
        bool creates;
} expected[] = {
        {"PAYMENT_PENDING", NULL, false}, {"PAID", NULL, false},
        {"ACCEPTED", NULL, false},        {"COOKING", NULL, false},
        {"COOKED", "OPEN", true},         {"PICKED_UP", "PICKED_UP", true},
        {"DELIVERED", "DELIVERED", true}, {"COMPLETED", "DELIVERED", true},
        {"REJECTED", NULL, false},        {"REFUSED", "CANCELLED", false},
        {"CANCELLED", "CANCELLED", false}, {"SOMETHING_NEW", NULL, false},
};

static void test_delivery_status(void) {
        for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
                bool creates = !expected[i].creates;
                const char *got = readmodel_write_delivery_status(expected[i].order_status, &creates);
                const char *want = expected[i].delivery_status;
                CHECK((got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0),
                      "%s: expected delivery status %s, got %s", expected[i].order_status, want ? want : "(none)",
                      got ? got : "(none)");
                CHECK(creates == expected[i].creates, "%s: expected creates=%d, got %d", expected[i].order_status,
                      expected[i].creates, creates);
        }
        bool creates = true;
        CHECK(readmodel_write_delivery_status(NULL, &creates) == NULL && !creates, "NULL status: expected no row");
}

static void test_created_at(void) {
        Food__V1__Order o = FOOD__V1__ORDER__INIT;
        Food__V1__StatusAt first = FOOD__V1__STATUS_AT__INIT, second = FOOD__V1__STATUS_AT__INIT;
        Food__V1__StatusAt *history[2] = {&first, &second};
        first.at_ms = 1000;
        second.at_ms = 2000;
        o.updated_at_ms = 3000;
        CHECK(readmodel_write_created_at_ms(&o, 4000) == 3000, "no history: expected updated_at 3000, got %lld",
              (long long)readmodel_write_created_at_ms(&o, 4000));
        o.history = history;
        o.n_history = 2;
        CHECK(readmodel_write_created_at_ms(&o, 4000) == 1000, "history: expected first entry 1000, got %lld",
              (long long)readmodel_write_created_at_ms(&o, 4000));
        o.n_history = 0;
        o.updated_at_ms = 0;
        CHECK(readmodel_write_created_at_ms(&o, 4000) == 4000, "nothing: expected the event time 4000, got %lld",
              (long long)readmodel_write_created_at_ms(&o, 4000));
}

int main(void) {
        test_delivery_status();
        test_created_at();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
