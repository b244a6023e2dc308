/* A live status event of GET /orders/{id}/events, from NATS payload to SSE frame: pure, so that
 * the gateway and the fuzz harness (fuzz/fuzz-gateway-events.c) run the same code. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "food.pb-c.h"

/* Decodes a message of Food-Type `type` (may be NULL): 1 with *ret (the caller codec_frees it)
 * when it is an OrderStatusChanged of `order_id`, 0 when it is not (another type, undecodable,
 * another order's). */
int live_status_event(const char *type, const void *data, size_t len, const char *order_id,
                      Food__V1__OrderStatusChanged **ret);

/* The SSE frame of `o` when its version is above `last_sent`: 1 with *frame (malloc'ed, the
 * caller frees) and its length, 0 when older or already sent, -ENOMEM when the view cannot be
 * built (not UTF-8) or memory ran out. */
int live_frame(const Food__V1__Order *o, int64_t last_sent, char **frame, size_t *len);
