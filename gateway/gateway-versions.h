/* The newest order version this gateway process has handed to a client, per
 * order id, in a small fixed-size table: GET /orders/{id} waits for the read
 * model to catch up with it so that a client never sees its own write undone. */
#pragma once
#include <stdint.h>

#define VERSIONS_SLOTS 4096 /* recent orders remembered; older ones are overwritten */

typedef struct Versions Versions;

int versions_new(Versions **ret);
void versions_free(Versions *v);
/* Records `version` for `order_id` unless a higher one is recorded. */
void versions_note(Versions *v, const char *order_id, int64_t version);
/* The recorded version, or 0 when the order is not (or no longer) in the table. */
int64_t versions_get(Versions *v, const char *order_id);
