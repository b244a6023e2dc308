/* UTF-8 checks (see utf8.h). */
#include "utf8.h"

/* The length of the well-formed sequence at p (1..4), or 0. */
static size_t utf8_sequence(const unsigned char *p) {
        unsigned c = p[0], n, min, cp;
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 1, min = 0x80, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                n = 2, min = 0x800, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 3, min = 0x10000, cp = c & 0x07;
        else
                return 0;
        for (unsigned k = 1; k <= n; k++) {
                if ((p[k] & 0xc0) != 0x80) /* also stops at the terminating NUL */
                        return 0;
                cp = cp << 6 | (p[k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n + 1;
}

bool utf8_valid(const char *s) {
        const unsigned char *p = (const unsigned char *)s;
        while (*p) {
                size_t n = utf8_sequence(p);
                if (n == 0)
                        return false;
                p += n;
        }
        return true;
}

size_t utf8_scrub(char *s) {
        unsigned char *p = (unsigned char *)s;
        size_t replaced = 0;
        while (*p) {
                size_t n = utf8_sequence(p);
                if (n == 0) {
                        *p++ = '?';
                        replaced++;
                } else
                        p += n;
        }
        return replaced;
}
