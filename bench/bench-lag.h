/* JetStream consumer lag around the measured window, from the NATS monitoring endpoint (/jsz?consumers=true):
 * shows whether the asynchronous side (workers, projector) kept up with the orders the HTTP side completed. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LAG_CONSUMERS_MAX 64

typedef struct {
        char name[128];        /* "STREAM/consumer" */
        bool begun, ended;     /* seen in the first / second sample */
        uint64_t pending[2];   /* num_pending: in the stream, not yet delivered (begin, end) */
        uint64_t ack_pending[2];
        uint64_t delivered[2]; /* delivered.consumer_seq: deliveries, redeliveries included */
        uint64_t redelivered[2];
} LagFigure;

typedef struct Lag Lag;

/* `monitor_url` (borrowed), e.g. "http://127.0.0.1:8222". 0 with *ret, or -ENOMEM / -EIO. */
int lag_new(Lag **ret, const char *monitor_url);
void lag_free(Lag *l);

/* Fetches and records the consumers' state as the window's begin (or end). 0, or negative errno with a
 * message in err (err_cap bytes): unreachable, not JSON, not the expected shape. */
int lag_sample(Lag *l, bool begin, char *err, size_t err_cap);

/* Pure: records the consumers of a /jsz?consumers=true answer. 0 or -EINVAL (not JSON or no account_details). */
int lag_parse(Lag *l, const char *text, size_t len, bool begin);

/* The consumers seen, in the order first met; *ret borrowed. */
size_t lag_figures(const Lag *l, const LagFigure **ret);
