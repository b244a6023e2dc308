/* The HTTP answer an orchestrator RpcReply means: pure, so that the gateway and the fuzz harness
 * (fuzz/fuzz-gateway-rpc-reply.c) run the same decision. */
#pragma once
#include <jansson.h>
#include <stdint.h>

#include "food.pb-c.h"

typedef struct {
        int status;          /* HTTP status to send */
        char *body;          /* JSON text (owned; rpc_answer_clear), or NULL for a problem+json */
        size_t body_len;
        const char *title;   /* problem title (borrowed from the reply; NULL: the status' own) */
        char detail[512];    /* problem detail when body is NULL */
        char headers[160];   /* extra header lines, each ending in CRLF, or "" */
        const char *order_id; /* order whose version the gateway remembers (borrowed), or NULL */
        int64_t version;
} RpcAnswer;

/* Decides the answer to `reply` (borrowed; a's strings borrow from it):
 *   2xx with one saga history -> that status + the saga view;
 *   2xx with an order view    -> that status + the view as it is (one JSON object), Location on 201,
 *                                order_id set; an order (older orchestrators) -> its view written here;
 *   2xx without either        -> 502;  an order id unusable in a URL, a view that is not {...} -> 502;
 *   4xx/5xx                   -> problem with its title/detail, Retry-After when retry_after_s > 0;
 *   any other status          -> 502;  a view that cannot be built (not UTF-8) -> 500.
 * Always fills *a; release with rpc_answer_clear. */
void rpc_answer_plan(const Food__V1__RpcReply *reply, RpcAnswer *a);
void rpc_answer_clear(RpcAnswer *a);
