/* Fixed registry of process metrics and their Prometheus text rendering. */
#include "metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX 128

static Metric metrics[METRICS_MAX];
/* Entries below it are complete: registration fills one under the lock, then publishes it. */
static atomic_size_t n_metrics;
static pthread_mutex_t register_lock = PTHREAD_MUTEX_INITIALIZER;

static Metric *metrics_register(const char *name, const char *help, const char *type) {
        pthread_mutex_lock(&register_lock);
        size_t n = atomic_load_explicit(&n_metrics, memory_order_relaxed);
        if (n == METRICS_MAX)
                abort(); /* a programming error: raise METRICS_MAX */
        Metric *m = &metrics[n];
        m->name = name;
        m->help = help;
        m->type = type;
        atomic_init(&m->value, 0);
        atomic_store_explicit(&n_metrics, n + 1, memory_order_release);
        pthread_mutex_unlock(&register_lock);
        return m;
}

Metric *metrics_counter(const char *name, const char *help) {
        return metrics_register(name, help, "counter");
}

Metric *metrics_gauge(const char *name, const char *help) {
        return metrics_register(name, help, "gauge");
}

Metric *metrics_histogram_series(const char *name, const char *help) {
        return metrics_register(name, help, "histogram");
}

/* Length of the family name: the series name up to its label set, without a
 * histogram series' _bucket/_sum/_count suffix. */
static size_t family_len(const Metric *m) {
        static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
        const char *brace = strchr(m->name, '{');
        size_t n = brace ? (size_t)(brace - m->name) : strlen(m->name);
        if (strcmp(m->type, "histogram") == 0)
                for (size_t i = 0; i < 3; i++) {
                        size_t k = strlen(suffixes[i]);
                        if (n > k && strncmp(m->name + n - k, suffixes[i], k) == 0)
                                return n - k;
                }
        return n;
}

static bool same_family(const Metric *a, size_t a_len, const Metric *b) {
        return family_len(b) == a_len && strncmp(a->name, b->name, a_len) == 0;
}

size_t metrics_render(char *buf, size_t cap) {
        size_t pos = 0, count = atomic_load_explicit(&n_metrics, memory_order_acquire);
        bool *done = calloc(count ? count : 1, sizeof(bool)), full = false;
        buf[0] = 0;
        if (!done)
                return 0;
        /* A family's series together under one HELP/TYPE, wherever threads registered them. The
         * output ends after the last line that fits whole. */
        for (size_t i = 0; i < count && !full; i++) {
                if (done[i])
                        continue;
                size_t fl = family_len(&metrics[i]);
                int n = snprintf(buf + pos, cap - pos, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)fl, metrics[i].name,
                                 metrics[i].help, (int)fl, metrics[i].name, metrics[i].type);
                full = n < 0 || (size_t)n >= cap - pos;
                if (!full)
                        pos += (size_t)n;
                for (size_t j = i; j < count && !full; j++) {
                        const Metric *m = &metrics[j];
                        if (done[j] || !same_family(&metrics[i], fl, m))
                                continue;
                        done[j] = true;
                        n = snprintf(buf + pos, cap - pos, "%s %lld\n", m->name,
                                     (long long)atomic_load_explicit(&m->value, memory_order_relaxed));
                        full = n < 0 || (size_t)n >= cap - pos;
                        if (!full)
                                pos += (size_t)n;
                }
        }
        buf[pos] = 0;
        free(done);
        return pos;
}
