/* Log-bucketed latency histogram: exact below 128, 0.4 % relative error above. */
#include "bench-stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SUB_COUNT (UINT64_C(1) << HISTOGRAM_SUB_BITS)
/* Buckets 0..SUB_COUNT-1 hold the exact values; then SUB_COUNT buckets per
 * exponent e in [HISTOGRAM_SUB_BITS, HISTOGRAM_MAX_BITS). */
#define BUCKET_COUNT ((size_t)(SUB_COUNT * (1 + HISTOGRAM_MAX_BITS - HISTOGRAM_SUB_BITS)))

struct Histogram {
        uint64_t count, min, max;
        long double sum;
        uint64_t buckets[BUCKET_COUNT];
};

int histogram_new(Histogram **ret) {
        Histogram *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        histogram_reset(h);
        *ret = h;
        return 0;
}

void histogram_free(Histogram *h) {
        free(h);
}

void histogram_reset(Histogram *h) {
        memset(h, 0, sizeof(*h));
        h->min = UINT64_MAX;
}

static size_t bucket_of(uint64_t v) {
        if (v < SUB_COUNT)
                return (size_t)v;
        if (v >= UINT64_C(1) << HISTOGRAM_MAX_BITS)
                return BUCKET_COUNT - 1;
        unsigned e = 63u - (unsigned)__builtin_clzll(v); /* top bit, >= HISTOGRAM_SUB_BITS */
        uint64_t sub = (v >> (e - HISTOGRAM_SUB_BITS)) - SUB_COUNT;
        return (size_t)(SUB_COUNT + (e - HISTOGRAM_SUB_BITS) * SUB_COUNT + sub);
}

/* The lowest value of bucket `b` and its width. */
static void bucket_range(size_t b, uint64_t *low, uint64_t *width) {
        if (b < SUB_COUNT) {
                *low = b;
                *width = 1;
                return;
        }
        uint64_t k = (b - SUB_COUNT) / SUB_COUNT, sub = (b - SUB_COUNT) % SUB_COUNT;
        unsigned shift = (unsigned)k;
        *low = (SUB_COUNT + sub) << shift;
        *width = UINT64_C(1) << shift;
}

void histogram_record(Histogram *h, uint64_t value) {
        h->buckets[bucket_of(value)]++;
        h->count++;
        h->sum += (long double)value;
        if (value < h->min)
                h->min = value;
        if (value > h->max)
                h->max = value;
}

void histogram_merge(Histogram *dst, const Histogram *src) {
        if (src->count == 0)
                return;
        for (size_t i = 0; i < BUCKET_COUNT; i++)
                dst->buckets[i] += src->buckets[i];
        dst->count += src->count;
        dst->sum += src->sum;
        if (src->min < dst->min)
                dst->min = src->min;
        if (src->max > dst->max)
                dst->max = src->max;
}

uint64_t histogram_count(const Histogram *h) {
        return h->count;
}

uint64_t histogram_min(const Histogram *h) {
        return h->count ? h->min : 0;
}

uint64_t histogram_max(const Histogram *h) {
        return h->max;
}

double histogram_mean(const Histogram *h) {
        return h->count ? (double)(h->sum / (long double)h->count) : 0.0;
}

uint64_t histogram_percentile(const Histogram *h, double p) {
        if (h->count == 0)
                return 0;
        if (!(p > 0.0)) /* also NaN */
                return h->min;
        if (p >= 100.0)
                return h->max;
        /* Nearest rank; the small epsilon keeps 50 % of 10 at rank 5, not 6, despite rounding. */
        double r = ceil(p / 100.0 * (double)h->count - 1e-9);
        uint64_t rank = r < 1.0 ? 1 : (uint64_t)r;
        if (rank > h->count)
                rank = h->count;
        uint64_t seen = 0;
        for (size_t b = 0; b < BUCKET_COUNT; b++) {
                seen += h->buckets[b];
                if (seen < rank)
                        continue;
                uint64_t low, width;
                bucket_range(b, &low, &width);
                uint64_t v = low + (width - 1) / 2;
                if (v < h->min)
                        v = h->min;
                if (v > h->max)
                        v = h->max;
                return v;
        }
        return h->max;
}
