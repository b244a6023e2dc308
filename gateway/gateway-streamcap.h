/* How many live event streams the gateway holds open: at most `total` in all and at most `per_key`
 * for any one key (a token's subject), so that one customer cannot take every stream of a replica. */
#pragma once
#include <stddef.h>

#define STREAMCAP_KEY_MAX 72     /* longer keys are refused (-EINVAL): a subject is at most 64 bytes */
#define STREAMCAP_TOTAL_FULL 1   /* streamcap_acquire: every stream of the gateway is taken */
#define STREAMCAP_KEY_FULL 2     /* streamcap_acquire: this key holds per_key streams already */

typedef struct StreamCap StreamCap;

/* A cap of `total` streams (1..1000000) and `per_key` streams per key (1..total). Its memory (one
 * entry per possible holder: `total`) is allocated here once. 0 with *ret, -EINVAL or -ENOMEM. */
int streamcap_new(StreamCap **ret, size_t total, size_t per_key);
/* Accepts NULL. */
void streamcap_free(StreamCap *c);

/* Takes one stream for `key` (NUL-terminated, borrowed): 0 (give it back with streamcap_release),
 * STREAMCAP_TOTAL_FULL (checked first), STREAMCAP_KEY_FULL, or -EINVAL for an empty or too long
 * key. Thread-safe. */
int streamcap_acquire(StreamCap *c, const char *key);
/* Gives back one stream of `key` taken by streamcap_acquire. Thread-safe. */
void streamcap_release(StreamCap *c, const char *key);

/* Streams held now, in all and by `key`. */
size_t streamcap_open(StreamCap *c);
size_t streamcap_held(StreamCap *c, const char *key);
