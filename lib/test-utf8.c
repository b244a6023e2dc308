/* Unit tests of utf8.c. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "test-check.h"
#include "utf8.h"

static void test_scrub(void) {
        static const struct {
                const char *in, *out;
                size_t replaced;
        } cases[] = {
                {"no route for /orders/abc", "no route for /orders/abc", 0},
                {"주문 /orders/한글", "주문 /orders/한글", 0},
                {"/nope\xff\xfe", "/nope??", 2},
                {"cut \xed\x95", "cut ??", 2},           /* 한 cut after two of its three bytes */
                {"\xc0\xaf overlong", "?? overlong", 2}, /* an overlong '/' */
                {"\xed\xa0\x80 surrogate", "??? surrogate", 3},
                {"\xf4\x90\x80\x80 past U+10FFFF", "???? past U+10FFFF", 4},
                {"\x80 lone continuation", "? lone continuation", 1},
                {"emoji \xf0\x9f\x8d\x95", "emoji \xf0\x9f\x8d\x95", 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char buf[64];
                snprintf(buf, sizeof(buf), "%s", cases[i].in);
                CHECK(utf8_valid(buf) == (cases[i].replaced == 0), "valid case %zu", i);
                size_t n = utf8_scrub(buf);
                CHECK(strcmp(buf, cases[i].out) == 0 && n == cases[i].replaced, "scrub case %zu: got \"%s\" (%zu)", i,
                      buf, n);
                CHECK(utf8_valid(buf), "scrub case %zu: still not UTF-8", i);
                json_t *j = json_string(buf);
                CHECK(j != NULL, "scrub case %zu: jansson refuses the result", i);
                json_decref(j);
        }
}

int main(void) {
        test_scrub();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("all UTF-8 checks passed\n");
        return 0;
}
