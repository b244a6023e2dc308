/* A JSON syntax check that keeps a few top-level strings: see bench-json.h. */
#include "bench-json.h"

#include <stdio.h>
#include <string.h>

typedef struct {
        const char *p, *end;
} Scan;

static void ws(Scan *s) {
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
                s->p++;
}

static bool hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string at s->p (its opening quote); its text between the quotes in *str. */
static int string(Scan *s, BJsonStr *str) {
        if (s->p >= s->end || *s->p != '"')
                return -1;
        const char *start = ++s->p;
        while (s->p < s->end && *s->p != '"') {
                unsigned char c = (unsigned char)*s->p;
                if (c < 0x20)
                        return -1;
                if (c == '\\') {
                        if (++s->p >= s->end)
                                return -1;
                        if (*s->p == 'u') {
                                if (s->end - s->p < 5 || !hex(s->p[1]) || !hex(s->p[2]) || !hex(s->p[3]) || !hex(s->p[4]))
                                        return -1;
                                s->p += 4;
                        } else if (!strchr("\"\\/bfnrt", *s->p))
                                return -1;
                }
                s->p++;
        }
        if (s->p >= s->end)
                return -1;
        if (str) {
                str->at = start;
                str->len = (size_t)(s->p - start);
        }
        s->p++;
        return 0;
}

static int digits(Scan *s) {
        const char *from = s->p;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
                s->p++;
        return s->p > from ? 0 : -1;
}

static int number(Scan *s) {
        if (s->p < s->end && *s->p == '-')
                s->p++;
        if (s->p < s->end && *s->p == '0')
                s->p++;
        else if (digits(s) < 0)
                return -1;
        if (s->p < s->end && *s->p == '.') {
                s->p++;
                if (digits(s) < 0)
                        return -1;
        }
        if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
                s->p++;
                if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
                        s->p++;
                if (digits(s) < 0)
                        return -1;
        }
        return 0;
}

static int literal(Scan *s, const char *word) {
        size_t n = strlen(word);
        if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
                return -1;
        s->p += n;
        return 0;
}

static int value(Scan *s, int depth, BJsonStr *str);

/* An object or an array at s->p; at depth 1 an object's members named in keys fill out. */
static int container(Scan *s, int depth, const char *const *keys, size_t n, BJsonStr *out) {
        bool object = *s->p == '{';
        char close = object ? '}' : ']';
        if (depth > BJSON_DEPTH_MAX)
                return -1;
        s->p++;
        ws(s);
        if (s->p < s->end && *s->p == close) {
                s->p++;
                return 0;
        }
        for (;;) {
                BJsonStr key = {0}, val = {0};
                if (object) {
                        if (string(s, &key) < 0)
                                return -1;
                        ws(s);
                        if (s->p >= s->end || *s->p != ':')
                                return -1;
                        s->p++;
                        ws(s);
                }
                if (value(s, depth, &val) < 0)
                        return -1;
                for (size_t i = 0; object && i < n; i++)
                        if (key.len == strlen(keys[i]) && memcmp(key.at, keys[i], key.len) == 0)
                                out[i] = val;
                ws(s);
                if (s->p < s->end && *s->p == ',') {
                        s->p++;
                        ws(s);
                        continue;
                }
                if (s->p < s->end && *s->p == close) {
                        s->p++;
                        return 0;
                }
                return -1;
        }
}

/* A value; *str is set when it is a string (else left as it was: {NULL, 0}). */
static int value(Scan *s, int depth, BJsonStr *str) {
        if (s->p >= s->end)
                return -1;
        switch (*s->p) {
        case '"':
                return string(s, str);
        case '{':
        case '[':
                return container(s, depth + 1, NULL, 0, NULL);
        case 't':
                return literal(s, "true");
        case 'f':
                return literal(s, "false");
        case 'n':
                return literal(s, "null");
        default:
                return number(s);
        }
}

int bjson_fields(const char *text, size_t len, const char *const *keys, size_t n, BJsonStr *out) {
        Scan s = {text, text + len};
        for (size_t i = 0; i < n; i++)
                out[i] = (BJsonStr){0};
        ws(&s);
        if (s.p >= s.end || *s.p != '{' || container(&s, 1, keys, n, out) < 0)
                return -1;
        ws(&s);
        return s.p == s.end ? 0 : -1;
}

bool bjson_is(BJsonStr s, const char *want) {
        return s.at && s.len == strlen(want) && memcmp(s.at, want, s.len) == 0;
}

int bjson_put_raw(char *buf, size_t *len, size_t cap, const char *s) {
        size_t n = strlen(s);
        if (*len + n >= cap)
                return -1;
        memcpy(buf + *len, s, n + 1);
        *len += n;
        return 0;
}

int bjson_put_string(char *buf, size_t *len, size_t cap, const char *s) {
        size_t at = *len;
        if (at + 1 >= cap)
                return -1;
        buf[at++] = '"';
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                char esc[8];
                int n = 1;
                if (c == '"' || c == '\\')
                        n = snprintf(esc, sizeof(esc), "\\%c", c);
                else if (c < 0x20)
                        n = snprintf(esc, sizeof(esc), "\\u%04x", c);
                else
                        esc[0] = (char)c;
                if (at + (size_t)n >= cap)
                        goto full;
                memcpy(buf + at, esc, (size_t)n);
                at += (size_t)n;
        }
        if (at + 1 >= cap)
                goto full;
        buf[at++] = '"';
        buf[at] = '\0';
        *len = at;
        return 0;
full:
        buf[*len] = '\0'; /* what was appended is taken back */
        return -1;
}
