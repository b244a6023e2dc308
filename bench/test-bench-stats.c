/* Unit test of the latency histogram: percentiles of known data, exact small values, bounded error, merge. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench-stats.h"
#include "test-check.h"

/* Checks that percentile p is `expected` within `tolerance` (relative, 0 = exact). */
static void check_percentile(const Histogram *h, double p, uint64_t expected, double tolerance, const char *what) {
        uint64_t got = histogram_percentile(h, p);
        double diff = got > expected ? (double)(got - expected) : (double)(expected - got);
        CHECK(diff <= tolerance * (double)expected, "%s: p%g expected %" PRIu64 " (tolerance %.2f%%), got %" PRIu64,
              what, p, expected, tolerance * 100.0, got);
}

/* The error bound of the bucketing: half a bucket of 1/128 of the value. */
#define REL_ERR (1.0 / 256.0)

int main(void) {
        Histogram *h = NULL, *g = NULL;
        if (histogram_new(&h) < 0 || histogram_new(&g) < 0) {
                printf("FAIL: histogram_new\n");
                return 1;
        }

        /* Empty: everything 0. */
        CHECK(histogram_count(h) == 0, "empty count: expected 0, got %" PRIu64, histogram_count(h));
        check_percentile(h, 50, 0, 0, "empty");
        CHECK(histogram_min(h) == 0 && histogram_max(h) == 0, "empty min/max: expected 0/0, got %" PRIu64 "/%" PRIu64,
              histogram_min(h), histogram_max(h));

        /* 1..100 (below 128: exact), recorded in reverse order. */
        for (uint64_t v = 100; v >= 1; v--)
                histogram_record(h, v);
        check_percentile(h, 50, 50, 0, "1..100");
        check_percentile(h, 90, 90, 0, "1..100");
        check_percentile(h, 99, 99, 0, "1..100");
        check_percentile(h, 99.9, 100, 0, "1..100");
        check_percentile(h, 100, 100, 0, "1..100");
        check_percentile(h, 0, 1, 0, "1..100");
        check_percentile(h, 1, 1, 0, "1..100");
        CHECK(histogram_mean(h) > 50.49 && histogram_mean(h) < 50.51, "1..100 mean: expected 50.5, got %f",
              histogram_mean(h));

        /* Ten samples: nearest rank gives p50 = 5th value, p90 = 9th, p99 = 10th. */
        histogram_reset(h);
        for (uint64_t v = 1; v <= 10; v++)
                histogram_record(h, v * 10);
        check_percentile(h, 50, 50, 0, "10..100");
        check_percentile(h, 90, 90, 0, "10..100");
        check_percentile(h, 99, 100, 0, "10..100");

        /* 1..100000 us: large values within the bucket error. */
        histogram_reset(h);
        for (uint64_t v = 1; v <= 100000; v++)
                histogram_record(h, v);
        check_percentile(h, 50, 50000, REL_ERR, "1..100000");
        check_percentile(h, 90, 90000, REL_ERR, "1..100000");
        check_percentile(h, 99, 99000, REL_ERR, "1..100000");
        check_percentile(h, 99.9, 99900, REL_ERR, "1..100000");
        CHECK(histogram_max(h) == 100000, "1..100000 max: expected 100000 (exact), got %" PRIu64, histogram_max(h));
        CHECK(histogram_count(h) == 100000, "1..100000 count: expected 100000, got %" PRIu64, histogram_count(h));

        /* A skewed distribution: 990 fast (1 ms), 10 slow (250 ms): p99 is still fast, p99.1 slow. */
        histogram_reset(h);
        for (int i = 0; i < 990; i++)
                histogram_record(h, 1000);
        for (int i = 0; i < 10; i++)
                histogram_record(h, 250000);
        check_percentile(h, 50, 1000, REL_ERR, "skewed");
        check_percentile(h, 99, 1000, REL_ERR, "skewed");
        check_percentile(h, 99.1, 250000, REL_ERR, "skewed");
        check_percentile(h, 100, 250000, 0, "skewed");

        /* A single sample is every percentile, exactly (clamped to min/max). */
        histogram_reset(h);
        histogram_record(h, 123456789);
        check_percentile(h, 50, 123456789, 0, "single");
        check_percentile(h, 99, 123456789, 0, "single");

        /* Beyond the range: counted, max exact, percentile clamped to max. */
        histogram_reset(h);
        histogram_record(h, UINT64_C(1) << 50);
        check_percentile(h, 50, UINT64_C(1) << 50, 0, "huge");

        /* Merge: two halves give the same percentiles as the whole. */
        histogram_reset(h);
        histogram_reset(g);
        for (uint64_t v = 1; v <= 2000; v++)
                histogram_record(v % 2 ? h : g, v * 7);
        histogram_merge(h, g);
        CHECK(histogram_count(h) == 2000, "merge count: expected 2000, got %" PRIu64, histogram_count(h));
        check_percentile(h, 50, 7000, REL_ERR, "merged");
        check_percentile(h, 99, 13860, REL_ERR, "merged");
        CHECK(histogram_min(h) == 7 && histogram_max(h) == 14000,
              "merged min/max: expected 7/14000, got %" PRIu64 "/%" PRIu64, histogram_min(h), histogram_max(h));

        /* Every value up to 2^20 lands in a bucket that reports it within the bound. */
        for (uint64_t v = 1; v < (UINT64_C(1) << 20); v = v * 3 / 2 + 1) {
                histogram_reset(h);
                /* 0 and a huge value around it so that the clamp to min/max does not hide the bucket. */
                histogram_record(h, 0);
                histogram_record(h, v);
                histogram_record(h, v);
                histogram_record(h, v + 1000000000);
                uint64_t got = histogram_percentile(h, 50);
                double diff = got > v ? (double)(got - v) : (double)(v - got);
                CHECK(diff <= REL_ERR * (double)v, "bucket of %" PRIu64 ": expected %" PRIu64 " within 0.4%%, got %" PRIu64,
                      v, v, got);
        }

        histogram_free(h);
        histogram_free(g);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
