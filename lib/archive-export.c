/* The analytics export's pure parts: `since`/`limit` parsing and the NDJSON line of one event. */
#include "archive-export.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "order-json.h"

static bool all_digits(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* n decimal digits at *p into *ret; advances *p. */
static bool take_digits(const char **p, int n, int *ret) {
        int v = 0;
        for (int i = 0; i < n; i++) {
                char c = (*p)[i];
                if (c < '0' || c > '9')
                        return false;
                v = v * 10 + (c - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

static bool take_char(const char **p, char a, char b) {
        if (**p != a && **p != b)
                return false;
        (*p)++;
        return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static int rfc3339_ms(const char *s, int64_t *ret) {
        static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        const char *p = s;
        int y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0, sign = 0;

        if (!take_digits(&p, 4, &y) || !take_char(&p, '-', '-') || !take_digits(&p, 2, &mo) ||
            !take_char(&p, '-', '-') || !take_digits(&p, 2, &d) || !take_char(&p, 'T', 't') ||
            !take_digits(&p, 2, &h) || !take_char(&p, ':', ':') || !take_digits(&p, 2, &mi) ||
            !take_char(&p, ':', ':') || !take_digits(&p, 2, &sec))
                return -EINVAL;
        if (*p == '.') {
                int digits = 0;
                p++;
                for (; *p >= '0' && *p <= '9'; p++, digits++)
                        if (digits < 3)
                                ms = ms * 10 + (*p - '0');
                if (digits == 0 || digits > 9)
                        return -EINVAL;
                for (; digits < 3; digits++)
                        ms *= 10;
        }
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                sign = *p == '-' ? -1 : 1;
                p++;
                if (!take_digits(&p, 2, &oh) || !take_char(&p, ':', ':') || !take_digits(&p, 2, &om) || oh > 23 ||
                    om > 59)
                        return -EINVAL;
        } else {
                return -EINVAL;
        }
        if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
                return -EINVAL;
        if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
                return -EINVAL;
        int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (sec == 60 ? 59 : sec);
        secs -= (int64_t)sign * (oh * 3600 + om * 60);
        *ret = secs * 1000 + ms;
        return 0;
}

int export_parse_since(const char *since, ExportStart *ret) {
        ExportStart st = {0};

        if (since && *since) {
                if (all_digits(since)) {
                        char *end = NULL;
                        errno = 0;
                        unsigned long long v = strtoull(since, &end, 10);
                        if (errno != 0 || *end || v > INT64_MAX)
                                return -EINVAL;
                        st.after_seq = (uint64_t)v;
                } else {
                        if (rfc3339_ms(since, &st.since_ms) < 0)
                                return -EINVAL;
                        st.by_time = true;
                }
        }
        *ret = st;
        return 0;
}

int export_parse_limit(const char *text, int64_t *ret) {
        if (!text || !*text) {
                *ret = EXPORT_LIMIT_DEFAULT;
                return 0;
        }
        if (!all_digits(text) || strlen(text) > 9)
                return -EINVAL;
        char *end = NULL;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno != 0 || *end || v < 1 || v > EXPORT_LIMIT_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

static json_t *str_or_null(const char *s) {
        return s && *s ? json_string(s) : json_null();
}

char *export_line(uint64_t seq, const char *type, const Food__V1__OrderStatusChanged *ev) {
        const Food__V1__Order *o = ev ? ev->order : NULL;
        char at[40], *text = NULL, *line = NULL;
        json_t *j;
        size_t n;

        if (!o)
                return NULL;
        order_json_time(ev->at_ms > 0 ? ev->at_ms : o->updated_at_ms, at, sizeof(at));
        j = json_object();
        if (!j)
                return NULL;
        /* Insertion order is the documented field order. */
        json_object_set_new(j, "seq", json_integer((json_int_t)seq));
        json_object_set_new(j, "order_id", str_or_null(o->id));
        json_object_set_new(j, "type", str_or_null(type));
        json_object_set_new(j, "status", str_or_null(o->status));
        json_object_set_new(j, "previous_status", str_or_null(ev->previous_status));
        json_object_set_new(j, "at", json_string(at));
        json_object_set_new(j, "customer_id", str_or_null(o->customer_id));
        json_object_set_new(j, "store_id", str_or_null(o->store_id));
        json_object_set_new(j, "rider_id", str_or_null(o->rider_id));
        json_object_set_new(j, "total", json_integer(o->total));
        json_object_set_new(j, "amount_paid", json_integer(o->amount_paid));
        json_object_set_new(j, "amount_refunded", json_integer(o->amount_refunded));
        text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!text)
                return NULL;
        n = strlen(text);
        line = malloc(n + 2);
        if (line) {
                memcpy(line, text, n);
                line[n] = '\n';
                line[n + 1] = 0;
        }
        free(text);
        return line;
}
