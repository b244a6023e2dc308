/* Delivery commands: state changes guarded in SQL, replies with the resulting state. */
#include "delivery-handler.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "delivery-geo.h"
#include "food.pb-c.h"
#include "log.h"
#include "metrics.h"
#include "order-check.h"
#include "order-json.h"

static Metric *m_opened, *m_assigned, *m_delivered, *m_cancelled, *m_unchanged;

static const PgStmt st_open = {
        "delivery_open",
        "INSERT INTO deliveries (id, order_id, store_id, status, pickup_text, pickup_region, pickup_lat, pickup_lon,"
        " dropoff_text, region, lat, lon, distance_m)"
        " VALUES ($1, $2, nullif($3, ''), 'OPEN', $4, $5, $6::float8, $7::float8, $8, nullif($9, ''), $10::float8,"
        " $11::float8, $12::float8)"
        " ON CONFLICT (id) DO NOTHING RETURNING status, coalesce(rider_id, '')"};

static const PgStmt st_assign = {
        "delivery_assign",
        "UPDATE deliveries SET status = 'PICKED_UP', rider_id = $2, updated_at = now()"
        " WHERE id = $1 AND status = 'OPEN' RETURNING status, rider_id"};

/* The rider who picked it up completes it; an OPEN one (assignment still in flight) too. */
static const PgStmt st_complete = {
        "delivery_complete",
        "UPDATE deliveries SET status = 'DELIVERED', rider_id = coalesce(nullif($2, ''), rider_id), updated_at = now()"
        " WHERE id = $1 AND (status = 'OPEN' OR (status = 'PICKED_UP' AND ($2 = '' OR rider_id = $2)))"
        " RETURNING status, coalesce(rider_id, '')"};

static const PgStmt st_cancel = {
        "delivery_cancel",
        "INSERT INTO deliveries (id, order_id, status, reason) VALUES ($1, $2, 'CANCELLED', nullif($3, ''))"
        " ON CONFLICT (id) DO UPDATE SET status = 'CANCELLED', reason = EXCLUDED.reason, updated_at = now()"
        " WHERE deliveries.status IN ('OPEN', 'PICKED_UP')"
        " RETURNING status, coalesce(rider_id, '')"};

static const PgStmt st_current = {"delivery_current",
                                  "SELECT status, coalesce(rider_id, '') FROM deliveries WHERE id = $1"};

void delivery_metrics_init(void) {
        m_opened = metrics_counter("food_deliveries_total{outcome=\"opened\"}", "Delivery commands by outcome");
        m_assigned = metrics_counter("food_deliveries_total{outcome=\"picked_up\"}", "");
        m_delivered = metrics_counter("food_deliveries_total{outcome=\"delivered\"}", "");
        m_cancelled = metrics_counter("food_deliveries_total{outcome=\"cancelled\"}", "");
        m_unchanged = metrics_counter("food_deliveries_total{outcome=\"unchanged\"}", "");
}

static void count(Metric *m) {
        if (m)
                metric_add(m, 1);
}

/* The delivery's current state after a command; *found false when it does not exist. */
typedef struct {
        bool found;
        char status[16];
        char rider_id[ORDER_ID_MAX + 1];
} DeliveryState;

static void state_from(PGresult *res, DeliveryState *st) {
        st->found = PQntuples(res) == 1;
        if (st->found) {
                snprintf(st->status, sizeof(st->status), "%s", pg_str(res, 0, 0) ? pg_str(res, 0, 0) : "");
                snprintf(st->rider_id, sizeof(st->rider_id), "%s", pg_str(res, 0, 1) ? pg_str(res, 0, 1) : "");
        }
}

/* Runs `st` (which RETURNs status, rider) and, when it changed nothing, reads the current state. */
static int run_then_current(Pg *pg, const PgStmt *st, int n, const char *const *vals, DeliveryState *out,
                            bool *changed) {
        PGresult *res = NULL;
        int r = pg_run(pg, st, n, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        state_from(res, out);
        PQclear(res);
        *changed = out->found;
        if (out->found)
                return 0;
        r = pg_run(pg, &st_current, 1, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        state_from(res, out);
        PQclear(res);
        return 0;
}

static int reply_recorded(WorkerOut *out, Food__V1__Correlation *corr, const char *delivery_id,
                          const DeliveryState *st) {
        Food__V1__DeliveryRecorded d = FOOD__V1__DELIVERY_RECORDED__INIT;
        d.corr = corr;
        d.delivery_id = (char *)delivery_id;
        d.status = (char *)st->status;
        d.rider_id = (char *)st->rider_id;
        return worker_reply(out, &d.base);
}

/* Checks the delivery id and derives the order id (the correlation's must agree). 0 or -EINVAL. */
static int ids_of(const Food__V1__Correlation *corr, const char *delivery_id, char *order_id, size_t cap) {
        char expect[ORDER_ID_MAX + 8];
        if (!corr || !order_check_id(delivery_id) || order_id_of_delivery(delivery_id, order_id, cap) < 0)
                return -EINVAL;
        if (corr->order_id && *corr->order_id &&
            (order_delivery_id(corr->order_id, expect, sizeof(expect)) < 0 || strcmp(expect, delivery_id) != 0))
                return -EINVAL;
        return 0;
}

static bool location_ok(const Food__V1__Location *l) {
        return !l || geo_valid(l->lat, l->lon);
}

int delivery_check(const ProtobufCMessage *msg, char *order_id, size_t cap) {
        if (msg->descriptor == &food__v1__open_delivery__descriptor) {
                const Food__V1__OpenDelivery *m = (const Food__V1__OpenDelivery *)msg;
                if (ids_of(m->corr, m->delivery_id, order_id, cap) < 0 || !location_ok(m->pickup) ||
                    !location_ok(m->dropoff) || (m->store_id && *m->store_id && !order_check_id(m->store_id)))
                        return WORKER_POISON;
                return 0;
        }
        if (msg->descriptor == &food__v1__assign_rider__descriptor) {
                const Food__V1__AssignRider *m = (const Food__V1__AssignRider *)msg;
                if (ids_of(m->corr, m->delivery_id, order_id, cap) < 0 || !order_check_id(m->rider_id))
                        return WORKER_POISON;
                return 0;
        }
        if (msg->descriptor == &food__v1__complete_delivery__descriptor) {
                const Food__V1__CompleteDelivery *m = (const Food__V1__CompleteDelivery *)msg;
                if (ids_of(m->corr, m->delivery_id, order_id, cap) < 0 ||
                    (m->rider_id && *m->rider_id && !order_check_id(m->rider_id)))
                        return WORKER_POISON;
                return 0;
        }
        if (msg->descriptor == &food__v1__cancel_delivery__descriptor) {
                const Food__V1__CancelDelivery *m = (const Food__V1__CancelDelivery *)msg;
                return ids_of(m->corr, m->delivery_id, order_id, cap) < 0 ? WORKER_POISON : 0;
        }
        return WORKER_POISON;
}

int delivery_open_params(const DeliveryConfig *cfg, const Food__V1__OpenDelivery *m, DeliveryOpenParams *p) {
        const Food__V1__Location *a = m->pickup, *d = m->dropoff;
        memset(p, 0, sizeof(*p));
        snprintf(p->num[0], sizeof(p->num[0]), "%.7f", a ? a->lat : 0.0);
        snprintf(p->num[1], sizeof(p->num[1]), "%.7f", a ? a->lon : 0.0);
        snprintf(p->num[2], sizeof(p->num[2]), "%.7f", d ? d->lat : 0.0);
        snprintf(p->num[3], sizeof(p->num[3]), "%.7f", d ? d->lon : 0.0);
        if (a && d) {
                p->distance_m = geo_distance_m(a->lat, a->lon, d->lat, d->lon);
                snprintf(p->dist, sizeof(p->dist), "%.1f", p->distance_m);
                p->far = p->distance_m > cfg->far_m;
        }
        return 0;
}

static int handle_open(const DeliveryConfig *cfg, Pg *pg, const Food__V1__OpenDelivery *m, WorkerOut *out) {
        const Food__V1__Location *p = m->pickup, *d = m->dropoff;
        char order_id[ORDER_ID_MAX + 8];
        DeliveryOpenParams prm;
        DeliveryState st = {0};
        bool changed = false;
        int r;

        if (delivery_check(&m->base, order_id, sizeof(order_id)) != 0) {
                log_warn("open delivery: impossible command (delivery %s)", m->delivery_id ? m->delivery_id : "none");
                return WORKER_POISON;
        }
        (void)delivery_open_params(cfg, m, &prm);
        if (prm.far)
                log_warn("delivery %s: dropoff is %.0f m from the pickup (over %.0f m)", m->delivery_id,
                         prm.distance_m, cfg->far_m);
        const char *vals[12] = {m->delivery_id,
                                order_id,
                                m->store_id ? m->store_id : "",
                                p ? p->text : NULL,
                                p ? p->region : NULL,
                                p ? prm.num[0] : NULL,
                                p ? prm.num[1] : NULL,
                                d ? d->text : NULL,
                                d && d->region ? d->region : "",
                                d ? prm.num[2] : NULL,
                                d ? prm.num[3] : NULL,
                                prm.dist[0] ? prm.dist : NULL};
        r = run_then_current(pg, &st_open, 12, vals, &st, &changed);
        if (r < 0)
                return r;
        if (!st.found)
                return -EPROTO; /* the conflicting row vanished: retry the batch */
        count(changed ? m_opened : m_unchanged);
        if (changed)
                log_info("delivery %s open in region %s", m->delivery_id, d && d->region ? d->region : "?");
        else if (strcmp(st.status, "OPEN") != 0)
                log_info("delivery %s already %s; opening changes nothing", m->delivery_id, st.status);
        return reply_recorded(out, m->corr, m->delivery_id, &st);
}

static int handle_assign(Pg *pg, const Food__V1__AssignRider *m, WorkerOut *out) {
        char order_id[ORDER_ID_MAX + 8];
        DeliveryState st = {0};
        bool changed = false;
        int r;

        if (delivery_check(&m->base, order_id, sizeof(order_id)) != 0) {
                log_warn("assign rider: impossible command (delivery %s)", m->delivery_id ? m->delivery_id : "none");
                return WORKER_POISON;
        }
        const char *vals[2] = {m->delivery_id, m->rider_id};
        r = run_then_current(pg, &st_assign, 2, vals, &st, &changed);
        if (r < 0)
                return r;
        if (!st.found) {
                log_info("delivery %s: assignment before the opening arrived; retrying later", m->delivery_id);
                return WORKER_RETRY;
        }
        count(changed ? m_assigned : m_unchanged);
        if (changed)
                log_info("delivery %s picked up by %s", m->delivery_id, m->rider_id);
        else if (strcmp(st.rider_id, m->rider_id) != 0)
                /* The orchestrator decided who won; this table only follows. Say what it holds. */
                log_warn("delivery %s: rider %s assigned but it is %s with rider %s; unchanged", m->delivery_id,
                         m->rider_id, st.status, st.rider_id[0] ? st.rider_id : "none");
        return reply_recorded(out, m->corr, m->delivery_id, &st);
}

static int handle_complete(Pg *pg, const Food__V1__CompleteDelivery *m, WorkerOut *out) {
        char order_id[ORDER_ID_MAX + 8];
        DeliveryState st = {0};
        bool changed = false;
        int r;

        if (delivery_check(&m->base, order_id, sizeof(order_id)) != 0) {
                log_warn("complete delivery: impossible command (delivery %s)",
                         m->delivery_id ? m->delivery_id : "none");
                return WORKER_POISON;
        }
        const char *vals[2] = {m->delivery_id, m->rider_id ? m->rider_id : ""};
        r = run_then_current(pg, &st_complete, 2, vals, &st, &changed);
        if (r < 0)
                return r;
        if (!st.found) {
                log_info("delivery %s: completion before the opening arrived; retrying later", m->delivery_id);
                return WORKER_RETRY;
        }
        count(changed ? m_delivered : m_unchanged);
        if (changed)
                log_info("delivery %s delivered by %s", m->delivery_id, st.rider_id);
        else if (strcmp(st.status, "DELIVERED") != 0 || (vals[1][0] && strcmp(st.rider_id, vals[1]) != 0))
                log_warn("delivery %s: completion by %s but it is %s with rider %s; unchanged", m->delivery_id,
                         vals[1][0] ? vals[1] : "?", st.status, st.rider_id[0] ? st.rider_id : "none");
        return reply_recorded(out, m->corr, m->delivery_id, &st);
}

static int handle_cancel(Pg *pg, const Food__V1__CancelDelivery *m, WorkerOut *out) {
        char order_id[ORDER_ID_MAX + 8];
        DeliveryState st = {0};
        bool changed = false;
        int r;

        if (delivery_check(&m->base, order_id, sizeof(order_id)) != 0) {
                log_warn("cancel delivery: impossible command (delivery %s)", m->delivery_id ? m->delivery_id : "none");
                return WORKER_POISON;
        }
        const char *vals[3] = {m->delivery_id, order_id, m->reason ? m->reason : ""};
        r = run_then_current(pg, &st_cancel, 3, vals, &st, &changed);
        if (r < 0)
                return r;
        if (!st.found)
                return -EPROTO;
        count(changed ? m_cancelled : m_unchanged);
        if (changed)
                log_info("delivery %s cancelled (%s)", m->delivery_id, vals[2]);
        else if (strcmp(st.status, "CANCELLED") != 0)
                log_warn("delivery %s: cancellation but it is already %s; unchanged", m->delivery_id, st.status);
        return reply_recorded(out, m->corr, m->delivery_id, &st);
}

int delivery_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, const char *msg_id, WorkerOut *out) {
        const DeliveryConfig *cfg = ctx;
        (void)msg_id;
        if (msg->descriptor == &food__v1__open_delivery__descriptor)
                return handle_open(cfg, pg, (const Food__V1__OpenDelivery *)msg, out);
        if (msg->descriptor == &food__v1__assign_rider__descriptor)
                return handle_assign(pg, (const Food__V1__AssignRider *)msg, out);
        if (msg->descriptor == &food__v1__complete_delivery__descriptor)
                return handle_complete(pg, (const Food__V1__CompleteDelivery *)msg, out);
        if (msg->descriptor == &food__v1__cancel_delivery__descriptor)
                return handle_cancel(pg, (const Food__V1__CancelDelivery *)msg, out);
        log_warn("delivery: unexpected message type %s", msg->descriptor->name);
        return WORKER_POISON;
}
