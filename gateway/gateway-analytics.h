/* GET /analytics/events (admin): the analytics archive (JetStream stream FOOD_ORDER, every order
 * status event for 365 days) as NDJSON, one event a line, oldest first; ?since= a stream sequence
 * returned earlier (events after it) or an RFC 3339 time (events at or after it); ?limit= (10000,
 * at most 100000). Each line's "seq" is the position to resume from. */
#pragma once
#include "gateway-routes.h"

#define ANALYTICS_MAX_EXPORTS 4 /* concurrent exports per gateway (each holds a thread); then 503 */

void analytics_events(Request *rq);
