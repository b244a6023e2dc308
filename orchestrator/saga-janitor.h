/* The writer's housework on a session and thread of its own (saga-janitor.c): expired status events
 * and idempotency keys of its shards deleted, the stuck-saga gauge refreshed. Private to the
 * orchestrator. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "orchestrator.h"

typedef struct Janitor Janitor;

/* Starts the thread; `owned` (bit s: shard s) says whose events it deletes, read at each prune.
 * 0 or negative errno. */
int janitor_start(Orchestrator *o, const _Atomic uint32_t *owned, Janitor **ret);
/* Stops it: waits for a statement in flight a second at most. false: a paused PostgreSQL holds it
 * longer, and it is left to the ending process (what `owned` points to must then stay allocated). */
bool janitor_stop(Janitor *j);
