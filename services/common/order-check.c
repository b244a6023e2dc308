/* Plausibility rules for Order snapshots received by workers. */
#include "order-check.h"

#include <errno.h>
#include <string.h>

bool order_check_id(const char *id) {
        size_t n = 0;
        if (!id)
                return false;
        for (; id[n]; n++)
                if ((unsigned char)id[n] <= 0x20 || (unsigned char)id[n] >= 0x7f || n >= ORDER_ID_MAX)
                        return false;
        return n > 0;
}

static int fail(const char **why, const char *msg) {
        if (why)
                *why = msg;
        return -EINVAL;
}

int order_check(const Food__V1__Order *o, const char **why) {
        if (!o)
                return fail(why, "no order");
        if (!order_check_id(o->id))
                return fail(why, "order id empty or malformed");
        if (!order_check_id(o->customer_id))
                return fail(why, "customer id empty or malformed");
        if (!order_check_id(o->store_id))
                return fail(why, "store id empty or malformed");
        if (!o->status || !*o->status || strlen(o->status) > 32)
                return fail(why, "status empty or too long");
        if (o->version < 0)
                return fail(why, "negative version");
        if (o->total < 0 || o->discount < 0 || o->amount_paid < 0 || o->amount_refunded < 0)
                return fail(why, "negative amount");
        for (size_t i = 0; i < o->n_items; i++) {
                const Food__V1__OrderItem *it = o->items[i];
                if (!it || !it->menu_item_id || !*it->menu_item_id)
                        return fail(why, "item without a menu item id");
                if (it->quantity < 1)
                        return fail(why, "item quantity below 1");
                if (it->unit_price < 0)
                        return fail(why, "negative unit price");
        }
        return 0;
}

/* Rank along the lifecycle; every terminal status shares the last rank. */
static const struct {
        const char *status;
        int rank;
        bool terminal;
} order_statuses[] = {
        {"PAYMENT_PENDING", 0, false}, {"PAID", 1, false},      {"ACCEPTED", 2, false}, {"COOKING", 3, false},
        {"COOKED", 4, false},          {"PICKED_UP", 5, false}, {"DELIVERED", 6, false}, {"COMPLETED", 7, true},
        {"REJECTED", 7, true},         {"REFUSED", 7, true},    {"CANCELLED", 7, true},
};

static int order_status_index(const char *status) {
        for (size_t i = 0; status && i < sizeof(order_statuses) / sizeof(order_statuses[0]); i++)
                if (strcmp(order_statuses[i].status, status) == 0)
                        return (int)i;
        return -1;
}

bool order_status_known(const char *status) {
        return order_status_index(status) >= 0;
}

bool order_check_transition(const char *from, const char *to) {
        int f, t = order_status_index(to);
        if (t < 0)
                return false;
        if (!from || !*from)
                return true;
        f = order_status_index(from);
        if (f < 0)
                return false;
        if (order_statuses[f].terminal)
                return f == t;
        return order_statuses[t].rank >= order_statuses[f].rank;
}
