/* Process-wide Prometheus counters and gauges, rendered as text exposition. */
#pragma once
#include <stdatomic.h>
#include <stddef.h>

typedef struct {
        const char *name;   /* full series name, labels included: foo_total{kind="x"} */
        const char *help;
        const char *type;   /* "counter" or "gauge" */
        atomic_llong value;
} Metric;

/* Registers and returns a metric that lives for the whole process (thread-safe:
 * any thread, while /metrics may be rendered). Names and help strings are
 * borrowed (literals, or strings that live as long). */
Metric *metrics_counter(const char *name, const char *help);
Metric *metrics_gauge(const char *name, const char *help);
/* One series of a histogram family: NAME_bucket{le="..."} (cumulative), NAME_sum
 * and NAME_count, registered one after the other; rendered under one
 * "# TYPE NAME histogram". */
Metric *metrics_histogram_series(const char *name, const char *help);

static inline void metric_add(Metric *m, long long v) {
        atomic_fetch_add_explicit(&m->value, v, memory_order_relaxed);
}
static inline void metric_set(Metric *m, long long v) {
        atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

/* Renders every metric into buf; returns the length written (truncated at cap-1). */
size_t metrics_render(char *buf, size_t cap);
