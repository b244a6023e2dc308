/* Random, time-ordered identifiers and the wall clock. */
#include "ids.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
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

int ids_traceparent(char *buf, size_t cap) {
        uint8_t rnd[24];
        size_t pos;
        if (cap < IDS_TRACEPARENT_LEN + 1)
                return -ENOSPC;
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                return -EIO;
        rnd[0] |= 1; /* an all-zero trace or span id is invalid */
        rnd[16] |= 1;
        pos = (size_t)snprintf(buf, cap, "00-");
        for (int i = 0; i < 24; i++) {
                pos += (size_t)snprintf(buf + pos, cap - pos, "%02x", rnd[i]);
                if (i == 15)
                        buf[pos++] = '-';
        }
        snprintf(buf + pos, cap - pos, "-01");
        return 0;
}

static bool all_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

bool ids_traceparent_valid(const char *s) {
        return s && strlen(s) == IDS_TRACEPARENT_LEN && s[2] == '-' && s[35] == '-' && s[52] == '-' &&
               all_hex(s, 2) && strncmp(s, "ff", 2) != 0 && all_hex(s + 3, 32) && all_hex(s + 36, 16) &&
               all_hex(s + 53, 2) && strspn(s + 3, "0") < 32 && strspn(s + 36, "0") < 16;
}
