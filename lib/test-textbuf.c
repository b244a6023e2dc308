/* Unit test of the growing text: growth past its first block, NUL-termination, reset, a failed text. */
#include <string.h>

#include "test-check.h"
#include "textbuf.h"

int main(void) {
        TextBuf t = {0};
        char want[5000];

        for (int i = 0; i < 5000; i++) {
                char c = (char)('a' + i % 26);
                want[i] = c;
                textbuf_put(&t, &c, 1);
        }
        CHECK(!t.failed && t.len == 5000 && t.cap > 5000, "5000 bytes: len %zu cap %zu", t.len, t.cap);
        CHECK(t.p && memcmp(t.p, want, 5000) == 0 && t.p[5000] == '\0', "5000 bytes kept in order, NUL after");
        textbuf_reset(&t);
        CHECK(t.len == 0 && t.p && t.p[0] == '\0' && !t.failed, "reset empties it");
        textbuf_puts(&t, "{\"a\":");
        textbuf_puts(&t, "1}");
        CHECK(t.len == 7 && strcmp(t.p, "{\"a\":1}") == 0, "puts appends: %s", t.p);
        textbuf_fail(&t);
        textbuf_puts(&t, "more");
        CHECK(t.failed && t.len == 7 && strcmp(t.p, "{\"a\":1}") == 0, "a failed text takes nothing more: %s", t.p);
        textbuf_free(&t);
        CHECK(t.p == NULL && t.len == 0 && t.cap == 0 && !t.failed, "free empties it");
        return failures ? 1 : 0;
}
