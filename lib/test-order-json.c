/* Unit test of the order and delivery views written directly as text: the same JSON values as the contract's
 * views built with jansson, escaping, coordinates as jansson prints them, and no view from a value JSON cannot
 * hold. */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "order-json.h"
#include "test-check.h"

/* The contract's view of `o`, built independently with jansson. */
static json_t *expected_view(const Food__V1__Order *o) {
        char at[40];
        json_t *items = json_array(), *history = json_array(), *v;
        for (size_t i = 0; i < o->n_items; i++)
                json_array_append_new(items, json_pack("{s:s, s:s, s:i, s:I}", "menu_item_id", o->items[i]->menu_item_id,
                                                       "name", o->items[i]->name, "quantity", (int)o->items[i]->quantity,
                                                       "unit_price", (json_int_t)o->items[i]->unit_price));
        for (size_t i = 0; i < o->n_history; i++) {
                order_json_time(o->history[i]->at_ms, at, sizeof(at));
                json_array_append_new(history, json_pack("{s:s, s:s}", "status", o->history[i]->status, "at", at));
        }
        order_json_time(o->updated_at_ms, at, sizeof(at));
        v = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:{s:s, s:s, s:f, s:f}, s:s, s:o, s:o, s:s}",
                      "id", o->id, "customer_id", o->customer_id, "store_id", o->store_id, "status", o->status,
                      "items", items, "total", (json_int_t)o->total, "discount", (json_int_t)o->discount,
                      "amount_paid", (json_int_t)o->amount_paid, "amount_refunded", (json_int_t)o->amount_refunded,
                      "address", "text", o->address->text, "region", o->address->region, "lat", o->address->lat,
                      "lon", o->address->lon, "note", o->note,
                      "rider_id", o->rider_id && *o->rider_id ? json_string(o->rider_id) : json_null(), "history",
                      history, "updated_at", at);
        if (o->coupon_id && *o->coupon_id)
                json_object_set_new(v, "coupon_id", json_string(o->coupon_id));
        if (o->reason && *o->reason)
                json_object_set_new(v, "reason", json_string(o->reason));
        return v;
}

/* `text` (`len` bytes, freed here) is JSON text of the same value as `want` (released here). */
static void check_text(char *text, size_t len, json_t *want, const char *what) {
        json_error_t err;
        json_t *got = text ? json_loadb(text, len, 0, &err) : NULL;
        CHECK(text && strlen(text) == len, "%s: no text, or a length that is not the text's", what);
        CHECK(got != NULL, "%s: not JSON (%s): %s", what, text ? err.text : "-", text ? text : "(null)");
        CHECK(got && json_equal(got, want), "%s: a different view: %s", what, text ? text : "(null)");
        json_decref(got);
        json_decref(want);
        free(text);
}

static void check_same(const Food__V1__Order *o, const char *what) {
        size_t len = 0;
        char *text = order_json_view(o, &len);
        check_text(text, len, expected_view(o), what);
}

/* The contract's delivery view of `o`, built independently with jansson (a missing place is null). */
static json_t *expected_delivery(const Food__V1__Order *o, const char *id) {
        const Food__V1__Location *places[] = {o->pickup, o->address};
        json_t *p[2];
        for (int i = 0; i < 2; i++)
                p[i] = places[i] ? json_pack("{s:s, s:s, s:f, s:f}", "text", places[i]->text, "region", places[i]->region,
                                             "lat", places[i]->lat, "lon", places[i]->lon)
                                 : json_null();
        return json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", id, "order_id", o->id, "store_id", o->store_id, "pickup",
                         p[0], "dropoff", p[1]);
}

static void check_delivery(const Food__V1__Order *o, const char *id, const char *what) {
        size_t len = 0;
        char *text = order_json_delivery(o, &len);
        check_text(text, len, expected_delivery(o, id), what);
}

/* Whether the view of `o` with `addr->lat` = v writes v as jansson does with 12 significant digits (else one
 * failure reported). */
static bool lat_as_jansson(const Food__V1__Order *o, Food__V1__Location *addr, double v) {
        json_t *r = json_real(v);
        char *want = json_dumps(r, JSON_ENCODE_ANY | JSON_REAL_PRECISION(12)), needle[80];
        addr->lat = v;
        char *text = order_json_view(o, NULL);
        snprintf(needle, sizeof(needle), "\"lat\":%s,", want ? want : "?");
        bool same = text && strstr(text, needle);
        CHECK(same, "lat %.17g: expected %s in %s", v, needle, text ? text : "(null)");
        free(text);
        free(want);
        json_decref(r);
        return same;
}

int main(void) {
        Food__V1__Location addr = FOOD__V1__LOCATION__INIT;
        Food__V1__OrderItem a = FOOD__V1__ORDER_ITEM__INIT, b = FOOD__V1__ORDER_ITEM__INIT;
        Food__V1__OrderItem *items[] = {&a, &b};
        Food__V1__StatusAt h1 = FOOD__V1__STATUS_AT__INIT, h2 = FOOD__V1__STATUS_AT__INIT;
        Food__V1__StatusAt *history[] = {&h1, &h2};
        Food__V1__Order o = FOOD__V1__ORDER__INIT;

        addr.text = "Teheran-ro 1, \"gate\" 2\\3";
        addr.region = "gangnam";
        addr.lat = 37.4979;
        addr.lon = 127.0;
        a.menu_item_id = "itm_1";
        a.name = "양념치킨";
        a.quantity = 2;
        a.unit_price = 18000;
        b.menu_item_id = "itm_2";
        b.name = "tab\there, line\nbreak, bell\x07, del\x7f";
        b.quantity = 1;
        b.unit_price = 2500;
        h1.status = "PAID";
        h1.at_ms = 1796450000123;
        h2.status = "ACCEPTED";
        h2.at_ms = 1796450001000;
        o.id = "ord_0123456789abcdef";
        o.customer_id = "cus_1";
        o.store_id = "sto_1";
        o.status = "ACCEPTED";
        o.n_items = 2;
        o.items = items;
        o.total = 38500;
        o.discount = 1000;
        o.amount_paid = 37500;
        o.address = &addr;
        o.note = "문 앞에 두세요 / no bell";
        o.n_history = 2;
        o.history = history;
        o.updated_at_ms = 1796450001000;
        check_same(&o, "an accepted order");

        o.rider_id = "rdr_7";
        o.coupon_id = "cpn_1";
        o.reason = "store closed \"early\"";
        o.n_items = 0;
        o.note = "";
        check_same(&o, "with rider, coupon, reason, no items");

        /* Pinned text: coordinates as jansson prints them with 12 significant digits. */
        char *text = order_json_view(&o, NULL);
        CHECK(text && strstr(text, "\"lat\":37.4979,\"lon\":127.0}"), "coordinates: %s", text ? text : "(null)");
        CHECK(text && strstr(text, "\"reason\":\"store closed \\\"early\\\"\""), "escaped quotes: %s",
              text ? text : "(null)");
        free(text);

        /* Reals exactly as jansson prints them with 12 significant digits, exponents included. */
        const double reals[] = {0.0, -0.5, 1e-05, 1.5e-7, -2e-100, 1e+20, 123456789012345.0, 37.4979, 127.0};
        for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++)
                (void)lat_as_jansson(&o, &addr, reals[i]);
        addr.lat = 37.4979;

        /* Reals of every kind the view's own digits are written for (coordinates, any magnitude from 0.001 to 1e11,
         * products near a half, neighbours of powers of ten, exact ties printf rounds to even), 150,000 of them, each
         * exactly as jansson prints it. */
        uint64_t seed = 0x9e3779b97f4a7c15ULL;
        int real_failures = 0;
        for (int i = 0; i < 150000 && real_failures < 5; i++) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                double u = (double)(seed >> 11) * 0x1.0p-53, v;
                switch (i % 5) {
                case 0: /* a coordinate with 4 to 7 decimals */
                        v = round((u * 360.0 - 180.0) * pow(10, 4 + i % 4)) / pow(10, 4 + i % 4);
                        break;
                case 1: /* any magnitude, around the fast path's bounds too */
                        v = (1.0 + u * 9.0) * pow(10, (int)(seed % 18) - 5);
                        break;
                case 2: /* ties and near-ties of the 13th digit: k/8 with 13 digits or so */
                        v = (double)(seed % 100000000000000ULL) / 8.0 / pow(10, (int)(seed % 5));
                        break;
                case 3: /* a power of ten's neighbours */
                        v = nextafter(pow(10, (int)(seed % 15) - 3), (seed & 1) ? INFINITY : 0);
                        break;
                default: /* negative */
                        v = -(u * 1000.0);
                        break;
                }
                real_failures += !lat_as_jansson(&o, &addr, v);
        }
        addr.lat = 37.4979;

        /* Integers at their limits, as jansson writes them (the view writes its own digits). */
        const int64_t ints[] = {0, -1, 9, 10, -10, 1000000007, INT64_MAX, INT64_MIN};
        for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
                o.total = ints[i];
                o.amount_refunded = ints[i] == INT64_MIN ? INT64_MAX : -ints[i] - 1;
                check_same(&o, "integers at their limits");
        }
        o.total = 38500;
        o.amount_refunded = 0;

        /* Times: the digits order_json_time writes itself, against strftime-style formatting of the same instant. */
        const int64_t times[] = {0, 1, 999, 1796450000123, 951782400000 /* 2000-02-29 */, 253402300799999 /* 9999 */};
        for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
                char got[40], want[40], ymd[32];
                time_t secs = (time_t)(times[i] / 1000);
                struct tm tm;
                gmtime_r(&secs, &tm);
                strftime(ymd, sizeof(ymd), "%Y-%m-%dT%H:%M:%S", &tm);
                snprintf(want, sizeof(want), "%s.%03dZ", ymd, (int)(times[i] % 1000));
                order_json_time(times[i], got, sizeof(got));
                CHECK(strcmp(got, want) == 0, "time %lld: %s, expected %s", (long long)times[i], got, want);
        }
        char small[8];
        order_json_time(1796450000123, small, sizeof(small));
        CHECK(strlen(small) == sizeof(small) - 1, "a short buffer: cut, terminated (%s)", small);

        /* The delivery view: both places, then without a pickup; pinned text; nothing from a foreign id. */
        Food__V1__Location pickup = FOOD__V1__LOCATION__INIT;
        pickup.text = "치킨집 \"본점\"";
        pickup.region = "gangnam";
        pickup.lat = 37.5;
        pickup.lon = 1e-05;
        o.pickup = &pickup;
        check_delivery(&o, "dlv_0123456789abcdef", "a delivery with both places");
        text = order_json_delivery(&o, NULL);
        CHECK(text && strcmp(text, "{\"id\":\"dlv_0123456789abcdef\",\"order_id\":\"ord_0123456789abcdef\","
                                   "\"store_id\":\"sto_1\",\"pickup\":{\"text\":\"치킨집 \\\"본점\\\"\","
                                   "\"region\":\"gangnam\",\"lat\":37.5,\"lon\":1e-5},\"dropoff\":{\"text\":"
                                   "\"Teheran-ro 1, \\\"gate\\\" 2\\\\3\",\"region\":\"gangnam\",\"lat\":37.4979,"
                                   "\"lon\":127.0}}") == 0,
              "delivery text: %s", text ? text : "(null)");
        free(text);
        o.pickup = NULL;
        check_delivery(&o, "dlv_0123456789abcdef", "a delivery without a pickup");
        o.id = "order-7";
        CHECK(order_json_delivery(&o, NULL) == NULL, "a delivery view for an id without the ord_ prefix");
        o.id = "ord_0123456789abcdef";
        pickup.lon = INFINITY;
        o.pickup = &pickup;
        CHECK(order_json_delivery(&o, NULL) == NULL, "a delivery view with a coordinate that is not finite");
        o.pickup = NULL;

        o.note = "bad \xc3\x28 utf-8";
        CHECK(order_json_view(&o, NULL) == NULL, "a note that is not UTF-8 still gave a view");
        o.note = "";
        addr.lat = NAN;
        CHECK(order_json_view(&o, NULL) == NULL, "a coordinate that is not finite still gave a view");
        return failures ? 1 : 0;
}
