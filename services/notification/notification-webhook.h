/* The HTTP webhook client of the notification sender (lib/http-client): POSTs a batch of JSON bodies
 * concurrently over kept-alive connections to one URL. One instance per sender thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTIFY_ERROR_MAX 160

typedef struct NotifyWebhook NotifyWebhook;

typedef struct {
        const char *url;     /* the provider's endpoint, http(s) (copied) */
        const char *api_key; /* sent as "Authorization: Bearer <key>" when non-empty (copied) */
        int64_t timeout_ms;  /* whole-request deadline, also sent as X-Request-Timeout-Ms */
        int max_parallel;    /* most requests per notify_webhook_send, and connections kept */
        bool batch;          /* one POST per notify_webhook_send (below) instead of one per request */
} NotifyWebhookConfig;

/* One request of a batch: body and key are borrowed for the call, the rest is written by it. */
typedef struct {
        const char *body;             /* JSON text */
        const char *key;              /* Idempotency-Key header value (header-safe) */
        long http_status;             /* out: the answer's status, 0 when none came */
        int64_t retry_after_ms;       /* out: the answer's Retry-After, 0 when absent */
        char error[NOTIFY_ERROR_MAX]; /* out: why, when the status is not 2xx */
} NotifyRequest;

/* Creates a client (copies the config). 0, -EINVAL (not an http(s) URL, bad numbers, an API key that cannot be a
 * header value), -ENOMEM or -EIO (TLS could not start for an https URL). */
int notify_webhook_new(NotifyWebhook **ret, const NotifyWebhookConfig *cfg);
/* Closes its connections and frees it. NULL is fine. */
void notify_webhook_free(NotifyWebhook *w);

/* POSTs every request of reqs[0..n) at once (n <= max_parallel) and waits for all of them, at most
 * timeout_ms. Fills each request's outcome and returns 0, or -EINVAL (n too large) or -ENOMEM (the
 * outcomes of requests not made say so, with status 0).
 * Batch mode: one POST of {"messages":[{"idempotency_key":<key>,"message":<body>}, ...]}, answered 2xx with
 * {"results":[{"status":<HTTP status of that message>}, ...]} in the same order; each request takes its own
 * status. A 4xx for the whole list (other than 408, 425, 429) sends each request again in its own POST, so that
 * only a request the provider refuses fails; any other answer that is not 2xx is every request's outcome,
 * Retry-After included; a 2xx without a status for each message leaves every request unanswered (retried). */
int notify_webhook_send(NotifyWebhook *w, NotifyRequest *reqs, size_t n);
