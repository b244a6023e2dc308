/* Pure rules of webhook delivery: the retry schedule, what an HTTP answer means, how many pending
 * notifications to shed, the idempotency key and the webhook body. No I/O (notification-sender.c
 * does that); unit tested in test-notification-delivery.c. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTIFY_KEY_MAX 200 /* longest idempotency key sent (with its NUL) */

typedef struct {
        int64_t base_ms;  /* wait after the first failed attempt (> 0) */
        int64_t max_ms;   /* cap of the doubling (>= base_ms) */
        int max_attempts; /* attempts made before a notification is 'failed' (>= 1) */
} NotifyRetryPolicy;

/* What one attempt's answer means. */
typedef enum {
        NOTIFY_ACCEPTED,  /* 2xx: the provider has it */
        NOTIFY_TRANSIENT, /* no answer (timeout, refused), 408, 425, 429, 5xx: the same request may work later */
        NOTIFY_REFUSED,   /* any other status: it never will (bad body, unknown recipient) */
} NotifyOutcome;

/* What becomes of the notification after an attempt. */
typedef enum {
        NOTIFY_DONE_SENT,
        NOTIFY_DONE_RETRY,  /* back to 'pending' after the delay */
        NOTIFY_DONE_FAILED, /* refused, or out of attempts */
} NotifyDecision;

/* One claimed notification row. Strings are borrowed (from the claim's PGresult). */
typedef struct {
        int attempts;            /* attempts including the one being made */
        const char *msg_id;      /* the row's unique id (notifications.msg_id) */
        const char *customer_id;
        const char *order_id;    /* NULL or "" for a notification about no order */
        const char *status;      /* order status, or the NotifyCustomer kind */
        const char *message;
        int64_t at_ms;
} NotifyItem;

/* The outcome of an HTTP status; 0 means no answer came. */
NotifyOutcome notify_classify(long http_status);

/* The wait after `attempts` (>= 1) failed attempts: base_ms * 2^(attempts-1) capped at max_ms, then
 * multiplied by 0.8 + 0.4 * jitter (jitter in [0, 1): spreads retries after an outage; 0.5 gives the
 * plain schedule). At least 1 ms. */
int64_t notify_backoff_ms(const NotifyRetryPolicy *p, int attempts, double jitter);

/* Decides after attempt number `attempts` (>= 1) ended with `outcome`. A retry waits the backoff, or
 * the provider's Retry-After (`retry_after_ms` > 0) when longer, never more than max_ms; *delay_ms is
 * written for NOTIFY_DONE_RETRY only. */
NotifyDecision notify_decide(const NotifyRetryPolicy *p, NotifyOutcome outcome, int attempts, int64_t retry_after_ms,
                             double jitter, int64_t *delay_ms);

/* How many of the oldest pending notifications to shed so that at most `max_backlog` wait: pending -
 * max_backlog when above, else 0 (also for nonsense input). Rows being sent are not counted: they
 * cannot be shed and leave the backlog by themselves within the send timeout. */
int64_t notify_shed_count(int64_t pending, int64_t max_backlog);

/* The idempotency key of a notification, the same for every attempt and unique across databases:
 * "<order_id or customer_id>:<msg_id>". Falls back to "ntf_" + 16 hex digits of a digest of msg_id
 * when those would not fit a header line (control characters, longer than NOTIFY_KEY_MAX - 1). buf
 * must hold NOTIFY_KEY_MAX bytes. */
void notify_idempotency_key(const NotifyItem *n, char *buf, size_t cap);

/* The webhook body {"id","customer_id","order_id","status","message","at"} ("id" is "ntf_<msg_id>",
 * "order_id" null when there is none, "at" RFC 3339 UTC) as a malloc'ed NUL-terminated string handed
 * over in *ret. 0, -EINVAL (msg_id, customer_id, status or message missing) or -ENOMEM. */
int notify_webhook_body(const NotifyItem *n, char **ret);
