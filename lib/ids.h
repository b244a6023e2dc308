/* Identifiers and clocks: random subject-safe ids, wall-clock milliseconds. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes "<prefix>_" + 12 hex digits of ms time + 12 random hex digits
 * (sortable by creation, safe as a NATS subject token). cap >= strlen(prefix)+26. */
int ids_new(char *buf, size_t cap, const char *prefix);
int64_t ids_now_ms(void);

/* W3C trace context: a new sampled "00-<32 hex trace id>-<16 hex span id>-01"
 * (cap >= 56), and whether a header value has that shape (any flags). */
#define IDS_TRACEPARENT_LEN 55
int ids_traceparent(char *buf, size_t cap);
bool ids_traceparent_valid(const char *s);
