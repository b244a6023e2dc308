/* GET /orders/{id}/events: the order's live status as Server-Sent Events. What the client missed
 * comes from the read model (the current view, once, when newer than Last-Event-ID), then every
 * status change live from core NATS food.order.<id>.status (no polling), in version order without
 * duplicates, with heartbeats, until the order can change no more. */
#pragma once
#include "gateway-routes.h"

/* Environment of the streams (read once by events_setup):
 * SSE_MAX_STREAMS (64): concurrent streams per gateway, beyond -> 503 + Retry-After;
 * SSE_MAX_PER_CUSTOMER (16, at most SSE_MAX_STREAMS): concurrent streams of one token subject on
 * this gateway, beyond -> 429 + Retry-After (the others still get theirs);
 * SSE_MAX_SECONDS (600): a stream ends after this long (the client reconnects with Last-Event-ID);
 * SSE_HEARTBEAT_S (15): comment line period; SSE_REFUND_WAIT_S (60): how long a cancelled or
 * refused order's stream waits for its refund event before ending. */
void events_order_stream(Request *rq);
/* Reads SSE_MAX_STREAMS, SSE_MAX_PER_CUSTOMER, SSE_MAX_SECONDS, SSE_HEARTBEAT_S,
 * SSE_REFUND_WAIT_S (fail fast naming the variable), sets up the stream cap and
 * registers its metrics; once, at start, before serving. 0, -EINVAL or -ENOMEM. */
int events_setup(void);
/* Frees the stream cap; after the HTTP server stopped. */
void events_teardown(void);

