/* Pure rules of webhook delivery: retry schedule, outcome of an answer, shedding, key and body. */
#include "notification-delivery.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "order-json.h"

NotifyOutcome notify_classify(long http_status) {
        if (http_status >= 200 && http_status <= 299)
                return NOTIFY_ACCEPTED;
        if (http_status <= 0 || http_status == 408 || http_status == 425 || http_status == 429 || http_status >= 500)
                return NOTIFY_TRANSIENT;
        return NOTIFY_REFUSED;
}

int64_t notify_backoff_ms(const NotifyRetryPolicy *p, int attempts, double jitter) {
        int64_t wait = p->base_ms > 0 ? p->base_ms : 1;
        int64_t cap = p->max_ms >= wait ? p->max_ms : wait;

        /* Double without overflowing: stop as soon as the cap is reached. */
        for (int i = 1; i < attempts && wait < cap; i++)
                wait = wait > cap / 2 ? cap : wait * 2;
        if (wait > cap)
                wait = cap;
        if (!(jitter >= 0.0 && jitter < 1.0)) /* also catches NaN */
                jitter = 0.5;
        wait = (int64_t)((double)wait * (0.8 + 0.4 * jitter));
        return wait > 0 ? wait : 1;
}

NotifyDecision notify_decide(const NotifyRetryPolicy *p, NotifyOutcome outcome, int attempts, int64_t retry_after_ms,
                             double jitter, int64_t *delay_ms) {
        int64_t wait;

        if (outcome == NOTIFY_ACCEPTED)
                return NOTIFY_DONE_SENT;
        if (outcome == NOTIFY_REFUSED || attempts >= p->max_attempts)
                return NOTIFY_DONE_FAILED;
        wait = notify_backoff_ms(p, attempts < 1 ? 1 : attempts, jitter);
        /* The provider's own Retry-After wins when longer, within our cap. */
        if (retry_after_ms > wait)
                wait = retry_after_ms < p->max_ms ? retry_after_ms : p->max_ms;
        *delay_ms = wait;
        return NOTIFY_DONE_RETRY;
}

int64_t notify_shed_count(int64_t pending, int64_t max_backlog) {
        if (pending <= 0 || max_backlog < 0 || pending <= max_backlog)
                return 0;
        return pending - max_backlog;
}

static bool header_safe(const char *v) {
        for (; *v; v++)
                if ((unsigned char)*v < 0x20 || *v == 0x7f)
                        return false;
        return true;
}

void notify_idempotency_key(const NotifyItem *n, char *buf, size_t cap) {
        const char *scope = n->order_id && *n->order_id ? n->order_id : n->customer_id;
        int len = -1;

        if (scope && *scope && n->msg_id && *n->msg_id && header_safe(scope) && header_safe(n->msg_id))
                len = snprintf(buf, cap, "%s:%s", scope, n->msg_id);
        if (len < 0 || (size_t)len >= cap || (size_t)len >= NOTIFY_KEY_MAX) {
                /* Unusable as a header: a digest of it, the same on every attempt. */
                uint64_t h = 1469598103934665603ULL;
                for (const char *c = n->msg_id ? n->msg_id : ""; *c; c++)
                        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
                snprintf(buf, cap, "ntf_%016" PRIx64, h);
        }
}

int notify_webhook_body(const NotifyItem *n, char **ret) {
        char id[160], at[32];
        json_t *doc;
        char *text;

        if (!n->customer_id || !n->status || !n->message || !n->msg_id)
                return -EINVAL;
        snprintf(id, sizeof(id), "ntf_%s", n->msg_id);
        order_json_time(n->at_ms, at, sizeof(at));
        doc = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s}", "id", id, "customer_id", n->customer_id, "order_id",
                        n->order_id && *n->order_id ? json_string(n->order_id) : json_null(), "status", n->status,
                        "message", n->message, "at", at);
        if (!doc)
                return -ENOMEM; /* also invalid UTF-8, which the handler never stores */
        text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}
