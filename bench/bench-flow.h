/* The order lifecycle each virtual customer runs (place → accept → cooking → cooked → pick → delivered → confirm)
 * and the measurement window around it. */
#pragma once
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench-options.h"
#include "bench-stats.h"

typedef enum {
        CALL_PLACE,
        CALL_ACCEPT,
        CALL_COOKING_STARTED,
        CALL_COOKING_FINISHED,
        CALL_PICK,
        CALL_DELIVERED,
        CALL_CONFIRM,
        CALL_COUNT,
} CallType;

/* "place", "accept", "cooking_started", ... */
const char *flow_call_name(CallType c);

#define FLOW_ERROR_KINDS_MAX 64
#define FLOW_ERROR_SAMPLE_MAX 240

/* Failed calls of one kind: same call, same HTTP status, same reason. */
typedef struct {
        CallType call;
        long status;                        /* HTTP status; 0 when no response arrived */
        char reason[64];                    /* "" for an unexpected status; transport error; "unexpected body" */
        uint64_t count;
        char sample[FLOW_ERROR_SAMPLE_MAX]; /* the first one's body (problem detail) or error message */
} FlowError;

typedef struct {
        Histogram *calls[CALL_COUNT]; /* latency (us) of successful calls that finished in the window */
        Histogram *order;             /* place sent (or scheduled, open loop) → confirm answered, us */
        uint64_t completed;           /* orders whose confirm succeeded in the window */
        uint64_t started;             /* orders placed in the window */
        uint64_t failed;              /* orders abandoned after a failed call in the window */
        FlowError errors[FLOW_ERROR_KINDS_MAX];
        size_t n_errors;
        uint64_t errors_total;        /* failed calls in the window (also those beyond FLOW_ERROR_KINDS_MAX) */
        uint64_t errors_outside;      /* failed calls during warm-up and drain (not in any figure) */
        double window_s;              /* measured wall time */
        bool interrupted;             /* the stop flag ended the window early */
        uint64_t unfinished;          /* orders still running when the drain time ran out */
        uint64_t backlog_max;         /* open loop: most scheduled orders waiting for a free customer */
        uint64_t dropped;             /* open loop: scheduled orders never started (backlog full or window over) */
        uint64_t http_sent;           /* bytes written to the gateway in the window (http_bytes), headers included */
        uint64_t http_received;       /* bytes read from it in the window */
        size_t n_stores, n_items;     /* catalog used */
        uint64_t seed;
        double speed_compute_ms;      /* the machine's speed before the load (bench-speed.h); 0: not measured */
        double speed_memory_ms;
} FlowResult;

typedef struct {
        /* Called at the start (begin = true) and at the end of the measured window, e.g. to sample /proc. */
        void (*on_window)(void *ctx, bool begin);
        void *ctx;
        /* Set (e.g. by SIGINT) to end the window early; may be NULL. */
        const volatile sig_atomic_t *stop;
} FlowHooks;

/* Allocates the histograms. 0 or -ENOMEM; flow_result_done in both cases. */
int flow_result_init(FlowResult *r);
void flow_result_done(FlowResult *r);

/* Fetches the catalog and the tokens, then runs warm-up, the measured window
 * and the drain as `o` says, filling `res`. Progress and setup failures are
 * written to stderr. 0, or negative errno when the setup failed (gateway
 * unreachable, no store with items, tokens refused) or the HTTP engine broke. */
int flow_run(const BenchOptions *o, const FlowHooks *hooks, FlowResult *res);
