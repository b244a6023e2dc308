/* Unit test of the analytics export's pure parts: `since` and `limit` parsing, the NDJSON line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive-export.h"
#include "test-check.h"

static void test_since(void) {
        static const struct {
                const char *text;
                int r;
                int by_time;
                unsigned long long seq;
                long long ms;
        } cases[] = {
                {NULL, 0, 0, 0, 0},
                {"", 0, 0, 0, 0},
                {"0", 0, 0, 0, 0},
                {"42", 0, 0, 42, 0},
                {"1970-01-01T00:00:00Z", 0, 1, 0, 0},
                {"2024-05-01T12:00:00Z", 0, 1, 0, 1714564800000LL},
                {"2024-05-01T12:00:00.123Z", 0, 1, 0, 1714564800123LL},
                {"2024-05-01T12:00:00.1Z", 0, 1, 0, 1714564800100LL},
                {"2024-05-01T12:00:00.123456789Z", 0, 1, 0, 1714564800123LL},
                {"2024-05-01T21:00:00+09:00", 0, 1, 0, 1714564800000LL},
                {"2024-05-01t12:00:00z", 0, 1, 0, 1714564800000LL},
                {"2024-02-29T00:00:00Z", 0, 1, 0, 1709164800000LL},
                {"2023-02-29T00:00:00Z", -EINVAL, 0, 0, 0},
                {"2024-05-01 12:00:00Z", -EINVAL, 0, 0, 0},
                {"2024-05-01T12:00:00", -EINVAL, 0, 0, 0},
                {"2024-13-01T12:00:00Z", -EINVAL, 0, 0, 0},
                {"2024-05-01T12:00:00.Z", -EINVAL, 0, 0, 0},
                {"2024-05-01T12:00:00Zjunk", -EINVAL, 0, 0, 0},
                {"-1", -EINVAL, 0, 0, 0},
                {"12a", -EINVAL, 0, 0, 0},
                {"99999999999999999999999", -EINVAL, 0, 0, 0},
                {"yesterday", -EINVAL, 0, 0, 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ExportStart st = {.after_seq = 7};
                int r = export_parse_since(cases[i].text, &st);
                const char *t = cases[i].text ? cases[i].text : "(null)";
                CHECK(r == cases[i].r, "since '%s': expected %d, got %d", t, cases[i].r, r);
                if (r == 0 && cases[i].r == 0) {
                        CHECK(st.by_time == (cases[i].by_time != 0), "since '%s': expected by_time %d, got %d", t,
                              cases[i].by_time, st.by_time);
                        CHECK(st.after_seq == cases[i].seq, "since '%s': expected seq %llu, got %llu", t,
                              cases[i].seq, (unsigned long long)st.after_seq);
                        CHECK(st.since_ms == cases[i].ms, "since '%s': expected %lld ms, got %lld", t, cases[i].ms,
                              (long long)st.since_ms);
                }
        }
}

static void test_limit(void) {
        int64_t v = 0;
        CHECK(export_parse_limit(NULL, &v) == 0 && v == EXPORT_LIMIT_DEFAULT, "no limit: expected default, got %lld",
              (long long)v);
        CHECK(export_parse_limit("5", &v) == 0 && v == 5, "limit 5: got %lld", (long long)v);
        CHECK(export_parse_limit("100000", &v) == 0 && v == 100000, "limit max: got %lld", (long long)v);
        CHECK(export_parse_limit("100001", &v) == -EINVAL, "limit over max accepted");
        CHECK(export_parse_limit("0", &v) == -EINVAL, "limit 0 accepted");
        CHECK(export_parse_limit("-3", &v) == -EINVAL, "limit -3 accepted");
        CHECK(export_parse_limit("9999999999999", &v) == -EINVAL, "huge limit accepted");
}

static void test_line(void) {
        Food__V1__OrderStatusChanged ev = FOOD__V1__ORDER_STATUS_CHANGED__INIT;
        Food__V1__Order o = FOOD__V1__ORDER__INIT;
        const char *want = "{\"seq\":12,\"order_id\":\"ord_1\",\"type\":\"food.v1.OrderStatusChanged\","
                           "\"status\":\"PAID\",\"previous_status\":null,\"at\":\"2024-05-01T12:00:00.123Z\","
                           "\"customer_id\":\"c1\",\"store_id\":\"s1\",\"rider_id\":null,\"total\":15000,"
                           "\"amount_paid\":15000,\"amount_refunded\":0}\n";
        char *line;

        CHECK(export_line(1, "t", &ev) == NULL, "no order: expected NULL");
        o.id = "ord_1";
        o.customer_id = "c1";
        o.store_id = "s1";
        o.status = "PAID";
        o.rider_id = "";
        o.total = 15000;
        o.amount_paid = 15000;
        ev.order = &o;
        ev.previous_status = "";
        ev.at_ms = 1714564800123LL;
        line = export_line(12, "food.v1.OrderStatusChanged", &ev);
        CHECK(line && strcmp(line, want) == 0, "line:\n expected %s got      %s", want, line ? line : "(null)");
        free(line);

        o.status = "PICKED_UP";
        o.rider_id = "rider-7";
        ev.previous_status = "COOKED";
        line = export_line(13, "food.v1.OrderStatusChanged", &ev);
        CHECK(line && strstr(line, "\"previous_status\":\"COOKED\"") && strstr(line, "\"rider_id\":\"rider-7\"") &&
                      strstr(line, "\"status\":\"PICKED_UP\""),
              "picked up line: got %s", line ? line : "(null)");
        free(line);
}

int main(void) {
        test_since();
        test_limit();
        test_line();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
