/* How fast this machine runs right now: two fixed pieces of work timed before the load, so that figures of
 * different runs (the machine's speed drifts by a third from hour to hour here) can be told apart from
 * changes of the code. A step is a xorshift64 step of x, then x ^= table[x & mask]: over a one-entry table
 * that is arithmetic and a load from the core's own cache; over a table larger than a core's caches, a load
 * from the shared cache or memory each step, which neighbours on a shared host slow down too. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SPEED_COMPUTE_STEPS 20000000ULL /* steps of one try over the one-entry table */
#define SPEED_MEMORY_STEPS 1000000ULL   /* steps of one try over the large table */
#define SPEED_TABLE (1u << 22)          /* entries of the large table (uint32_t: 16 MiB) */
#define SPEED_TRIES 3

/* `steps` steps from `seed` over `table` (`mask`: its size minus one, a power of two): the value they end at
 * (the work cannot be skipped). */
uint64_t speed_work(const uint32_t *table, size_t mask, uint64_t seed, uint64_t steps);

typedef struct {
        double compute_ms; /* the fastest try over the one-entry table, wall time (stolen time included) */
        double memory_ms;  /* the fastest try over the large table */
        uint64_t checksum; /* the end values of both, xored */
} SpeedFigures;

/* Times SPEED_TRIES tries of each on the calling thread. 0, or -ENOMEM (no large table). */
int speed_measure(SpeedFigures *ret);
