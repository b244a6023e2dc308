/* Identifiers and clocks: random subject-safe ids, wall-clock milliseconds. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Writes "<prefix>_" + 12 hex digits of ms time + 12 random hex digits
 * (sortable by creation, safe as a NATS subject token). cap >= strlen(prefix)+26. */
int ids_new(char *buf, size_t cap, const char *prefix);
int64_t ids_now_ms(void);
