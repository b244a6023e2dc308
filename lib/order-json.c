/* Order protobuf -> the API's JSON views. */
#include "order-json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void order_json_time(int64_t ms, char *buf, size_t cap) {
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

json_t *order_json_location(const Food__V1__Location *loc) {
        if (!loc)
                return json_null();
        return json_pack("{s:s, s:s, s:f, s:f}", "text", loc->text ? loc->text : "", "region",
                         loc->region ? loc->region : "", "lat", loc->lat, "lon", loc->lon);
}

static json_t *str_or_null(const char *s) {
        return (s && *s) ? json_string(s) : json_null();
}

json_t *order_json_view(const Food__V1__Order *o) {
        char at[40];
        json_t *items = json_array(), *history = json_array(), *v;

        for (size_t i = 0; i < o->n_items; i++) {
                const Food__V1__OrderItem *it = o->items[i];
                json_array_append_new(items, json_pack("{s:s, s:s, s:i, s:I}", "menu_item_id", it->menu_item_id,
                                                       "name", it->name, "quantity", (int)it->quantity,
                                                       "unit_price", (json_int_t)it->unit_price));
        }
        for (size_t i = 0; i < o->n_history; i++) {
                order_json_time(o->history[i]->at_ms, at, sizeof(at));
                json_array_append_new(history, json_pack("{s:s, s:s}", "status", o->history[i]->status, "at", at));
        }
        order_json_time(o->updated_at_ms, at, sizeof(at));
        v = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:o, s:s, s:o, s:o, s:s}", "id", o->id,
                      "customer_id", o->customer_id, "store_id", o->store_id, "status", o->status, "items", items,
                      "total", (json_int_t)o->total, "discount", (json_int_t)o->discount, "amount_paid",
                      (json_int_t)o->amount_paid, "amount_refunded", (json_int_t)o->amount_refunded, "address",
                      order_json_location(o->address), "note", o->note ? o->note : "", "rider_id",
                      str_or_null(o->rider_id), "history", history, "updated_at", at);
        if (v && o->coupon_id && *o->coupon_id)
                json_object_set_new(v, "coupon_id", json_string(o->coupon_id));
        if (v && o->reason && *o->reason)
                json_object_set_new(v, "reason", json_string(o->reason));
        return v;
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

json_t *order_json_delivery(const Food__V1__Order *o) {
        char id[80];
        if (order_delivery_id(o->id, id, sizeof(id)) < 0)
                return NULL;
        return json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", id, "order_id", o->id, "store_id", o->store_id, "pickup",
                         order_json_location(o->pickup), "dropoff", order_json_location(o->address));
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
