/* The notification sender: a thread pool that pushes 'pending' notification rows to the webhook
 * provider (claimed in batches with FOR UPDATE SKIP LOCKED, leased while in flight), records sent /
 * retry-later / failed, and a maintenance thread that sheds the oldest pending rows beyond
 * NOTIFY_MAX_BACKLOG. It never touches the consumer loops: they only insert rows. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "food.pb-c.h"
#include "notification-delivery.h"
#include "service.h"

typedef struct {
        const char *webhook_url; /* NOTIFY_WEBHOOK_URL; "" disables the sender (rows are only the log) */
        const char *api_key;     /* NOTIFY_API_KEY: "Authorization: Bearer" when set */
        int64_t timeout_ms;      /* NOTIFY_TIMEOUT_MS: whole-request deadline of one webhook */
        int threads;             /* NOTIFY_THREADS: sender threads, each with its own PG connection */
        int batch;               /* NOTIFY_BATCH: rows claimed and sent concurrently per thread */
        bool webhook_batch;      /* NOTIFY_WEBHOOK_BATCH: those rows in one POST (the provider takes a list) */
        NotifyRetryPolicy retry; /* NOTIFY_RETRY_BASE_MS, NOTIFY_RETRY_MAX_MS, NOTIFY_MAX_ATTEMPTS */
        int64_t max_backlog;     /* NOTIFY_MAX_BACKLOG: pending rows kept; older ones beyond are shed */
        int64_t poll_ms;         /* NOTIFY_POLL_MS: how often rows not fed (a lost feed, a retry) are looked for */
} NotifySenderConfig;

typedef struct NotifySender NotifySender;

/* Reads the NOTIFY_* variables once (strings borrowed from the environment). 0, or -EINVAL after
 * logging the variable at fault. */
int notify_sender_config(NotifySenderConfig *c);

static inline bool notify_sender_enabled(const NotifySenderConfig *c) {
        return c->webhook_url && *c->webhook_url;
}

/* Registers the sender's metrics (sent, retried, failed, shed, backlog, in flight); once, before any
 * thread starts, whether the sender is enabled or not. */
void notify_sender_metrics_init(void);

/* Starts the sender and maintenance threads on `svc` (borrowed; must outlive the sender), which run
 * until notify_sender_stop or service_stopping. `cfg` is copied (its strings borrowed). 0, -EINVAL (bad URL or API
 * key), -EIO (TLS could not start) or -ENOMEM / -errno of pthread_create (logged). */
int notify_sender_start(NotifySender **ret, Service *svc, const NotifySenderConfig *cfg);

/* Asks the threads to stop, waits for them (a batch in flight finishes: at most timeout_ms) and frees.
 * NULL is fine. */
void notify_sender_stop(NotifySender *s);

/* Hands the sender rows just recorded ('pending'; borrowed, copied here): pushed at once by a
 * sender thread. When more than NOTIFY_MAX_BACKLOG wait in memory the rest stay for the sweep.
 * 0 or -ENOMEM. */
int notify_sender_feed(NotifySender *s, Food__V1__Notification *const *rows, size_t n);
