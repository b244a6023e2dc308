/* Order protobuf -> the API's JSON views. */
#include "order-json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "textbuf.h"
#include "utf8.h"

/* Writes v as `width` decimal digits at p (v fits). */
static char *put_digits(char *p, unsigned v, int width) {
        for (int i = width - 1; i >= 0; i--, v /= 10)
                p[i] = (char)('0' + v % 10);
        return p + width;
}

/* Decimal digits of an integer, the way "%" PRId64 writes them (a view writes several per transition and
 * snprintf's machinery was a tenth of the orchestrator's writing thread). The length. */
static size_t int_text(char out[static 21], int64_t v) {
        char rev[20];
        size_t n = 0, len = 0;
        uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        do
                rev[n++] = (char)('0' + mag % 10);
        while ((mag /= 10) > 0);
        if (v < 0)
                out[len++] = '-';
        while (n > 0)
                out[len++] = rev[--n];
        return len;
}

void order_json_time(int64_t ms, char *buf, size_t cap) {
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        if (ms < 0 || tm.tm_year + 1900 > 9999 || cap < 25) {
                snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
                return;
        }
        /* YYYY-MM-DDTHH:MM:SS.mmmZ */
        char *p = put_digits(buf, (unsigned)(tm.tm_year + 1900), 4);
        *p++ = '-';
        p = put_digits(p, (unsigned)(tm.tm_mon + 1), 2);
        *p++ = '-';
        p = put_digits(p, (unsigned)tm.tm_mday, 2);
        *p++ = 'T';
        p = put_digits(p, (unsigned)tm.tm_hour, 2);
        *p++ = ':';
        p = put_digits(p, (unsigned)tm.tm_min, 2);
        *p++ = ':';
        p = put_digits(p, (unsigned)tm.tm_sec, 2);
        *p++ = '.';
        p = put_digits(p, (unsigned)(ms % 1000), 3);
        *p++ = 'Z';
        *p = '\0';
}

/* A JSON string as jansson writes it: '"', '\\' and control characters escaped, the rest as is. */
static void text_str(TextBuf *t, const char *s) {
        static const char hex[] = "0123456789abcdef";
        const char *run = s;
        if (!utf8_valid(s)) {
                textbuf_fail(t);
                return;
        }
        textbuf_put(t, "\"", 1);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                textbuf_put(t, run, (size_t)(s - run));
                run = s + 1;
                switch (c) {
                case '"': textbuf_put(t, "\\\"", 2); break;
                case '\\': textbuf_put(t, "\\\\", 2); break;
                case '\b': textbuf_put(t, "\\b", 2); break;
                case '\f': textbuf_put(t, "\\f", 2); break;
                case '\n': textbuf_put(t, "\\n", 2); break;
                case '\r': textbuf_put(t, "\\r", 2); break;
                case '\t': textbuf_put(t, "\\t", 2); break;
                default: {
                        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                        textbuf_put(t, u, sizeof(u));
                }
                }
        }
        textbuf_put(t, run, (size_t)(s - run));
        textbuf_put(t, "\"", 1);
}

static void text_key_str(TextBuf *t, const char *key, const char *v) {
        textbuf_puts(t, key);
        text_str(t, v ? v : "");
}

static void text_key_int(TextBuf *t, const char *key, int64_t v) {
        char n[21];
        textbuf_puts(t, key);
        textbuf_put(t, n, int_text(n, v));
}

/* "%.12g" of v without printf for the reals a location holds, 0.001 <= |v| < 1e11: v scaled to twelve digits
 * (10^k is exact, the product off by at most 1.2e-4), rounded to the nearest integer, the point put back and
 * trailing zeros dropped. printf rounds v's exact value, half to even: a product within 2e-4 of a half is left
 * to it, as is anything else (0 when so). snprintf's float machinery was 5 % of the orchestrator's CPU (two
 * coordinates per location, three locations a delivery transition). The length written to out. */
static int real_12g(char out[static 40], double v) {
        static const double p10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14};
        double a = fabs(v);
        if (!(a >= 1e-3 && a < 1e11))
                return 0;
        int x = -3; /* the decimal exponent of a: 10^x <= a < 10^(x+1) as near as doubles tell */
        double a1000 = a * 1e3;
        while (x < 10 && a1000 >= p10[x + 4])
                x++;
        double s = a * p10[11 - x], whole = floor(s), frac = s - whole;
        if (fabs(frac - 0.5) < 2e-4)
                return 0;
        uint64_t m = (uint64_t)whole + (frac > 0.5);
        if (m == 1000000000000ULL) { /* rounded up to the next power of ten */
                m /= 10;
                x++;
        }
        if (m < 100000000000ULL || m >= 1000000000000ULL || x > 10)
                return 0;
        char digits[12];
        for (int i = 11; i >= 0; i--, m /= 10)
                digits[i] = (char)('0' + m % 10);
        int last = 11; /* the last digit kept: no trailing zero after the point */
        while (last > x && last > 0 && digits[last] == '0')
                last--;
        int k = 0;
        if (v < 0)
                out[k++] = '-';
        if (x < 0) {
                out[k++] = '0';
                out[k++] = '.';
                for (int i = -1; i > x; i--)
                        out[k++] = '0';
        }
        for (int i = 0; i <= last; i++) {
                out[k++] = digits[i];
                if (i == x && i < last)
                        out[k++] = '.';
        }
        out[k] = '\0';
        return k;
}

/* A real as jansson writes it with JSON_REAL_PRECISION(12): 12 significant digits, never integer-looking. */
static void text_real(TextBuf *t, double v) {
        char n[40];
        int k;
        if (!isfinite(v)) {
                textbuf_fail(t);
                return;
        }
        k = real_12g(n, v);
        if (k == 0)
                k = snprintf(n, sizeof(n), "%.12g", v);
        if (!strpbrk(n, ".e"))
                k += snprintf(n + k, sizeof(n) - (size_t)k, ".0");
        /* No '+' and no leading zeros in the exponent: 1e-05 -> 1e-5, 1e+20 -> 1e20. */
        char *e = strchr(n, 'e');
        if (e) {
                char *from = e + 1, *to = e + 1;
                if (*to == '-')
                        from = ++to;
                else if (*from == '+')
                        from++;
                while (*from == '0' && from[1])
                        from++;
                memmove(to, from, strlen(from) + 1);
                k = (int)strlen(n);
        }
        textbuf_put(t, n, (size_t)k);
}

static void text_location(TextBuf *t, const Food__V1__Location *loc) {
        if (!loc) {
                textbuf_puts(t, "null");
                return;
        }
        text_key_str(t, "{\"text\":", loc->text);
        text_key_str(t, ",\"region\":", loc->region);
        textbuf_puts(t, ",\"lat\":");
        text_real(t, loc->lat);
        textbuf_puts(t, ",\"lon\":");
        text_real(t, loc->lon);
        textbuf_puts(t, "}");
}

/* The text written, malloc'ed (its length in *len when len is not NULL), or NULL if any part failed. */
static char *text_done(TextBuf *t, size_t *len) {
        if (t->failed) {
                textbuf_free(t);
                return NULL;
        }
        if (len)
                *len = t->len;
        return t->p;
}

char *order_json_view(const Food__V1__Order *o, size_t *len) {
        char at[40];
        TextBuf t = {0};

        text_key_str(&t, "{\"id\":", o->id);
        text_key_str(&t, ",\"customer_id\":", o->customer_id);
        text_key_str(&t, ",\"store_id\":", o->store_id);
        text_key_str(&t, ",\"status\":", o->status);
        textbuf_puts(&t, ",\"items\":[");
        for (size_t i = 0; i < o->n_items; i++) {
                const Food__V1__OrderItem *it = o->items[i];
                text_key_str(&t, i ? ",{\"menu_item_id\":" : "{\"menu_item_id\":", it->menu_item_id);
                text_key_str(&t, ",\"name\":", it->name);
                text_key_int(&t, ",\"quantity\":", (int)it->quantity);
                text_key_int(&t, ",\"unit_price\":", it->unit_price);
                textbuf_puts(&t, "}");
        }
        text_key_int(&t, "],\"total\":", o->total);
        text_key_int(&t, ",\"discount\":", o->discount);
        text_key_int(&t, ",\"amount_paid\":", o->amount_paid);
        text_key_int(&t, ",\"amount_refunded\":", o->amount_refunded);
        textbuf_puts(&t, ",\"address\":");
        text_location(&t, o->address);
        text_key_str(&t, ",\"note\":", o->note);
        if (o->rider_id && *o->rider_id)
                text_key_str(&t, ",\"rider_id\":", o->rider_id);
        else
                textbuf_puts(&t, ",\"rider_id\":null");
        textbuf_puts(&t, ",\"history\":[");
        for (size_t i = 0; i < o->n_history; i++) {
                order_json_time(o->history[i]->at_ms, at, sizeof(at));
                text_key_str(&t, i ? ",{\"status\":" : "{\"status\":", o->history[i]->status);
                text_key_str(&t, ",\"at\":", at);
                textbuf_puts(&t, "}");
        }
        order_json_time(o->updated_at_ms, at, sizeof(at));
        text_key_str(&t, "],\"updated_at\":", at);
        if (o->coupon_id && *o->coupon_id)
                text_key_str(&t, ",\"coupon_id\":", o->coupon_id);
        if (o->reason && *o->reason)
                text_key_str(&t, ",\"reason\":", o->reason);
        textbuf_puts(&t, "}");
        return text_done(&t, len);
}

int order_delivery_id(const char *order_id, char *buf, size_t cap) {
        if (strncmp(order_id, "ord_", 4) != 0)
                return -EINVAL;
        int n = snprintf(buf, cap, "dlv_%s", order_id + 4);
        return (n < 0 || (size_t)n >= cap) ? -EINVAL : 0;
}

int order_id_of_delivery(const char *delivery_id, char *buf, size_t cap) {
        if (strncmp(delivery_id, "dlv_", 4) != 0 || !delivery_id[4])
                return -EINVAL;
        int n = snprintf(buf, cap, "ord_%s", delivery_id + 4);
        return (n < 0 || (size_t)n >= cap) ? -EINVAL : 0;
}

char *order_json_delivery(const Food__V1__Order *o, size_t *len) {
        char id[80];
        TextBuf t = {0};
        if (order_delivery_id(o->id, id, sizeof(id)) < 0)
                return NULL;
        text_key_str(&t, "{\"id\":", id);
        text_key_str(&t, ",\"order_id\":", o->id);
        text_key_str(&t, ",\"store_id\":", o->store_id);
        textbuf_puts(&t, ",\"pickup\":");
        text_location(&t, o->pickup);
        textbuf_puts(&t, ",\"dropoff\":");
        text_location(&t, o->address);
        textbuf_puts(&t, "}");
        return text_done(&t, len);
}

json_t *order_json_saga(const Food__V1__SagaHistory *h) {
        char created[40], updated[40], deadline[40], at[40];
        json_t *steps = json_array(), *v;

        for (size_t i = 0; i < h->n_steps; i++) {
                const Food__V1__SagaStep *s = h->steps[i];
                order_json_time(s->at_ms, at, sizeof(at));
                json_array_append_new(steps, json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "kind", s->kind, "type",
                                                       s->type, "step", s->step, "attempt", (int)s->attempt, "at",
                                                       at, "detail", s->detail));
        }
        order_json_time(h->created_ms, created, sizeof(created));
        order_json_time(h->updated_ms, updated, sizeof(updated));
        order_json_time(h->deadline_ms, deadline, sizeof(deadline));
        v = json_pack("{s:s, s:s, s:s, s:i, s:I, s:i, s:o, s:b, s:s, s:s, s:o}", "order_id", h->order_id, "state",
                      h->state, "step", h->step, "attempt", (int)h->attempt, "version", (json_int_t)h->version,
                      "definition_version", (int)h->definition_version, "deadline_at",
                      h->deadline_ms ? json_string(deadline) : json_null(), "compensation_failed",
                      (int)h->compensation_failed, "created_at", created, "updated_at", updated, "steps", steps);
        return v;
}
