/* The Server-Sent Events wire format of GET /orders/{id}/events, kept pure for unit tests:
 * Last-Event-ID parsing, event frames, and when a stream has nothing more to say. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses a Last-Event-ID (an order version sent earlier): NULL or "" -> 0; 1-18 decimal
 * digits -> the value. 0 or -EINVAL. */
int sse_parse_last_id(const char *text, int64_t *ret);

/* "id: <version>\nevent: status\ndata: <json>\n\n" into a malloc'ed string (*ret, caller frees)
 * with its length. `json` must be one line (compact JSON is). 0, -EINVAL (a newline in json),
 * or -ENOMEM. */
int sse_frame(int64_t version, const char *json, char **ret, size_t *ret_len);

typedef enum {
        SSE_MORE,         /* not terminal: keep streaming */
        SSE_REFUND_DUE,   /* cancelled or refused with money still to refund: wait for the refund event */
        SSE_DONE,         /* nothing more will change: end the stream */
} SseState;

/* What follows an order in `status` with these amounts: COMPLETED and REJECTED are done;
 * CANCELLED and REFUSED are done once amount_refunded reaches amount_paid (the refund is
 * re-published with the same status and a higher version); anything else goes on. */
SseState sse_state(const char *status, int64_t amount_paid, int64_t amount_refunded);
