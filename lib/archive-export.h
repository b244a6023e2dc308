/* The analytics archive's pure parts: where an export starts (`since`), and one archived
 * OrderStatusChanged as an NDJSON line. Shared by the gateway (GET /analytics/events) and
 * food-export. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "food.pb-c.h"

#define EXPORT_LIMIT_DEFAULT 10000
#define EXPORT_LIMIT_MAX 100000

/* Where an export starts: after stream sequence `after_seq`, or (by_time) at events whose time
 * is at or after `since_ms`. The zero value means "from the first archived event". */
typedef struct {
        bool by_time;
        uint64_t after_seq;
        int64_t since_ms;
} ExportStart;

/* Parses `since`: a stream sequence returned earlier (decimal digits: events after it) or an
 * RFC 3339 time ("2024-05-01T12:00:00Z", "...T12:00:00.123+09:00": events at or after it).
 * NULL or "" is the start of the archive. 0, or -EINVAL for anything else. */
int export_parse_since(const char *since, ExportStart *ret);

/* Parses the `limit` query: NULL/"" -> EXPORT_LIMIT_DEFAULT, 1..EXPORT_LIMIT_MAX. 0 or -EINVAL. */
int export_parse_limit(const char *text, int64_t *ret);

/* One NDJSON line (with its trailing '\n') for the archived event `ev` at stream sequence `seq`:
 * {"seq","order_id","type","status","previous_status","at","customer_id","store_id","rider_id",
 *  "total","amount_paid","amount_refunded"}; `type` is the message's Food-Type (borrowed);
 * empty previous_status / rider_id are null. Returns a malloc'ed string (caller frees) or NULL
 * when `ev` has no order or memory ran out. */
char *export_line(uint64_t seq, const char *type, const Food__V1__OrderStatusChanged *ev);
