/* Latency histogram for the load driver: log-bucketed (HDR-like), fixed size, pure code. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Values are unsigned integers (the driver records microseconds). Values
 * below 2^HISTOGRAM_SUB_BITS are kept exactly; above, each power of two is
 * split into 2^HISTOGRAM_SUB_BITS buckets, so a reported percentile is within
 * 1/2^(HISTOGRAM_SUB_BITS+1) (0.4 %) of a recorded value. Values at or above
 * 2^HISTOGRAM_MAX_BITS are counted in the top bucket (min/max/mean stay exact). */
#define HISTOGRAM_SUB_BITS 7
#define HISTOGRAM_MAX_BITS 40 /* 2^40 us: about 12.7 days */

typedef struct Histogram Histogram;

/* Allocates an empty histogram into *ret. 0 or -ENOMEM (*ret untouched). */
int histogram_new(Histogram **ret);
/* Accepts NULL. */
void histogram_free(Histogram *h);
void histogram_reset(Histogram *h);

void histogram_record(Histogram *h, uint64_t value);
/* Adds every sample of `src` (borrowed) to `dst`. */
void histogram_merge(Histogram *dst, const Histogram *src);

uint64_t histogram_count(const Histogram *h);
/* 0 for an empty histogram. */
uint64_t histogram_min(const Histogram *h);
uint64_t histogram_max(const Histogram *h);
double histogram_mean(const Histogram *h);

/* The nearest-rank percentile: the value of the sample of rank
 * ceil(p/100 * count) (1-based) in sorted order, reported as the middle of
 * its bucket and clamped to [min, max]. p <= 0 gives min, p >= 100 max;
 * an empty histogram gives 0. */
uint64_t histogram_percentile(const Histogram *h, double p);
