/* A bounded pool of PostgreSQL connections shared by every HTTP thread of the gateway: at most
 * `size` sessions whatever the number of threads or clients, a bounded wait for a free one, and a
 * broken session closed on return so that its slot connects afresh on next use. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "pg.h"

#define PGPOOL_SIZE_MAX 1024 /* GATEWAY_PG_POOL's upper bound */

typedef struct PgPool PgPool;

/* A pool of up to `size` (1..PGPOOL_SIZE_MAX) sessions to `conninfo` with search_path `schema`
 * (both copied), connected lazily; a borrower waits at most `wait_ms` (>= 0) for a free one. 0
 * with *ret, -EINVAL or -ENOMEM. No session is opened here. */
int pgpool_new(PgPool **ret, const char *conninfo, const char *schema, size_t size, int64_t wait_ms);
/* Closes every session; call once nothing is borrowed any more (after the HTTP threads stopped).
 * Accepts NULL. */
void pgpool_free(PgPool *p);

/* Borrows a session (hand it back with pgpool_release): an idle one, else a new one while fewer
 * than `size` exist, else waits up to `wait_ms` for one to come back. 0 with *ret; -ETIMEDOUT
 * when every session stayed busy for the whole wait; -ENOTCONN when a new session could not be
 * opened (PostgreSQL down: the slot stays free for the next try). Thread-safe. */
int pgpool_acquire(PgPool *p, Pg **ret);
/* Hands back a session borrowed from `p`: kept for the next borrower when usable, closed
 * otherwise (a broken socket, a reconnect that failed), which frees its slot. Thread-safe. */
void pgpool_release(PgPool *p, Pg *pg);

/* Registers gateway_pg_pool_{size,open,in_use}, gateway_pg_pool_waits_total and
 * gateway_pg_pool_timeouts_total; call once before the first pgpool_new. */
void pgpool_metrics_init(void);
