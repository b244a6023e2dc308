/* Batched read-model upserts from order snapshots, and the read model's rules. */
#include "readmodel-write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "order-json.h"

typedef struct {
        const char *order_status;
        const char *delivery_status;
        bool creates;
} DeliveryRule;

static const DeliveryRule rules[] = {
        {"COOKED", "OPEN", true},           {"PICKED_UP", "PICKED_UP", true}, {"DELIVERED", "DELIVERED", true},
        {"COMPLETED", "DELIVERED", true},   {"CANCELLED", "CANCELLED", false}, {"REFUSED", "CANCELLED", false},
};

const char *readmodel_write_delivery_status(const char *order_status, bool *creates) {
        *creates = false;
        if (!order_status)
                return NULL;
        for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
                if (strcmp(rules[i].order_status, order_status) == 0) {
                        *creates = rules[i].creates;
                        return rules[i].delivery_status;
                }
        return NULL;
}

int64_t readmodel_write_created_at_ms(const Food__V1__Order *o, int64_t event_at_ms) {
        if (o->n_history > 0 && o->history[0] && o->history[0]->at_ms > 0)
                return o->history[0]->at_ms;
        if (o->updated_at_ms > 0)
                return o->updated_at_ms;
        return event_at_ms;
}

#define LIFECYCLE "ARRAY['PAYMENT_PENDING', 'PAID', 'ACCEPTED', 'COOKING', 'COOKED', 'PICKED_UP', 'DELIVERED']"

/* Never backwards along the lifecycle, never out of a terminal status. */
static const PgStmt st_orders = {
        "readmodel_orders",
        "INSERT INTO orders (id, customer_id, store_id, status, version, view, created_at, updated_at)"
        " SELECT id, c, s, st, v, vw, to_timestamp(cr / 1000.0), to_timestamp(up / 1000.0)"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::int8[], $8::int8[])"
        "  AS u(id, c, s, st, v, vw, cr, up)"
        " ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id, store_id = EXCLUDED.store_id,"
        " status = EXCLUDED.status, version = EXCLUDED.version, view = EXCLUDED.view, updated_at = EXCLUDED.updated_at"
        " WHERE orders.version < EXCLUDED.version AND (orders.status = EXCLUDED.status OR"
        " (orders.status NOT IN ('COMPLETED', 'REJECTED', 'REFUSED', 'CANCELLED') AND"
        " coalesce(array_position(" LIFECYCLE ", EXCLUDED.status), 99) >="
        " coalesce(array_position(" LIFECYCLE ", orders.status), 0)))"};

static const PgStmt st_deliveries = {
        "readmodel_deliveries",
        "INSERT INTO deliveries (id, order_id, store_id, status, rider_id, region, lat, lon, view, version, updated_at)"
        " SELECT id, o, s, st, nullif(r, ''), nullif(rg, ''), la, lo, vw, v, to_timestamp(up / 1000.0)"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[],"
        "  $8::float8[], $9::text[], $10::int8[], $11::int8[]) AS u(id, o, s, st, r, rg, la, lo, vw, v, up)"
        " ON CONFLICT (id) DO UPDATE SET store_id = EXCLUDED.store_id, status = EXCLUDED.status,"
        " rider_id = EXCLUDED.rider_id, region = EXCLUDED.region, lat = EXCLUDED.lat, lon = EXCLUDED.lon,"
        " view = EXCLUDED.view, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at"
        " WHERE deliveries.version < EXCLUDED.version"};

/* Cancellation only changes a delivery that exists: before COOKED there is none to show. */
static const PgStmt st_cancels = {
        "readmodel_delivery_cancels",
        "UPDATE deliveries d SET status = u.st, view = u.vw, version = u.v,"
        " updated_at = to_timestamp(u.up / 1000.0)"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[]) AS u(id, st, vw, v, up)"
        " WHERE d.id = u.id AND d.version < u.v"};

void readmodel_write_init(ReadmodelWrite *w) {
        memset(w, 0, sizeof(*w));
        PgArray *text[] = {&w->o_id, &w->o_customer, &w->o_store, &w->o_status, &w->o_view, &w->d_id, &w->d_order,
                           &w->d_store, &w->d_status, &w->d_rider, &w->d_region, &w->d_view, &w->c_id,
                           &w->c_status, &w->c_view};
        PgArray *int8[] = {&w->o_version, &w->o_created, &w->o_updated, &w->d_version, &w->d_updated, &w->c_version,
                           &w->c_updated};
        for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
                pg_array_init(text[i], PG_OID_TEXT);
        for (size_t i = 0; i < sizeof(int8) / sizeof(int8[0]); i++)
                pg_array_init(int8[i], PG_OID_INT8);
        pg_array_init(&w->d_lat, PG_OID_FLOAT8);
        pg_array_init(&w->d_lon, PG_OID_FLOAT8);
}

int readmodel_write_add(ReadmodelWrite *w, const Food__V1__Order *o, int64_t at_ms) {
        int64_t updated = o->updated_at_ms > 0 ? o->updated_at_ms : at_ms;
        char delivery_id[128];
        bool creates = false;
        const char *dstatus = readmodel_write_delivery_status(o->status, &creates);
        char *view = order_json_view(o, NULL), *dview = NULL;

        if (!view)
                return -EINVAL;
        if (dstatus && (order_delivery_id(o->id, delivery_id, sizeof(delivery_id)) < 0 ||
                        !(dview = order_json_delivery(o, NULL)))) {
                free(view);
                return -EINVAL;
        }
        pg_array_text(&w->o_id, o->id);
        pg_array_text(&w->o_customer, o->customer_id);
        pg_array_text(&w->o_store, o->store_id);
        pg_array_text(&w->o_status, o->status);
        pg_array_int8(&w->o_version, o->version);
        pg_array_text(&w->o_view, view);
        pg_array_int8(&w->o_created, readmodel_write_created_at_ms(o, updated));
        pg_array_int8(&w->o_updated, updated);
        w->n_orders++;
        if (dstatus && creates) {
                const Food__V1__Location *d = o->address;
                pg_array_text(&w->d_id, delivery_id);
                pg_array_text(&w->d_order, o->id);
                pg_array_text(&w->d_store, o->store_id);
                pg_array_text(&w->d_status, dstatus);
                pg_array_text(&w->d_rider, o->rider_id ? o->rider_id : "");
                pg_array_text(&w->d_region, d && d->region ? d->region : "");
                if (d) {
                        pg_array_float8(&w->d_lat, d->lat);
                        pg_array_float8(&w->d_lon, d->lon);
                } else {
                        pg_array_null(&w->d_lat);
                        pg_array_null(&w->d_lon);
                }
                pg_array_text(&w->d_view, dview);
                pg_array_int8(&w->d_version, o->version);
                pg_array_int8(&w->d_updated, updated);
                w->n_deliveries++;
        } else if (dstatus) {
                pg_array_text(&w->c_id, delivery_id);
                pg_array_text(&w->c_status, dstatus);
                pg_array_text(&w->c_view, dview);
                pg_array_int8(&w->c_version, o->version);
                pg_array_int8(&w->c_updated, updated);
                w->n_cancels++;
        }
        free(view);
        free(dview);
        return 0;
}


int readmodel_write_calls(ReadmodelWrite *w, PgCall *calls) {
        int n = 0;
        if (w->n_orders) {
                PgArray *a[] = {&w->o_id,   &w->o_customer, &w->o_store,   &w->o_status,
                                &w->o_version, &w->o_view,  &w->o_created, &w->o_updated};
                if (pg_array_params(a, 8, w->vals, w->lens, w->fmts) < 0)
                        return -ENOMEM;
                calls[n++] = (PgCall){&st_orders, 8, w->vals, w->lens, w->fmts, NULL};
        }
        if (w->n_deliveries) {
                PgArray *a[] = {&w->d_id,     &w->d_order, &w->d_store, &w->d_status,  &w->d_rider,  &w->d_region,
                                &w->d_lat,    &w->d_lon,   &w->d_view,  &w->d_version, &w->d_updated};
                if (pg_array_params(a, 11, w->d_vals, w->d_lens, w->d_fmts) < 0)
                        return -ENOMEM;
                calls[n++] = (PgCall){&st_deliveries, 11, w->d_vals, w->d_lens, w->d_fmts, NULL};
        }
        if (w->n_cancels) {
                PgArray *a[] = {&w->c_id, &w->c_status, &w->c_view, &w->c_version, &w->c_updated};
                if (pg_array_params(a, 5, w->c_vals, w->c_lens, w->c_fmts) < 0)
                        return -ENOMEM;
                calls[n++] = (PgCall){&st_cancels, 5, w->c_vals, w->c_lens, w->c_fmts, NULL};
        }
        return n;
}

void readmodel_write_free(ReadmodelWrite *w) {
        PgArray *all[] = {&w->o_id,      &w->o_customer, &w->o_store,   &w->o_status,  &w->o_version,
                          &w->o_view,    &w->o_created,  &w->o_updated, &w->d_id,      &w->d_order,
                          &w->d_store,   &w->d_status,   &w->d_rider,   &w->d_region,  &w->d_lat,
                          &w->d_lon,     &w->d_view,     &w->d_version, &w->d_updated, &w->c_id,
                          &w->c_status,  &w->c_view,     &w->c_version, &w->c_updated};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
                pg_array_free(all[i]);
}
