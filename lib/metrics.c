/* Fixed registry of process metrics and their Prometheus text rendering. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX 128

static Metric metrics[METRICS_MAX];
static size_t n_metrics;

static Metric *metrics_register(const char *name, const char *help, const char *type) {
        if (n_metrics == METRICS_MAX)
                abort(); /* a programming error: raise METRICS_MAX */
        Metric *m = &metrics[n_metrics++];
        m->name = name;
        m->help = help;
        m->type = type;
        atomic_init(&m->value, 0);
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

size_t metrics_render(char *buf, size_t cap) {
        size_t pos = 0;
        buf[0] = 0;
        for (size_t i = 0; i < n_metrics && pos + 1 < cap; i++) {
                const Metric *m = &metrics[i];
                size_t fl = family_len(m);
                int n;
                /* HELP/TYPE once per family: series of one family are registered together. */
                if (i == 0 || family_len(&metrics[i - 1]) != fl || strncmp(metrics[i - 1].name, m->name, fl) != 0)
                        n = snprintf(buf + pos, cap - pos, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)fl, m->name,
                                     m->help, (int)fl, m->name, m->type);
                else
                        n = 0;
                if (n < 0 || (size_t)n >= cap - pos)
                        break;
                pos += (size_t)n;
                n = snprintf(buf + pos, cap - pos, "%s %lld\n", m->name,
                             (long long)atomic_load_explicit(&m->value, memory_order_relaxed));
                if (n < 0 || (size_t)n >= cap - pos)
                        break;
                pos += (size_t)n;
        }
        return pos;
}
