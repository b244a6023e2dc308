/* Random, time-ordered identifiers and the wall clock. */
#include "ids.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int64_t ids_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ids_monotonic_ms(void) {
        return ids_monotonic_us() / 1000;
}

int64_t ids_monotonic_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec ids_deadline_us(clockid_t clock, int64_t in_us) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        ts.tv_sec += in_us / 1000000;
        ts.tv_nsec += (long)(in_us % 1000000) * 1000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}

struct timespec ids_deadline(clockid_t clock, int64_t in_ms) {
        return ids_deadline_us(clock, in_ms * 1000);
}

/* Random bytes from the kernel, taken 256 at a time per thread: ids are made several times per order
 * and a getrandom call each was a fifth of the orchestrator's system calls. A forked child never
 * hands out its parent's remaining bytes. */
#define IDS_POOL 256
static _Thread_local uint8_t ids_pool[IDS_POOL];
static _Thread_local size_t ids_pool_left;
static pthread_once_t ids_once = PTHREAD_ONCE_INIT;

static void ids_forget_pool(void) {
        ids_pool_left = 0;
}

static void ids_register_fork(void) {
        (void)pthread_atfork(NULL, NULL, ids_forget_pool);
}

static int ids_random(uint8_t *out, size_t n) {
        pthread_once(&ids_once, ids_register_fork);
        while (n > 0) {
                if (ids_pool_left == 0) {
                        /* At most 256 bytes a call: never cut short once the pool is seeded; EINTR retried. */
                        for (size_t got = 0; got < IDS_POOL;) {
                                ssize_t k = getrandom(ids_pool + got, IDS_POOL - got, 0);
                                if (k < 0 && errno != EINTR)
                                        return -EIO;
                                got += k > 0 ? (size_t)k : 0;
                        }
                        ids_pool_left = IDS_POOL;
                }
                size_t k = n < ids_pool_left ? n : ids_pool_left;
                uint8_t *from = ids_pool + IDS_POOL - ids_pool_left;
                memcpy(out, from, k);
                memset(from, 0, k); /* handed out once */
                ids_pool_left -= k;
                out += k;
                n -= k;
        }
        return 0;
}

static char *ids_hex(char *to, const uint8_t *b, size_t n) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                *to++ = digits[b[i] >> 4];
                *to++ = digits[b[i] & 15];
        }
        return to;
}

static int ids_make(char *buf, size_t cap, const char *prefix, int selector) {
        uint8_t rnd[6];
        if (ids_random(rnd, sizeof(rnd)) < 0)
                return -EIO;
        if (selector >= 0)
                rnd[0] = (uint8_t)selector;
        int n = snprintf(buf, cap, "%s_%012llx%02x%02x%02x%02x%02x%02x", prefix,
                         (unsigned long long)ids_now_ms() & 0xffffffffffffULL, rnd[0], rnd[1], rnd[2], rnd[3],
                         rnd[4], rnd[5]);
        return (n < 0 || (size_t)n >= cap) ? -ENOSPC : 0;
}

int ids_new(char *buf, size_t cap, const char *prefix) {
        return ids_make(buf, cap, prefix, -1);
}

int ids_new_selected(char *buf, size_t cap, const char *prefix, unsigned selector) {
        return ids_make(buf, cap, prefix, (int)(selector & 0xff));
}

static uint32_t fnv1a(uint32_t h, const char *s) {
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 16777619u;
        return h;
}

unsigned ids_selector(const char *a, const char *b) {
        uint32_t h = fnv1a(2166136261u, a ? a : "");
        if (b)
                h = fnv1a(h * 16777619u, b); /* the separator: "ab" + "c" differs from "a" + "bc" */
        return (h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24)) & 0xff;
}

static int hex_digit(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int ids_shard(const char *id) {
        const char *u = id ? strchr(id, '_') : NULL;
        /* <prefix>_ + 12 hex of time + 12 hex of which the first two are the selector */
        if (u && strlen(u + 1) == 24 && strspn(u + 1, "0123456789abcdef") == 24)
                return (hex_digit(u[13]) * 16 + hex_digit(u[14])) % IDS_SHARDS;
        return (int)(ids_selector(id, NULL) % IDS_SHARDS);
}

int ids_uuid7(char *buf, size_t cap) {
        uint8_t b[16];
        uint64_t ms = (uint64_t)ids_now_ms();
        if (cap < 37)
                return -ENOSPC;
        if (ids_random(b + 6, 10) < 0)
                return -EIO;
        for (int i = 0; i < 6; i++)
                b[i] = (uint8_t)(ms >> (40 - 8 * i));
        b[6] = (uint8_t)(0x70 | (b[6] & 0x0f)); /* version 7 */
        b[8] = (uint8_t)(0x80 | (b[8] & 0x3f)); /* variant 10 */
        char *p = ids_hex(buf, b, 4);
        *p++ = '-';
        p = ids_hex(p, b + 4, 2);
        *p++ = '-';
        p = ids_hex(p, b + 6, 2);
        *p++ = '-';
        p = ids_hex(p, b + 8, 2);
        *p++ = '-';
        p = ids_hex(p, b + 10, 6);
        *p = '\0';
        return 0;
}

int ids_traceparent(char *buf, size_t cap) {
        uint8_t rnd[24];
        if (cap < IDS_TRACEPARENT_LEN + 1)
                return -ENOSPC;
        if (ids_random(rnd, sizeof(rnd)) < 0)
                return -EIO;
        rnd[0] |= 1; /* an all-zero trace or span id is invalid */
        rnd[16] |= 1;
        memcpy(buf, "00-", 3);
        char *p = ids_hex(buf + 3, rnd, 16);
        *p++ = '-';
        p = ids_hex(p, rnd + 16, 8);
        memcpy(p, "-01", 4);
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

bool ids_card_token_valid(const char *s) {
        size_t n = 0;
        if (!s)
                return false;
        for (; s[n]; n++)
                if (n == IDS_CARD_TOKEN_MAX || (unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
                        return false;
        return n > 0;
}
