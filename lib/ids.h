/* Identifiers and clocks: random subject-safe ids, wall-clock milliseconds. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Writes "<prefix>_" + 12 hex digits of ms time + 12 random hex digits
 * (sortable by creation, safe as a NATS subject token). cap >= strlen(prefix)+26.
 * The first random byte is the id's shard selector (ids_shard). */
int ids_new(char *buf, size_t cap, const char *prefix);
/* The same with the shard selector byte given (0..255), e.g. ids_selector() of
 * an idempotency key, so that retries of one request land on one shard. */
int ids_new_selected(char *buf, size_t cap, const char *prefix, unsigned selector);

/* The orchestrator's shards: every saga belongs to one, by its order id. A
 * deployment's shard count is fixed (it divides 256). */
#define IDS_SHARDS 16
/* A selector byte from one or two strings (FNV-1a; b may be NULL). */
unsigned ids_selector(const char *a, const char *b);
/* The shard of `id` (0..IDS_SHARDS-1): the selector byte of an id made by
 * ids_new, else ids_selector(id) (any other string, e.g. a customer id). */
int ids_shard(const char *id);

/* A UUIDv7 (time-ordered, 74 random bits) as 36 characters: ids that are never
 * reused, even when a database forgets commits it confirmed. cap >= 37. */
int ids_uuid7(char *buf, size_t cap);
int64_t ids_now_ms(void);
/* CLOCK_MONOTONIC in milliseconds and microseconds: for durations and deadlines. */
int64_t ids_monotonic_ms(void);
int64_t ids_monotonic_us(void);
/* The time `in_ms` from now on `clock` (CLOCK_REALTIME for pthread_cond_timedwait's default): a deadline. */
struct timespec ids_deadline(clockid_t clock, int64_t in_ms);
/* The same `in_us` microseconds from now. */
struct timespec ids_deadline_us(clockid_t clock, int64_t in_us);

/* W3C trace context: a new sampled "00-<32 hex trace id>-<16 hex span id>-01"
 * (cap >= 56), and whether a header value has that shape (any flags). */
#define IDS_TRACEPARENT_LEN 55
int ids_traceparent(char *buf, size_t cap);
bool ids_traceparent_valid(const char *s);

/* A payment card token as the platform carries it end to end (gateway, saga row, payment worker,
 * provider): 1..IDS_CARD_TOKEN_MAX bytes of printable ASCII (no space), the provider's own token
 * format. Longer or other text is refused at each boundary, never cut. */
#define IDS_CARD_TOKEN_MAX 128
bool ids_card_token_valid(const char *s);
