/* RpcReply -> HTTP status, headers and body (pure). */
#include "gateway-rpc-answer.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "order-json.h"

__attribute__((format(printf, 3, 4))) static void problem(RpcAnswer *a, int status, const char *fmt, ...) {
        va_list ap;
        a->status = status;
        va_start(ap, fmt);
        vsnprintf(a->detail, sizeof(a->detail), fmt, ap);
        va_end(ap);
}

/* An order id that can go into a URL and a header as it is: 1..64 of [A-Za-z0-9_.:@-] (what the
 * gateway generates), nothing that could end a header line or the path. */
static bool id_url_safe(const char *id) {
        size_t n = 0;
        for (; id[n]; n++)
                if (n >= 64 || !(isalnum((unsigned char)id[n]) || strchr("_.:@-", id[n])))
                        return false;
        return n > 0;
}

void rpc_answer_plan(const Food__V1__RpcReply *reply, RpcAnswer *a) {
        int status = reply->http_status;

        memset(a, 0, sizeof(*a));
        if (status >= 200 && status < 300 && reply->n_sagas == 1) {
                json_t *saga = order_json_saga(reply->sagas[0]);
                a->body = saga ? json_dumps(saga, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
                a->body_len = a->body ? strlen(a->body) : 0;
                json_decref(saga);
                a->status = status;
                if (!a->body)
                        problem(a, 500, "could not build the saga view");
        } else if (status >= 200 && status < 300 && reply->order_view.len > 0) {
                /* The orchestrator's view, sent as it is: one JSON object (it wrote it with order_json_view). */
                const uint8_t *v = reply->order_view.data;
                size_t n = reply->order_view.len;
                if (!reply->order_id || !id_url_safe(reply->order_id)) {
                        problem(a, 502, "the order service answered with an unusable order id");
                        return;
                }
                if (v[0] != '{' || v[n - 1] != '}' || memchr(v, 0, n)) {
                        problem(a, 502, "the order service answered with an unusable order view");
                        return;
                }
                if (!(a->body = malloc(n + 1))) {
                        problem(a, 500, "could not build the order view");
                        return;
                }
                memcpy(a->body, v, n);
                a->body[n] = '\0';
                a->body_len = n;
                a->status = status;
                a->order_id = reply->order_id;
                a->version = reply->order_version;
                if (status == 201)
                        snprintf(a->headers, sizeof(a->headers), "Location: /orders/%s\r\n", reply->order_id);
        } else if (status >= 200 && status < 300) {
                /* An orchestrator from before order_view: the order itself. */
                if (!reply->order || !reply->order->id || !*reply->order->id) {
                        problem(a, 502, "the order service answered %d without the order", status);
                        return;
                }
                if (!id_url_safe(reply->order->id)) {
                        problem(a, 502, "the order service answered with an unusable order id");
                        return;
                }
                a->body = order_json_view(reply->order, &a->body_len);
                if (!a->body) {
                        problem(a, 500, "could not build the order view");
                        return;
                }
                a->status = status;
                a->order_id = reply->order->id;
                a->version = reply->order->version;
                if (status == 201)
                        snprintf(a->headers, sizeof(a->headers), "Location: /orders/%s\r\n", reply->order->id);
        } else if (status < 400 || status > 599) {
                problem(a, 502, "the order service answered with status %d", status);
        } else {
                a->title = reply->title && *reply->title ? reply->title : NULL;
                if (reply->retry_after_s > 0)
                        snprintf(a->headers, sizeof(a->headers), "Retry-After: %d\r\n", reply->retry_after_s);
                problem(a, status, "%s",
                        reply->detail && *reply->detail ? reply->detail : "the order service refused the request");
        }
}

void rpc_answer_clear(RpcAnswer *a) {
        free(a->body);
        a->body = NULL;
}
