/* The machine's speed before a run: see bench-speed.h. */
#include "bench-speed.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define SPEED_SEED 0x9E3779B97F4A7C15ULL

static uint64_t xorshift(uint64_t x) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
}

uint64_t speed_work(const uint32_t *table, size_t mask, uint64_t seed, uint64_t steps) {
        uint64_t x = seed ? seed : 1;
        for (uint64_t i = 0; i < steps; i++) {
                x = xorshift(x);
                x ^= table[x & mask];
        }
        return x;
}

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The fastest of SPEED_TRIES runs of `steps` steps; `*end` gets their end value. */
static double fastest(const uint32_t *table, size_t mask, uint64_t steps, uint64_t *end) {
        double best = 0;
        for (int i = 0; i < SPEED_TRIES; i++) {
                double begun = now_ms();
                *end = speed_work(table, mask, SPEED_SEED, steps);
                double took = now_ms() - begun;
                if (i == 0 || took < best)
                        best = took;
        }
        return best;
}

int speed_measure(SpeedFigures *ret) {
        static const uint32_t one[1] = {0x5bd1e995u};
        uint32_t *table = malloc(SPEED_TABLE * sizeof(*table));
        uint64_t a, b, x = SPEED_SEED;
        if (!table)
                return -ENOMEM;
        for (size_t i = 0; i < SPEED_TABLE; i++) {
                x = xorshift(x);
                table[i] = (uint32_t)(x >> 32);
        }
        ret->compute_ms = fastest(one, 0, SPEED_COMPUTE_STEPS, &a);
        ret->memory_ms = fastest(table, SPEED_TABLE - 1, SPEED_MEMORY_STEPS, &b);
        ret->checksum = a ^ b;
        free(table);
        return 0;
}
