/* Versioned upserts of the read model from order status events. */
#include "projector-handler.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "food.pb-c.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "order-check.h"
#include "order-json.h"
#include "projector-view.h"

static Metric *m_applied, *m_stale;

#define PROJECTOR_LIFECYCLE \
        "ARRAY['PAYMENT_PENDING', 'PAID', 'ACCEPTED', 'COOKING', 'COOKED', 'PICKED_UP', 'DELIVERED']"

static const PgStmt st_order = {
        "projector_order",
        "INSERT INTO orders (id, customer_id, store_id, status, version, view, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5::bigint, $6::jsonb, to_timestamp($7::bigint / 1000.0),"
        " to_timestamp($8::bigint / 1000.0))"
        " ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id, store_id = EXCLUDED.store_id,"
        " status = EXCLUDED.status, version = EXCLUDED.version, view = EXCLUDED.view, updated_at = EXCLUDED.updated_at"
        " WHERE orders.version < EXCLUDED.version AND (orders.status = EXCLUDED.status OR"
        /* never backwards along the lifecycle, never out of a terminal status (order_check_transition) */
        " (orders.status NOT IN ('COMPLETED', 'REJECTED', 'REFUSED', 'CANCELLED') AND"
        " coalesce(array_position(" PROJECTOR_LIFECYCLE ", EXCLUDED.status), 99) >="
        " coalesce(array_position(" PROJECTOR_LIFECYCLE ", orders.status), 0)))"};

/* The version the read model holds for an order (rare path: an event that changed nothing). */
static const PgStmt st_order_version = {"projector_order_version", "SELECT version FROM orders WHERE id = $1"};

static const PgStmt st_delivery_upsert = {
        "projector_delivery_upsert",
        "INSERT INTO deliveries (id, order_id, store_id, status, rider_id, region, lat, lon, view, version, updated_at)"
        " VALUES ($1, $2, $3, $4, nullif($5, ''), nullif($6, ''), $7::float8, $8::float8, $9::jsonb, $10::bigint,"
        " to_timestamp($11::bigint / 1000.0))"
        " ON CONFLICT (id) DO UPDATE SET store_id = EXCLUDED.store_id, status = EXCLUDED.status,"
        " rider_id = EXCLUDED.rider_id, region = EXCLUDED.region, lat = EXCLUDED.lat, lon = EXCLUDED.lon,"
        " view = EXCLUDED.view, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at"
        " WHERE deliveries.version < EXCLUDED.version"};

/* Cancellation only changes a delivery that exists: before COOKED there is none to show. */
static const PgStmt st_delivery_cancel = {
        "projector_delivery_cancel",
        "UPDATE deliveries SET status = $2, view = $3::jsonb, version = $4::bigint,"
        " updated_at = to_timestamp($5::bigint / 1000.0) WHERE id = $1 AND version < $4::bigint"};

void projector_metrics_init(void) {
        m_applied = metrics_counter("food_projector_events_total{outcome=\"applied\"}",
                                    "Order status events by effect on the read model");
        m_stale = metrics_counter("food_projector_events_total{outcome=\"stale\"}", "");
}

static void count(Metric *m) {
        if (m)
                metric_add(m, 1);
}

/* JSON text of `v` (stolen), malloc'ed, or NULL. */
static char *json_text(json_t *v) {
        /* 12 significant digits: coordinates print as given (37.4979, not 37.497900000000001). */
        char *s = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
        json_decref(v);
        return s;
}

static int project_delivery(Pg *pg, const Food__V1__Order *o, const char *version, const char *updated) {
        const Food__V1__Location *d = o->address;
        char id[ORDER_ID_MAX + 8], lat[32], lon[32];
        char *view = NULL;
        bool creates = false;
        const char *status = projector_delivery_status(o->status, &creates);
        int r;

        if (!status)
                return 0;
        if (order_delivery_id(o->id, id, sizeof(id)) < 0) {
                log_warn("projector: order id %s has no delivery id", o->id);
                return WORKER_POISON;
        }
        view = json_text(order_json_delivery(o));
        if (!view)
                return WORKER_POISON;
        if (creates) {
                snprintf(lat, sizeof(lat), "%.7f", d ? d->lat : 0.0);
                snprintf(lon, sizeof(lon), "%.7f", d ? d->lon : 0.0);
                const char *vals[11] = {id,  o->id, o->store_id, status, o->rider_id ? o->rider_id : "",
                                        d && d->region ? d->region : "", d ? lat : NULL, d ? lon : NULL,
                                        view, version, updated};
                r = pg_run(pg, &st_delivery_upsert, 11, vals, NULL, NULL, NULL);
        } else {
                const char *vals[5] = {id, status, view, version, updated};
                r = pg_run(pg, &st_delivery_cancel, 5, vals, NULL, NULL, NULL);
        }
        free(view);
        return r;
}

int projector_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, const char *msg_id, WorkerOut *out) {
        const Food__V1__OrderStatusChanged *ev;
        const Food__V1__Order *o;
        char version[24], created[24], updated[24];
        char *view = NULL;
        PGresult *res = NULL;
        const char *why = NULL;
        int64_t updated_ms;
        int r;
        (void)ctx;
        (void)out;

        if (msg->descriptor != &food__v1__order_status_changed__descriptor) {
                log_warn("projector: unexpected message type %s", msg->descriptor->name);
                return WORKER_POISON;
        }
        ev = (const Food__V1__OrderStatusChanged *)msg;
        o = ev->order;
        if (order_check(o, &why) < 0 || !order_check_transition(ev->previous_status, o->status)) {
                log_warn("projector: impossible status event %s: %s", msg_id,
                         why ? why : "unknown status, or backwards from previous_status");
                return WORKER_POISON;
        }
        view = json_text(order_json_view(o));
        if (!view) {
                log_warn("projector: order %s has no JSON view", o->id);
                return WORKER_POISON;
        }
        updated_ms = o->updated_at_ms > 0 ? o->updated_at_ms : ev->at_ms > 0 ? ev->at_ms : ids_now_ms();
        snprintf(version, sizeof(version), "%" PRId64, o->version);
        snprintf(created, sizeof(created), "%" PRId64, projector_created_at_ms(o, updated_ms));
        snprintf(updated, sizeof(updated), "%" PRId64, updated_ms);
        const char *vals[8] = {o->id, o->customer_id, o->store_id, o->status, version, view, created, updated};
        r = pg_run(pg, &st_order, 8, vals, NULL, NULL, &res);
        if (r < 0)
                goto out;
        if (strcmp(PQcmdTuples(res), "1") == 0) {
                count(m_applied);
                log_debug("order %s is %s (v%" PRId64 ")", o->id, o->status, o->version);
        } else {
                /* Not applied: an older version (stale, normal), or a newer one moving the order
                 * backwards from what the read model holds (impossible: poison). */
                PQclear(res);
                res = NULL;
                r = pg_run(pg, &st_order_version, 1, vals, NULL, NULL, &res);
                if (r < 0)
                        goto out;
                if (PQntuples(res) == 1 && strtoll(PQgetvalue(res, 0, 0), NULL, 10) < o->version) {
                        log_warn("projector: status event %s moves order %s backwards to %s (v%" PRId64 ")", msg_id,
                                 o->id, o->status, o->version);
                        r = WORKER_POISON;
                        goto out;
                }
                count(m_stale);
                log_debug("order %s v%" PRId64 " (%s) is not newer than the read model's", o->id, o->version,
                          o->status);
        }
        /* The delivery row has its own version: it may lag the order's (it starts at COOKED). */
        r = project_delivery(pg, o, version, updated);
out:
        PQclear(res);
        free(view);
        return r;
}
