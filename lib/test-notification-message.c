/* Unit test of the notification texts: every status of the order API has its own bilingual text. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "notification-message.h"
#include "test-check.h"

/* SPEC §3/§4 statuses, written out independently of the table under test. */
static const char *const statuses[] = {"PAYMENT_PENDING", "PAID",     "ACCEPTED", "COOKING",  "COOKED",   "PICKED_UP",
                                       "DELIVERED",       "COMPLETED", "REJECTED", "REFUSED", "CANCELLED"};
#define N_STATUSES (sizeof(statuses) / sizeof(statuses[0]))

static bool has_hangul(const char *s) {
        /* Hangul syllables U+AC00..U+D7A3 are encoded as 0xEA 0xB0 0x80 .. 0xED 0x9E 0xA3. */
        for (; *s; s++)
                if ((unsigned char)*s >= 0xEA && (unsigned char)*s <= 0xED)
                        return true;
        return false;
}

/* "<Korean> (<English>)": Korean before the parenthesis, ASCII English inside, closing at the end. */
static bool bilingual(const char *s) {
        const char *open = strrchr(s, '(');
        size_t n = strlen(s);
        if (!open || open == s || n < 4 || s[n - 1] != ')')
                return false;
        for (const char *p = open + 1; p < s + n - 1; p++)
                if ((unsigned char)*p >= 0x80)
                        return false;
        char korean[512];
        snprintf(korean, sizeof(korean), "%.*s", (int)(open - s), s);
        return has_hangul(korean) && open - s > 1 && open[1] != ')';
}

static void test_every_status(void) {
        char msgs[N_STATUSES][NOTIFICATION_MESSAGE_MAX];
        for (size_t i = 0; i < N_STATUSES; i++) {
                int r = notification_message(statuses[i], "", 0, msgs[i], sizeof(msgs[i]));
                CHECK(r == 0, "%s: expected 0, got %d", statuses[i], r);
                CHECK(bilingual(msgs[i]), "%s: expected \"<Korean> (<English>)\", got \"%s\"", statuses[i], msgs[i]);
                CHECK(strstr(msgs[i], statuses[i]) == NULL, "%s: expected its own text, got the generic \"%s\"",
                      statuses[i], msgs[i]);
                for (size_t j = 0; j < i; j++)
                        CHECK(strcmp(msgs[i], msgs[j]) != 0, "%s and %s: expected different texts, both \"%s\"",
                              statuses[i], statuses[j], msgs[i]);
        }
        char buf[NOTIFICATION_MESSAGE_MAX];
        notification_message("ACCEPTED", "PAID", 0, buf, sizeof(buf));
        CHECK(strcmp(buf, "주문이 접수되었습니다 (Your order was accepted by the store)") == 0,
              "ACCEPTED: expected the accepted text, got \"%s\"", buf);
}

static void test_same_status(void) {
        char buf[NOTIFICATION_MESSAGE_MAX];
        int r = notification_message("CANCELLED", "CANCELLED", 15000, buf, sizeof(buf));
        CHECK(r == 0 && strstr(buf, "15,000원") && strstr(buf, "15,000 KRW") && bilingual(buf),
              "refund landed: expected 15,000 in both languages, got %d \"%s\"", r, buf);
        r = notification_message("PAID", "PAID", 0, buf, sizeof(buf));
        CHECK(r == 0 && strstr(buf, "updated") && bilingual(buf), "modification: expected an update text, got \"%s\"",
              buf);
        r = notification_message("CANCELLED", "CANCELLED", 0, buf, sizeof(buf));
        CHECK(r == 0 && strstr(buf, "refunded") == NULL, "same status without refund: expected no refund text, got \"%s\"",
              buf);
}

static void test_unknown_and_errors(void) {
        char buf[NOTIFICATION_MESSAGE_MAX], tiny[8];
        int r = notification_message("ON_THE_MOON", NULL, 0, buf, sizeof(buf));
        CHECK(r == 0 && strstr(buf, "ON_THE_MOON") && bilingual(buf), "unknown status: expected generic text naming it, got \"%s\"",
              buf);
        r = notification_message("", NULL, 0, buf, sizeof(buf));
        CHECK(r == -EINVAL, "empty status: expected -EINVAL, got %d", r);
        r = notification_message(NULL, NULL, 0, buf, sizeof(buf));
        CHECK(r == -EINVAL, "NULL status: expected -EINVAL, got %d", r);
        r = notification_message("ACCEPTED", NULL, 0, tiny, sizeof(tiny));
        CHECK(r == -ENOSPC && strlen(tiny) < sizeof(tiny), "tiny buffer: expected -ENOSPC and a terminated string, got %d", r);
        r = notification_kind_message("COUPON_ISSUED", buf, sizeof(buf));
        CHECK(r == 0 && bilingual(buf), "coupon kind: expected bilingual text, got \"%s\"", buf);
        r = notification_kind_message("SOMETHING", buf, sizeof(buf));
        CHECK(r == 0 && bilingual(buf), "unknown kind: expected bilingual text, got \"%s\"", buf);
}

static void test_krw(void) {
        static const struct {
                long long amount;
                const char *text;
        } cases[] = {{0, "0"}, {999, "999"}, {1000, "1,000"}, {15000, "15,000"}, {1234567, "1,234,567"},
                     {-2500, "-2,500"}, {9223372036854775807LL, "9,223,372,036,854,775,807"}};
        char buf[40];
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int r = notification_format_krw(cases[i].amount, buf, sizeof(buf));
                CHECK(r == 0 && strcmp(buf, cases[i].text) == 0, "krw %lld: expected \"%s\", got %d \"%s\"",
                      cases[i].amount, cases[i].text, r, buf);
        }
        char small[5];
        int r = notification_format_krw(15000, small, sizeof(small));
        CHECK(r == -ENOSPC, "krw into 5 bytes: expected -ENOSPC, got %d", r);
}

int main(void) {
        test_every_status();
        test_same_status();
        test_unknown_and_errors();
        test_krw();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
