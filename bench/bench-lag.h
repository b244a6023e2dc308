/* JetStream around the measured window, from the NATS monitoring endpoint (/jsz?consumers=true): consumer lag
 * (whether the asynchronous side, workers and projector, kept up with the orders the HTTP side completed) and
 * the messages stored and delivered in the window. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LAG_CONSUMERS_MAX 64
#define LAG_STREAMS_MAX 64

typedef struct {
        char name[128];        /* "STREAM/consumer" */
        bool begun, ended;     /* seen in the first / second sample */
        uint64_t pending[2];   /* num_pending: in the stream, not yet delivered (begin, end) */
        uint64_t ack_pending[2];
        uint64_t delivered[2]; /* delivered.consumer_seq: deliveries, redeliveries included */
        uint64_t redelivered[2];
} LagFigure;

typedef struct {
        char name[128];
        bool begun, ended;   /* seen in the first / second sample */
        uint64_t last_seq[2]; /* state.last_seq: sequence of the last message stored (begin, end) */
} LagStream;

/* What JetStream did in the window, summed over streams and consumers. */
typedef struct {
        uint64_t published; /* messages stored: the streams' last_seq deltas */
        uint64_t delivered; /* deliveries: the consumers' delivered.consumer_seq deltas, redeliveries included */
} LagWork;

typedef struct Lag Lag;

/* `monitor_url` (borrowed), e.g. "http://127.0.0.1:8222". 0 with *ret, or -ENOMEM / -EIO. */
int lag_new(Lag **ret, const char *monitor_url);
void lag_free(Lag *l);

/* Fetches and records the consumers' state as the window's begin (or end). 0, or negative errno with a
 * message in err (err_cap bytes): unreachable, not JSON, not the expected shape. */
int lag_sample(Lag *l, bool begin, char *err, size_t err_cap);

/* Pure: records the streams and consumers of a /jsz?consumers=true answer. 0 or -EINVAL (not JSON or no
 * account_details). */
int lag_parse(Lag *l, const char *text, size_t len, bool begin);

/* The consumers seen, in the order first met; *ret borrowed. */
size_t lag_figures(const Lag *l, const LagFigure **ret);

/* The streams seen, in the order first met; *ret borrowed. */
size_t lag_streams(const Lag *l, const LagStream **ret);

/* Pure: one counter's growth over the window. Seen in both samples: end - begin, or end when it went back (the
 * stream or consumer was re-created, counting from 0 again); only at the end (created in the window): end; only
 * at the begin (deleted): 0. */
uint64_t lag_delta(bool begun, bool ended, uint64_t begin, uint64_t end);

/* Pure: the window's publishes and deliveries from both samples (lag_delta of each stream and consumer). */
void lag_work(const Lag *l, LagWork *ret);
