/* The growing text of textbuf.h. */
#include "textbuf.h"

#include <stdlib.h>
#include <string.h>

void textbuf_put(TextBuf *t, const void *s, size_t n) {
        if (t->failed)
                return;
        if (t->len + n + 1 > t->cap) {
                size_t cap = t->cap ? t->cap : 1024;
                while (cap < t->len + n + 1)
                        cap *= 2;
                char *p = realloc(t->p, cap);
                if (!p) {
                        t->failed = true;
                        return;
                }
                t->p = p;
                t->cap = cap;
        }
        memcpy(t->p + t->len, s, n);
        t->len += n;
        t->p[t->len] = '\0';
}

void textbuf_puts(TextBuf *t, const char *s) {
        textbuf_put(t, s, strlen(s));
}

void textbuf_fail(TextBuf *t) {
        t->failed = true;
}

void textbuf_reset(TextBuf *t) {
        t->len = 0;
        t->failed = false;
        if (t->p)
                t->p[0] = '\0';
}

void textbuf_free(TextBuf *t) {
        free(t->p);
        *t = (TextBuf){0};
}
