/* food-bench's report: the figures of a run as plain text or as one JSON object. */
#pragma once
#include <stdio.h>

#include "bench-flow.h"
#include "bench-lag.h"
#include "bench-options.h"
#include "bench-pgstat.h"
#include "bench-procs.h"
#include "bench-wire.h"

/* Writes the report of `res` to `out`. `procs` (borrowed) is NULL when the
 * /proc figures are missing (window never began, or /proc unreadable), `lag`
 * when the JetStream figures are (monitoring off or unreachable), `pg` when
 * the PostgreSQL ones are (--database off, or unreachable at a window edge).
 * `wire` (borrowed, may be NULL) holds the NATS and PostgreSQL wire bytes,
 * each part present only when sampled at both edges; the HTTP bytes are in
 * `res`. 0 or -ENOMEM / -EIO. */
int report_text(FILE *out, const BenchOptions *o, const FlowResult *res, const Procs *procs, const Lag *lag,
                const PgStat *pg, const Wire *wire);
int report_json(FILE *out, const BenchOptions *o, const FlowResult *res, const Procs *procs, const Lag *lag,
                const PgStat *pg, const Wire *wire);
