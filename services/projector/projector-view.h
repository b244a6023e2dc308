/* Pure rules of the read model: which delivery row an order status implies, and when an order
 * was created. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "food.pb-c.h"

/* The read-model delivery status for an order in `order_status`: COOKED -> OPEN, PICKED_UP ->
 * PICKED_UP, DELIVERED and COMPLETED -> DELIVERED (*creates = true: the row is upserted);
 * CANCELLED and REFUSED -> CANCELLED (*creates = false: only an existing row changes); any other
 * status -> NULL (no delivery row is touched). */
const char *projector_delivery_status(const char *order_status, bool *creates);

/* When the order was created, in ms since the epoch: its first history entry, else its
 * updated_at_ms, else `event_at_ms`. */
int64_t projector_created_at_ms(const Food__V1__Order *o, int64_t event_at_ms);
