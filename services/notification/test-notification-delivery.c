/* Unit test of the delivery rules: retry schedule, answer classes, decisions, shedding, key and body. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notification-delivery.h"
#include "test-check.h"

static void test_backoff(void) {
        const NotifyRetryPolicy p = {.base_ms = 1000, .max_ms = 30000, .max_attempts = 8};
        /* jitter 0.5 is the plain schedule: 1 s, 2 s, 4 s, 8 s, 16 s, then the 30 s cap. */
        const long long want[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
        for (int a = 1; a <= 8; a++) {
                long long got = notify_backoff_ms(&p, a, 0.5);
                CHECK(got == want[a - 1], "backoff after %d attempt(s): expected %lld ms, got %lld", a, want[a - 1], got);
        }
        /* Jitter spreads within 0.8x .. 1.2x. */
        long long lo = notify_backoff_ms(&p, 2, 0.0), hi = notify_backoff_ms(&p, 2, 0.999999);
        CHECK(lo == 1600, "backoff(2, jitter 0): expected 1600, got %lld", lo);
        CHECK(hi >= 2399 && hi <= 2400, "backoff(2, jitter ~1): expected ~2400, got %lld", hi);
        long long bad = notify_backoff_ms(&p, 1, 7.0);
        CHECK(bad == 1000, "backoff with jitter out of range: expected the plain 1000, got %lld", bad);
        /* Huge attempt counts neither overflow nor pass the cap. */
        const NotifyRetryPolicy big = {.base_ms = 3600000, .max_ms = 86400000, .max_attempts = 1000};
        long long capped = notify_backoff_ms(&big, 1000, 0.5);
        CHECK(capped == 86400000, "backoff(1000 attempts): expected the cap 86400000, got %lld", capped);
        const NotifyRetryPolicy tiny = {.base_ms = 1, .max_ms = 1, .max_attempts = 3};
        long long one = notify_backoff_ms(&tiny, 3, 0.0);
        CHECK(one == 1, "backoff never below 1 ms: got %lld", one);
}

static void test_classify(void) {
        const struct {
                long status;
                NotifyOutcome want;
        } cases[] = {{200, NOTIFY_ACCEPTED}, {201, NOTIFY_ACCEPTED}, {204, NOTIFY_ACCEPTED}, {0, NOTIFY_TRANSIENT},
                     {408, NOTIFY_TRANSIENT}, {425, NOTIFY_TRANSIENT}, {429, NOTIFY_TRANSIENT},
                     {500, NOTIFY_TRANSIENT}, {503, NOTIFY_TRANSIENT}, {504, NOTIFY_TRANSIENT},
                     {301, NOTIFY_REFUSED},  {400, NOTIFY_REFUSED},  {401, NOTIFY_REFUSED},  {404, NOTIFY_REFUSED},
                     {413, NOTIFY_REFUSED},  {422, NOTIFY_REFUSED}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                NotifyOutcome got = notify_classify(cases[i].status);
                CHECK(got == cases[i].want, "classify(%ld): expected %d, got %d", cases[i].status, cases[i].want, got);
        }
}

static void test_decide(void) {
        const NotifyRetryPolicy p = {.base_ms = 100, .max_ms = 1000, .max_attempts = 3};
        int64_t delay = -1;
        NotifyDecision d;

        d = notify_decide(&p, NOTIFY_ACCEPTED, 3, 0, 0.5, &delay);
        CHECK(d == NOTIFY_DONE_SENT && delay == -1, "accepted: expected SENT, delay untouched; got %d, %lld", d,
              (long long)delay);
        d = notify_decide(&p, NOTIFY_REFUSED, 1, 0, 0.5, &delay);
        CHECK(d == NOTIFY_DONE_FAILED, "refused on the first attempt: expected FAILED at once, got %d", d);
        d = notify_decide(&p, NOTIFY_TRANSIENT, 1, 0, 0.5, &delay);
        CHECK(d == NOTIFY_DONE_RETRY && delay == 100, "transient 1/3: expected RETRY in 100 ms, got %d, %lld", d,
              (long long)delay);
        d = notify_decide(&p, NOTIFY_TRANSIENT, 2, 0, 0.5, &delay);
        CHECK(d == NOTIFY_DONE_RETRY && delay == 200, "transient 2/3: expected RETRY in 200 ms, got %d, %lld", d,
              (long long)delay);
        d = notify_decide(&p, NOTIFY_TRANSIENT, 3, 0, 0.5, &delay);
        CHECK(d == NOTIFY_DONE_FAILED, "transient 3/3: expected FAILED (out of attempts), got %d", d);
        d = notify_decide(&p, NOTIFY_TRANSIENT, 1, 700, 0.5, &delay);
        CHECK(d == NOTIFY_DONE_RETRY && delay == 700, "Retry-After 700 ms over a 100 ms backoff: expected 700, got %lld",
              (long long)delay);
        d = notify_decide(&p, NOTIFY_TRANSIENT, 1, 60000, 0.5, &delay);
        CHECK(d == NOTIFY_DONE_RETRY && delay == 1000, "Retry-After past the cap: expected the cap 1000, got %lld",
              (long long)delay);
        d = notify_decide(&p, NOTIFY_TRANSIENT, 2, 50, 0.5, &delay);
        CHECK(delay == 200, "Retry-After shorter than the backoff: expected the backoff 200, got %lld", (long long)delay);
}

static void test_shed(void) {
        const struct {
                long long pending, max, want;
        } cases[] = {{0, 5, 0}, {5, 5, 0}, {6, 5, 1}, {105, 5, 100}, {3, 10000, 0}, {-1, 5, 0}, {10, -1, 0},
                     {12, 1, 11}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                long long got = notify_shed_count(cases[i].pending, cases[i].max);
                CHECK(got == cases[i].want, "shed(pending %lld, bound %lld): expected %lld, got %lld", cases[i].pending,
                      cases[i].max, cases[i].want, got);
        }
}

static void test_key(void) {
        char key[NOTIFY_KEY_MAX];
        NotifyItem n = {.msg_id = "e.17", .customer_id = "cust_1", .order_id = "ord_0123456789abcdef01234567",
                        .status = "PAID", .message = "m", .at_ms = 0};

        notify_idempotency_key(&n, key, sizeof(key));
        CHECK(strcmp(key, "ord_0123456789abcdef01234567:e.17") == 0, "key: expected order:msg_id, got \"%s\"", key);
        n.order_id = "";
        notify_idempotency_key(&n, key, sizeof(key));
        CHECK(strcmp(key, "cust_1:e.17") == 0, "key without order: expected customer:msg_id, got \"%s\"", key);
        n.msg_id = "bad\r\nInjected: yes";
        notify_idempotency_key(&n, key, sizeof(key));
        CHECK(strncmp(key, "ntf_", 4) == 0 && strlen(key) == 20 && !strpbrk(key, "\r\n"),
              "key with a CRLF: expected the fallback ntf_<16 hex>, got \"%s\"", key);
        char longid[400];
        memset(longid, 'x', sizeof(longid) - 1);
        longid[sizeof(longid) - 1] = 0;
        n.msg_id = longid;
        notify_idempotency_key(&n, key, sizeof(key));
        CHECK(strncmp(key, "ntf_", 4) == 0 && strlen(key) == 20, "overlong key: expected the fallback ntf_<16 hex>, got \"%s\"", key);
}

static void test_body(void) {
        NotifyItem n = {.attempts = 1, .msg_id = "e.3", .customer_id = "cust_\"q\"",
                        .order_id = "ord_0123456789abcdef01234567", .status = "ACCEPTED",
                        .message = "가게가 주문을 수락했어요 (accepted)", .at_ms = 1700000000123LL};
        char *text = NULL;
        json_error_t err;

        int r = notify_webhook_body(&n, &text);
        CHECK(r == 0 && text, "body: expected 0, got %d", r);
        json_t *doc = text ? json_loads(text, 0, &err) : NULL;
        CHECK(json_is_object(doc), "body is not a JSON object: %s", text ? text : "(null)");
        CHECK(json_object_size(doc) == 6, "body: expected exactly 6 fields, got %zu in %s", json_object_size(doc), text);
        const char *want[][2] = {{"id", "ntf_e.3"},
                                 {"customer_id", "cust_\"q\""},
                                 {"order_id", "ord_0123456789abcdef01234567"},
                                 {"status", "ACCEPTED"},
                                 {"message", "가게가 주문을 수락했어요 (accepted)"},
                                 {"at", "2023-11-14T22:13:20.123Z"}};
        for (size_t i = 0; i < 6; i++) {
                const char *got = json_string_value(json_object_get(doc, want[i][0]));
                CHECK(got && strcmp(got, want[i][1]) == 0, "body.%s: expected \"%s\", got \"%s\"", want[i][0],
                      want[i][1], got ? got : "(missing)");
        }
        json_decref(doc);
        free(text);

        n.order_id = NULL;
        text = NULL;
        r = notify_webhook_body(&n, &text);
        doc = text ? json_loads(text, 0, &err) : NULL;
        CHECK(r == 0 && json_is_null(json_object_get(doc, "order_id")), "body without order: expected order_id null, got %s",
              text ? text : "(null)");
        json_decref(doc);
        free(text);

        n.message = "\xff\xfe not utf-8";
        text = NULL;
        r = notify_webhook_body(&n, &text);
        CHECK(r < 0 && !text, "body with invalid UTF-8: expected an error and nothing, got %d", r);
        n.message = NULL;
        r = notify_webhook_body(&n, &text);
        CHECK(r == -EINVAL, "body without message: expected -EINVAL, got %d", r);
}

int main(void) {
        test_backoff();
        test_classify();
        test_decide();
        test_shed();
        test_key();
        test_body();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("all notification delivery checks passed\n");
        return 0;
}
