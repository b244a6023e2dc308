/* Writing the CQRS read model (schema readmodel: orders and deliveries, read by
 * the gateway) from order snapshots, many orders per statement. The
 * orchestrator writes each batch's sagas with its decisions; projector-rebuild
 * replays the archive through the same code. Rows change only for a newer
 * order version. Statements name tables without a schema: the connection's
 * search_path picks readmodel (or projector-rebuild's copy of it). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "food.pb-c.h"
#include "pg.h"

/* Pure rules. The read-model delivery status for an order in `order_status`:
 * COOKED -> OPEN, PICKED_UP -> PICKED_UP, DELIVERED and COMPLETED -> DELIVERED
 * (*creates = true: the row is upserted); CANCELLED and REFUSED -> CANCELLED
 * (*creates = false: only an existing row changes); any other status -> NULL
 * (no delivery row is touched). */
const char *readmodel_write_delivery_status(const char *order_status, bool *creates);
/* When the order was created, in ms since the epoch: its first history entry,
 * else its updated_at_ms, else `event_at_ms`. */
int64_t readmodel_write_created_at_ms(const Food__V1__Order *o, int64_t event_at_ms);

/* The rows of one batch; add each order once (its newest snapshot). */
typedef struct {
        PgArray o_id, o_customer, o_store, o_status, o_version, o_view, o_created, o_updated;
        PgArray d_id, d_order, d_store, d_status, d_rider, d_region, d_lat, d_lon, d_view, d_version, d_updated;
        PgArray c_id, c_status, c_view, c_version, c_updated;
        size_t n_orders, n_deliveries, n_cancels;
        /* statement parameters, filled by readmodel_write_calls */
        const char *vals[11];
        int lens[11], fmts[11];
        const char *d_vals[11];
        int d_lens[11], d_fmts[11];
        const char *c_vals[5];
        int c_lens[5], c_fmts[5];
} ReadmodelWrite;

void readmodel_write_init(ReadmodelWrite *w);
/* Adds the rows `o` implies (its order row, its delivery row if any), `at_ms`
 * standing for its update time when it has none. 0, -EINVAL (no view can be
 * built: not UTF-8) or -ENOMEM. */
int readmodel_write_add(ReadmodelWrite *w, const Food__V1__Order *o, int64_t at_ms);
/* Appends to `calls` (room for 3) the statements that write what was added;
 * returns how many, or -ENOMEM. `w` must outlive the calls' execution. */
int readmodel_write_calls(ReadmodelWrite *w, PgCall *calls);
void readmodel_write_free(ReadmodelWrite *w);
