/* Random, time-ordered identifiers and the wall clock. */
#include "ids.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

int64_t ids_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ids_new(char *buf, size_t cap, const char *prefix) {
        uint8_t rnd[6];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                return -EIO;
        int n = snprintf(buf, cap, "%s_%012llx%02x%02x%02x%02x%02x%02x", prefix,
                         (unsigned long long)ids_now_ms() & 0xffffffffffffULL, rnd[0], rnd[1], rnd[2], rnd[3],
                         rnd[4], rnd[5]);
        return (n < 0 || (size_t)n >= cap) ? -ENOSPC : 0;
}
