/* Sanity rules for an Order snapshot carried by a command or event: what no correct orchestrator
 * sends. Workers dead-letter a message whose order breaks them. */
#pragma once
#include <stdbool.h>

#include "food.pb-c.h"

#define ORDER_ID_MAX 100 /* longest id (order, store, customer, rider) a worker stores */

/* True for a non-empty id of at most ORDER_ID_MAX printable, non-space ASCII characters. */
bool order_check_id(const char *id);

/* 0 when `o` is a plausible snapshot: ids (order, customer, store) valid, status non-empty,
 * version >= 0, total/discount/amounts >= 0, every item with an id, quantity >= 1 and
 * unit_price >= 0. Otherwise -EINVAL with *why (static text) saying which rule broke. */
int order_check(const Food__V1__Order *o, const char **why);

/* True for one of the order statuses of the API contract (PAYMENT_PENDING .. COMPLETED, REJECTED,
 * REFUSED, CANCELLED). */
bool order_status_known(const char *status);

/* True when an order may go from status `from` to `to`: both known, never backwards along
 * PAYMENT_PENDING < PAID < ACCEPTED < COOKING < COOKED < PICKED_UP < DELIVERED < terminal, and a
 * terminal status (COMPLETED, REJECTED, REFUSED, CANCELLED) only to itself (refund updates). An
 * empty `from` (the first event of an order) allows any known `to`. */
bool order_check_transition(const char *from, const char *to);
