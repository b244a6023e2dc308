/* food-bench's report: the figures of a run as plain text or as one JSON object. */
#pragma once
#include <stdio.h>

#include "bench-flow.h"
#include "bench-options.h"
#include "bench-procs.h"

/* Writes the report of `res` to `out`. `procs` (borrowed) is NULL when the
 * /proc figures are missing (window never began, or /proc unreadable).
 * 0 or -ENOMEM / -EIO. */
int report_text(FILE *out, const BenchOptions *o, const FlowResult *res, const Procs *procs);
int report_json(FILE *out, const BenchOptions *o, const FlowResult *res, const Procs *procs);
