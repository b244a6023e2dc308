/* Unit test of the SSE wire format: Last-Event-ID parsing, frames, end of stream. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway-sse.h"
#include "test-check.h"

static void test_last_id(void) {
        static const struct {
                const char *text;
                int r;
                long long v;
        } cases[] = {
                {NULL, 0, 0},       {"", 0, 0},          {"0", 0, 0},
                {"7", 0, 7},        {"123456789012345678", 0, 123456789012345678LL},
                {"1234567890123456789", -EINVAL, 0},     {"-1", -EINVAL, 0},
                {"3 ", -EINVAL, 0}, {"abc", -EINVAL, 0}, {"1e3", -EINVAL, 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t v = -5;
                int r = sse_parse_last_id(cases[i].text, &v);
                const char *t = cases[i].text ? cases[i].text : "(null)";
                CHECK(r == cases[i].r, "Last-Event-ID '%s': expected %d, got %d", t, cases[i].r, r);
                CHECK(r != 0 || v == cases[i].v, "Last-Event-ID '%s': expected %lld, got %lld", t, cases[i].v,
                      (long long)v);
        }
}

static void test_frame(void) {
        char *f = NULL;
        size_t n = 0;
        const char *want = "id: 4\nevent: status\ndata: {\"status\":\"COOKED\"}\n\n";
        int r = sse_frame(4, "{\"status\":\"COOKED\"}", &f, &n);
        CHECK(r == 0 && f && strcmp(f, want) == 0 && n == strlen(want), "frame: expected %s got %s", want,
              f ? f : "(null)");
        free(f);
        f = NULL;
        CHECK(sse_frame(5, "{\"a\":\n1}", &f, &n) == -EINVAL && !f, "frame with a newline must be refused");
}

static void test_state(void) {
        static const struct {
                const char *status;
                long long paid, refunded;
                SseState want;
        } cases[] = {
                {"PAID", 100, 0, SSE_MORE},         {"ACCEPTED", 100, 0, SSE_MORE},
                {"COOKING", 100, 0, SSE_MORE},      {"COOKED", 100, 0, SSE_MORE},
                {"PICKED_UP", 100, 0, SSE_MORE},    {"DELIVERED", 100, 0, SSE_MORE},
                {"COMPLETED", 100, 0, SSE_DONE},    {"REJECTED", 0, 0, SSE_DONE},
                {"CANCELLED", 100, 0, SSE_REFUND_DUE}, {"CANCELLED", 100, 60, SSE_REFUND_DUE},
                {"CANCELLED", 100, 100, SSE_DONE},  {"REFUSED", 100, 0, SSE_REFUND_DUE},
                {"REFUSED", 100, 100, SSE_DONE},    {"REFUSED", 0, 0, SSE_DONE},
                {"PAYMENT_PENDING", 0, 0, SSE_MORE}, {NULL, 0, 0, SSE_MORE},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                SseState got = sse_state(cases[i].status, cases[i].paid, cases[i].refunded);
                CHECK(got == cases[i].want, "%s paid %lld refunded %lld: expected %d, got %d",
                      cases[i].status ? cases[i].status : "(null)", cases[i].paid, cases[i].refunded,
                      (int)cases[i].want, (int)got);
        }
}

int main(void) {
        test_last_id();
        test_frame();
        test_state();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
