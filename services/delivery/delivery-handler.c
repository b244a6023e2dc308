/* Delivery commands: state changes guarded in SQL, replies with the resulting state. */
#include "delivery-handler.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "delivery-geo.h"
#include "food.pb-c.h"
#include "log.h"
#include "metrics.h"
#include "order-check.h"
#include "order-json.h"

static Metric *m_opened, *m_assigned, *m_delivered, *m_unchanged;

/* Every command states what the delivery is at an order version: a newer version wins, so commands
 * that overtake each other (two fetch loops, a redelivery) leave the newest state. An opening that
 * arrives after a later state only fills in the places. */
static const PgStmt st_open = {
        "delivery_open",
        "INSERT INTO deliveries (id, order_id, store_id, status, pickup_text, pickup_region, pickup_lat, pickup_lon,"
        " dropoff_text, region, lat, lon, distance_m, version)"
        " VALUES ($1, $2, nullif($3, ''), 'OPEN', $4, $5, $6::float8, $7::float8, $8, nullif($9, ''), $10::float8,"
        " $11::float8, $12::float8, $13::bigint)"
        " ON CONFLICT (id) DO UPDATE SET store_id = coalesce(deliveries.store_id, EXCLUDED.store_id),"
        " pickup_text = EXCLUDED.pickup_text, pickup_region = EXCLUDED.pickup_region, pickup_lat = EXCLUDED.pickup_lat,"
        " pickup_lon = EXCLUDED.pickup_lon, dropoff_text = EXCLUDED.dropoff_text, region = EXCLUDED.region,"
        " lat = EXCLUDED.lat, lon = EXCLUDED.lon, distance_m = EXCLUDED.distance_m, updated_at = now()"
        " WHERE deliveries.pickup_text IS NULL AND deliveries.lat IS NULL"
        " RETURNING status, coalesce(rider_id, '')"};

/* PICKED_UP by $3 or DELIVERED (by $3, or whoever picked it) at version $4. */
static const PgStmt st_state = {
        "delivery_state",
        "INSERT INTO deliveries (id, order_id, status, rider_id, version) VALUES ($1, $2, $5, nullif($3, ''), $4::bigint)"
        " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,"
        " rider_id = coalesce(EXCLUDED.rider_id, deliveries.rider_id), version = EXCLUDED.version, updated_at = now()"
        " WHERE deliveries.version < EXCLUDED.version"
        " RETURNING status, coalesce(rider_id, '')"};

static const PgStmt st_current = {"delivery_current",
                                  "SELECT status, coalesce(rider_id, '') FROM deliveries WHERE id = $1"};

void delivery_metrics_init(void) {
        m_opened = metrics_counter("food_deliveries_total{outcome=\"opened\"}", "Delivery commands by outcome");
        m_assigned = metrics_counter("food_deliveries_total{outcome=\"picked_up\"}", "");
        m_delivered = metrics_counter("food_deliveries_total{outcome=\"delivered\"}", "");
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

/* Row `r` of a result of (status, rider). */
static void state_from_row(PGresult *res, int r, DeliveryState *st) {
        st->found = true;
        snprintf(st->status, sizeof(st->status), "%s", pg_str(res, r, 0) ? pg_str(res, r, 0) : "");
        snprintf(st->rider_id, sizeof(st->rider_id), "%s", pg_str(res, r, 1) ? pg_str(res, r, 1) : "");
}

static void state_from(PGresult *res, DeliveryState *st) {
        st->found = PQntuples(res) == 1;
        if (st->found)
                state_from_row(res, 0, st);
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
        return worker_answer(out, &d.base);
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
        char version[24];
        snprintf(version, sizeof(version), "%" PRId64, m->corr->version);
        const char *vals[13] = {m->delivery_id,
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
                                prm.dist[0] ? prm.dist : NULL,
                                version};
        r = run_then_current(pg, &st_open, 13, vals, &st, &changed);
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
        char version[24];
        snprintf(version, sizeof(version), "%" PRId64, m->corr->version);
        const char *vals[5] = {m->delivery_id, order_id, m->rider_id, version, "PICKED_UP"};
        r = run_then_current(pg, &st_state, 5, vals, &st, &changed);
        if (r < 0)
                return r;
        if (!st.found)
                return -EPROTO; /* the conflicting row vanished: retry the batch */
        count(changed ? m_assigned : m_unchanged);
        if (changed)
                log_info("delivery %s picked up by %s", m->delivery_id, m->rider_id);
        else
                log_debug("delivery %s: an older state (picked up by %s); it is %s", m->delivery_id, m->rider_id,
                          st.status);
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
        char version[24];
        snprintf(version, sizeof(version), "%" PRId64, m->corr->version);
        const char *vals[5] = {m->delivery_id, order_id, m->rider_id ? m->rider_id : "", version, "DELIVERED"};
        r = run_then_current(pg, &st_state, 5, vals, &st, &changed);
        if (r < 0)
                return r;
        if (!st.found)
                return -EPROTO;
        count(changed ? m_delivered : m_unchanged);
        if (changed)
                log_info("delivery %s delivered by %s", m->delivery_id, st.rider_id);
        else
                log_debug("delivery %s: an older state (delivered); it is %s", m->delivery_id, st.status);
        return reply_recorded(out, m->corr, m->delivery_id, &st);
}

int delivery_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, WorkerOut *out) {
        const DeliveryConfig *cfg = ctx;
        if (msg->descriptor == &food__v1__open_delivery__descriptor)
                return handle_open(cfg, pg, (const Food__V1__OpenDelivery *)msg, out);
        if (msg->descriptor == &food__v1__assign_rider__descriptor)
                return handle_assign(pg, (const Food__V1__AssignRider *)msg, out);
        if (msg->descriptor == &food__v1__complete_delivery__descriptor)
                return handle_complete(pg, (const Food__V1__CompleteDelivery *)msg, out);
        log_warn("delivery: unexpected message type %s", msg->descriptor->name);
        return WORKER_POISON;
}

/* ---- a fetch at once --------------------------------------------------------------------- */

/* A fetch's openings and state changes are two statements, so two loops could take the same rows in
 * crossing order (an assignment of a delivery whose opening the other one is inserting): a deadlock
 * PostgreSQL breaks after its deadlock_timeout. Each statement first takes a transaction lock per
 * delivery of the whole fetch (its last parameter; empty for the second statement, which finds them
 * held), in one order, before it touches a row: a fetch waits for another that shares a delivery
 * before holding anything. The key space is the worker's own (the orchestrator's shard locks use
 * 1718579556). */
#define DELIVERY_LOCKS(ids)                                                                                            \
        " l AS (SELECT count(pg_advisory_xact_lock(1718579557, k)) AS locked FROM"                                  \
        "       (SELECT DISTINCT hashtext(x) AS k FROM unnest(" ids "::text[]) AS x ORDER BY 1) s),"

/* st_open for each delivery of the batch (one row each), with how every one it changed stands
 * (NULL for the others: read one by one, as a join with the table would be planned once per
 * session, when the table may have been small enough for a scan of it). */
static const PgStmt st_open_many = {
        "delivery_open_many",
        "WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[],"
        "           $7::float8[], $8::text[], $9::text[], $10::float8[], $11::float8[], $12::float8[], $13::int8[])"
        "           WITH ORDINALITY AS u(id, order_id, store_id, pickup_text, pickup_region, pickup_lat, pickup_lon,"
        "           dropoff_text, region, lat, lon, distance_m, version, i)),"
        DELIVERY_LOCKS("$14")
        " w AS (INSERT INTO deliveries (id, order_id, store_id, status, pickup_text, pickup_region, pickup_lat,"
        "       pickup_lon, dropoff_text, region, lat, lon, distance_m, version)"
        "       SELECT id, order_id, nullif(store_id, ''), 'OPEN', pickup_text, pickup_region, pickup_lat, pickup_lon,"
        "       dropoff_text, nullif(region, ''), lat, lon, distance_m, version FROM u CROSS JOIN l ORDER BY i"
        "       ON CONFLICT (id) DO UPDATE SET store_id = coalesce(deliveries.store_id, EXCLUDED.store_id),"
        "       pickup_text = EXCLUDED.pickup_text, pickup_region = EXCLUDED.pickup_region,"
        "       pickup_lat = EXCLUDED.pickup_lat, pickup_lon = EXCLUDED.pickup_lon,"
        "       dropoff_text = EXCLUDED.dropoff_text, region = EXCLUDED.region, lat = EXCLUDED.lat, lon = EXCLUDED.lon,"
        "       distance_m = EXCLUDED.distance_m, updated_at = now()"
        "       WHERE deliveries.pickup_text IS NULL AND deliveries.lat IS NULL"
        "       RETURNING id, status, coalesce(rider_id, '') AS rider_id)"
        " SELECT w.status, w.rider_id, w.id IS NOT NULL FROM u LEFT JOIN w ON w.id = u.id ORDER BY u.i"};

/* st_state for each delivery of the batch (its newest state), the same way. */
static const PgStmt st_state_many = {
        "delivery_state_many",
        "WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[])"
        "           WITH ORDINALITY AS u(id, order_id, rider_id, version, status, i)),"
        DELIVERY_LOCKS("$6")
        " w AS (INSERT INTO deliveries (id, order_id, status, rider_id, version)"
        "       SELECT id, order_id, status, nullif(rider_id, ''), version FROM u CROSS JOIN l ORDER BY i"
        "       ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,"
        "       rider_id = coalesce(EXCLUDED.rider_id, deliveries.rider_id), version = EXCLUDED.version,"
        "       updated_at = now() WHERE deliveries.version < EXCLUDED.version"
        "       RETURNING id, status, coalesce(rider_id, '') AS rider_id)"
        " SELECT w.status, w.rider_id, w.id IS NOT NULL FROM u LEFT JOIN w ON w.id = u.id ORDER BY u.i"};

/* One delivery's row in a multi-row statement. */
typedef struct {
        const char *id;
        int best;          /* the command written for it */
        const char *rider; /* the rider of its newest command naming one ("" when none does) */
        int64_t rider_version;
        DeliveryState st;
        bool changed;
} Slot;

static int slot_of(Slot *slots, int *n, const char *id, int cmd) {
        for (int s = 0; s < *n; s++)
                if (strcmp(slots[s].id, id) == 0)
                        return s;
        slots[*n] = (Slot){.id = id, .best = cmd, .rider = "", .rider_version = -1};
        return (*n)++;
}

/* The command's delivery id, correlation, version and the state it sets ("OPEN" for an opening). */
static const char *command_of(const ProtobufCMessage *m, Food__V1__Correlation **corr, const char **rider,
                              const char **state) {
        if (m->descriptor == &food__v1__open_delivery__descriptor) {
                *corr = ((const Food__V1__OpenDelivery *)m)->corr;
                *rider = "";
                *state = "OPEN";
                return ((const Food__V1__OpenDelivery *)m)->delivery_id;
        }
        if (m->descriptor == &food__v1__assign_rider__descriptor) {
                *corr = ((const Food__V1__AssignRider *)m)->corr;
                *rider = ((const Food__V1__AssignRider *)m)->rider_id;
                *state = "PICKED_UP";
                return ((const Food__V1__AssignRider *)m)->delivery_id;
        }
        *corr = ((const Food__V1__CompleteDelivery *)m)->corr;
        *rider = ((const Food__V1__CompleteDelivery *)m)->rider_id;
        *state = "DELIVERED";
        return ((const Food__V1__CompleteDelivery *)m)->delivery_id;
}

/* Runs one multi-row statement for the commands of kind `k` and answers each of them; `locks` holds the
 * delivery ids to lock first (DELIVERY_LOCKS). */
static int batch_kind(Pg *pg, const DeliveryConfig *cfg, const ProtobufCMessage *const *cmds, const int *kind,
                      int k, int *slot, WorkerOut *const *outs, int n, Slot *slots, PgArray *locks) {
        enum { OPEN_COLS = 13, STATE_COLS = 5 };
        PgArray a[OPEN_COLS];
        PgArray *pa[OPEN_COLS + 1];
        int cols = k == 1 ? OPEN_COLS : STATE_COLS, n_slots = 0, r = 0;
        PGresult *pr = NULL;
        Food__V1__Correlation *corr;
        const char *rider, *state;

        for (int i = 0; i < n; i++)
                if (kind[i] == k) {
                        int s = slot_of(slots, &n_slots, command_of(cmds[i], &corr, &rider, &state), i);
                        Food__V1__Correlation *best;
                        const char *best_rider, *best_state;
                        (void)command_of(cmds[slots[s].best], &best, &best_rider, &best_state);
                        if (k == 2 && best->version < corr->version)
                                slots[s].best = i;
                        /* A completion without a rider keeps the one an assignment of the batch names. */
                        if (k == 2 && rider && *rider && corr->version > slots[s].rider_version) {
                                slots[s].rider = rider;
                                slots[s].rider_version = corr->version;
                        }
                        slot[i] = s;
                }
        if (n_slots == 0)
                return 0;
        for (int c = 0; c < cols; c++) {
                static const uint32_t open_oids[OPEN_COLS] = {
                        PG_OID_TEXT,   PG_OID_TEXT,   PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
                        PG_OID_FLOAT8, PG_OID_FLOAT8, PG_OID_TEXT, PG_OID_TEXT, PG_OID_FLOAT8,
                        PG_OID_FLOAT8, PG_OID_FLOAT8, PG_OID_INT8};
                static const uint32_t state_oids[STATE_COLS] = {PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT8,
                                                                PG_OID_TEXT};
                pg_array_init(&a[c], k == 1 ? open_oids[c] : state_oids[c]);
                pa[c] = &a[c];
        }
        for (int s = 0; s < n_slots; s++) {
                const ProtobufCMessage *m = cmds[slots[s].best];
                char order_id[ORDER_ID_MAX + 8];
                const char *id = command_of(m, &corr, &rider, &state);
                (void)order_id_of_delivery(id, order_id, sizeof(order_id)); /* checked by the caller */
                pg_array_text(&a[0], id);
                pg_array_text(&a[1], order_id);
                if (k == 2) {
                        pg_array_text(&a[2], rider && *rider ? rider : slots[s].rider);
                        pg_array_int8(&a[3], corr->version);
                        pg_array_text(&a[4], state);
                        continue;
                }
                const Food__V1__OpenDelivery *o = (const Food__V1__OpenDelivery *)m;
                DeliveryOpenParams prm;
                (void)delivery_open_params(cfg, o, &prm);
                if (prm.far)
                        log_warn("delivery %s: dropoff is %.0f m from the pickup (over %.0f m)", id, prm.distance_m,
                                 cfg->far_m);
                pg_array_text(&a[2], o->store_id ? o->store_id : "");
                pg_array_text(&a[3], o->pickup ? o->pickup->text : NULL);
                pg_array_text(&a[4], o->pickup ? o->pickup->region : NULL);
                /* the numbers as the single-command path stores them (rounded by delivery_open_params) */
                if (o->pickup) {
                        pg_array_float8(&a[5], strtod(prm.num[0], NULL));
                        pg_array_float8(&a[6], strtod(prm.num[1], NULL));
                } else {
                        pg_array_null(&a[5]);
                        pg_array_null(&a[6]);
                }
                pg_array_text(&a[7], o->dropoff ? o->dropoff->text : NULL);
                pg_array_text(&a[8], o->dropoff && o->dropoff->region ? o->dropoff->region : "");
                if (o->dropoff) {
                        pg_array_float8(&a[9], strtod(prm.num[2], NULL));
                        pg_array_float8(&a[10], strtod(prm.num[3], NULL));
                } else {
                        pg_array_null(&a[9]);
                        pg_array_null(&a[10]);
                }
                if (prm.dist[0])
                        pg_array_float8(&a[11], strtod(prm.dist, NULL));
                else
                        pg_array_null(&a[11]);
                pg_array_int8(&a[12], corr->version);
        }
        pa[cols] = locks;
        r = pg_run_arrays(pg, k == 1 ? &st_open_many : &st_state_many, pa, cols + 1, &pr);
        if (r == 0 && PQntuples(pr) != n_slots)
                r = -EPROTO;
        for (int s = 0; s < n_slots && r == 0; s++) {
                PGresult *own = NULL;
                const char *vals[1] = {slots[s].id};
                slots[s].changed = pg_str(pr, s, 2)[0] == 't';
                if (!PQgetisnull(pr, s, 0)) {
                        state_from_row(pr, s, &slots[s].st);
                        continue;
                }
                /* Unchanged (an older command, or a newer row another loop committed meanwhile). */
                r = pg_run(pg, &st_current, 1, vals, NULL, NULL, &own);
                if (r == 0)
                        state_from(own, &slots[s].st);
                PQclear(own);
                if (r == 0 && !slots[s].st.found)
                        r = -EPROTO; /* the conflicting row vanished: retry the batch */
        }
        for (int i = 0; i < n && r == 0; i++)
                if (kind[i] == k) {
                        Slot *sl = &slots[slot[i]];
                        const char *id = command_of(cmds[i], &corr, &rider, &state);
                        bool changed = sl->changed && sl->best == i;
                        count(!changed                          ? m_unchanged
                              : k == 1                          ? m_opened
                              : strcmp(state, "PICKED_UP") == 0 ? m_assigned
                                                                : m_delivered);
                        if (changed)
                                log_debug("delivery %s is %s", id, sl->st.status);
                        r = reply_recorded(outs[i], corr, id, &sl->st);
                }
        PQclear(pr);
        for (int c = 0; c < cols; c++)
                pg_array_free(&a[c]);
        return r;
}

int delivery_handle_batch(void *ctx, Pg *pg, const ProtobufCMessage *const *cmds, int *res, WorkerOut *const *outs,
                          int n) {
        int *kind = calloc((size_t)n * 2, sizeof(int));
        Slot *slots = calloc((size_t)n, sizeof(Slot));
        PgArray locks, none;
        int r;

        if (!kind || !slots) {
                free(kind);
                free(slots);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                char order_id[ORDER_ID_MAX + 8];
                res[i] = 0;
                if (delivery_check(cmds[i], order_id, sizeof(order_id)) != 0) {
                        log_warn("delivery: impossible %s (order %s)", cmds[i]->descriptor->name,
                                 codec_order_id(cmds[i]));
                        res[i] = WORKER_POISON;
                } else
                        kind[i] = cmds[i]->descriptor == &food__v1__open_delivery__descriptor ? 1 : 2;
        }
        bool opens = false;
        pg_array_init(&locks, PG_OID_TEXT);
        pg_array_init(&none, PG_OID_TEXT);
        for (int i = 0; i < n; i++)
                if (kind[i]) {
                        Food__V1__Correlation *corr;
                        const char *rider, *state;
                        pg_array_text(&locks, command_of(cmds[i], &corr, &rider, &state));
                        opens = opens || kind[i] == 1;
                }
        /* Openings first: a later state only follows its opening. The first statement that runs takes the
         * fetch's locks. */
        r = batch_kind(pg, ctx, cmds, kind, 1, kind + n, outs, n, slots, &locks);
        if (r == 0)
                r = batch_kind(pg, ctx, cmds, kind, 2, kind + n, outs, n, slots, opens ? &none : &locks);
        pg_array_free(&locks);
        pg_array_free(&none);
        free(kind);
        free(slots);
        return r;
}
