/* Read-model queries, each on a session borrowed from the gateway's bounded pool for that query only. */
#include "gateway-readmodel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct Readmodel {
        PgPool *pool; /* borrowed */
};

/* Order statuses of the API (SPEC §4), the only values a status filter may name. */
static const char *const readmodel_statuses[] = {
        "PAYMENT_PENDING", "PAID",      "ACCEPTED", "COOKING", "COOKED",    "PICKED_UP",
        "DELIVERED",       "COMPLETED", "REJECTED", "REFUSED", "CANCELLED",
};

static const PgStmt stmt_order = {
        "rm_order", "SELECT customer_id, store_id, version, view, status FROM readmodel.orders WHERE id = $1"};

static const PgStmt stmt_customer_orders = {
        "rm_customer_orders",
        "SELECT '[' || coalesce(string_agg(o.view, ',' ORDER BY o.created_at DESC, o.id DESC), '') || ']' FROM ("
        " SELECT view, created_at, id FROM readmodel.orders WHERE customer_id = $1"
        " AND (status = ANY ($2::text[]) OR ($2::text[] IS NULL AND status NOT IN ('PAYMENT_PENDING', 'REJECTED')))"
        " ORDER BY created_at DESC, id DESC LIMIT 200) o"};

static const PgStmt stmt_store_orders = {
        "rm_store_orders",
        "SELECT '[' || coalesce(string_agg(o.view, ',' ORDER BY o.created_at, o.id), '') || ']' FROM ("
        " SELECT view, created_at, id FROM readmodel.orders WHERE store_id = $1"
        " AND ($2::text[] IS NULL OR status = ANY ($2::text[])) AND status NOT IN ('PAYMENT_PENDING', 'REJECTED')"
        " ORDER BY created_at DESC, id DESC LIMIT 500) o"};

/* Haversine in SQL: a handful of rows per region, no PostGIS needed. */
static const PgStmt stmt_deliveries = {
        "rm_open_deliveries",
        "SELECT '[' || coalesce(string_agg(d.view, ',' ORDER BY d.updated_at, d.id), '') || ']' FROM ("
        " SELECT view, updated_at, id FROM readmodel.deliveries WHERE status = 'OPEN'"
        " AND ($1::text IS NULL OR region = $1)"
        " AND ($2::float8 IS NULL OR 2 * 6371000 * asin(least(1, sqrt("
        "   power(sin(radians(lat - $2::float8) / 2), 2)"
        "   + cos(radians($2::float8)) * cos(radians(lat)) * power(sin(radians(lon - $3::float8) / 2), 2))))"
        "   <= $4::float8)"
        " ORDER BY updated_at, id LIMIT 200) d"};

static const PgStmt stmt_notifications = {
        "rm_notifications",
        "SELECT coalesce(json_agg(json_build_object('order_id', n.order_id, 'status', n.status,"
        " 'message', n.message, 'at', to_char(n.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
        " ORDER BY n.id), '[]')::text FROM ("
        " SELECT id, order_id, status, message, at FROM notification.notifications WHERE customer_id = $1"
        " AND ($2::text IS NULL OR order_id = $2) ORDER BY id DESC LIMIT 200) n"};

static const PgStmt stmt_coupons = {
        "rm_coupons",
        "SELECT coalesce(json_agg(json_build_object('id', id, 'store_id', store_id, 'discount', discount,"
        " 'used', status = 'REDEEMED') ORDER BY created_at), '[]')::text FROM coupon.coupons"
        " WHERE customer_id = $1 AND (status = 'REDEEMED' OR expires_at > now())"};

static const PgStmt stmt_completed = {
        "rm_completed", "SELECT count(*) FROM readmodel.orders WHERE customer_id = $1 AND status = 'COMPLETED'"};

int readmodel_new(Readmodel **ret, PgPool *pool) {
        Readmodel *rm = calloc(1, sizeof(*rm));
        if (!rm)
                return -ENOMEM;
        rm->pool = pool;
        *ret = rm;
        return 0;
}

void readmodel_free(Readmodel *rm) {
        free(rm);
}

int readmodel_status_array(const char *list, char *buf, size_t cap) {
        size_t pos = 0;
        const char *p = list;

        if (cap < 3)
                return -EINVAL;
        buf[pos++] = '{';
        while (*p) {
                size_t n = strcspn(p, ","), i;
                for (i = 0; i < sizeof(readmodel_statuses) / sizeof(readmodel_statuses[0]); i++)
                        if (strlen(readmodel_statuses[i]) == n && strncmp(readmodel_statuses[i], p, n) == 0)
                                break;
                if (i == sizeof(readmodel_statuses) / sizeof(readmodel_statuses[0]) || pos + n + 2 >= cap)
                        return -EINVAL;
                if (pos > 1)
                        buf[pos++] = ',';
                memcpy(buf + pos, p, n);
                pos += n;
                p += n;
                if (*p == ',' && *++p == 0)
                        return -EINVAL; /* trailing comma */
        }
        if (pos == 1)
                return -EINVAL;
        buf[pos++] = '}';
        buf[pos] = 0;
        return 0;
}

/* Runs a statement on a pooled session, reconnecting once when the session broke (e.g. a
 * PostgreSQL restart) so that one stale socket does not fail a request; a session that stays
 * broken is closed by pgpool_release and its slot opens a fresh one next time. -ETIMEDOUT when
 * every session stayed busy for GATEWAY_PG_WAIT_MS. */
static int readmodel_run(Readmodel *rm, const PgStmt *st, int n, const char *const *vals, PGresult **ret) {
        Pg *pg = NULL;
        int r = pgpool_acquire(rm->pool, &pg);
        if (r < 0) {
                if (r == -ETIMEDOUT)
                        log_debug("readmodel: %s: no PostgreSQL session free in time", st->name);
                return r;
        }
        r = pg_run(pg, st, n, vals, NULL, NULL, ret);
        if (r == -ENOTCONN && pg_ensure(pg) == 0)
                r = pg_run(pg, st, n, vals, NULL, NULL, ret);
        if (r < 0)
                log_warn("readmodel: %s failed: %s", st->name, pg_error(pg));
        pgpool_release(rm->pool, pg);
        return r;
}

/* For the single-cell queries: hands over a strdup of cell (0,0). */
static int readmodel_text(Readmodel *rm, const PgStmt *st, int n, const char *const *vals, char **ret) {
        PGresult *res = NULL;
        int r = readmodel_run(rm, st, n, vals, &res);
        if (r < 0)
                return r;
        *ret = strdup(PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "[]");
        PQclear(res);
        return *ret ? 0 : -ENOMEM;
}

int readmodel_order(Readmodel *rm, const char *order_id, ReadOrder *ret) {
        const char *vals[] = {order_id};
        PGresult *res = NULL;
        int r = readmodel_run(rm, &stmt_order, 1, vals, &res);

        if (r < 0)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return READMODEL_NOT_FOUND;
        }
        snprintf(ret->customer_id, sizeof(ret->customer_id), "%s", PQgetvalue(res, 0, 0));
        snprintf(ret->store_id, sizeof(ret->store_id), "%s", PQgetvalue(res, 0, 1));
        snprintf(ret->status, sizeof(ret->status), "%s", PQgetvalue(res, 0, 4));
        ret->version = pg_ll(res, 0, 2);
        ret->view = strdup(PQgetvalue(res, 0, 3));
        PQclear(res);
        return ret->view ? 0 : -ENOMEM;
}

void readmodel_order_clear(ReadOrder *o) {
        free(o->view);
        o->view = NULL;
}

int readmodel_customer_orders(Readmodel *rm, const char *customer_id, const char *statuses, char **ret) {
        const char *vals[] = {customer_id, statuses};
        return readmodel_text(rm, &stmt_customer_orders, 2, vals, ret);
}

int readmodel_store_orders(Readmodel *rm, const char *store_id, const char *statuses, char **ret) {
        const char *vals[] = {store_id, statuses};
        return readmodel_text(rm, &stmt_store_orders, 2, vals, ret);
}

int readmodel_open_deliveries(Readmodel *rm, const GeoFilter *f, char **ret) {
        char lat[32], lon[32], radius[32];
        const char *vals[] = {f->region, NULL, NULL, NULL};

        if (f->near) {
                snprintf(lat, sizeof(lat), "%.9g", f->lat);
                snprintf(lon, sizeof(lon), "%.9g", f->lon);
                snprintf(radius, sizeof(radius), "%.9g", f->radius_m);
                vals[1] = lat;
                vals[2] = lon;
                vals[3] = radius;
        }
        return readmodel_text(rm, &stmt_deliveries, 4, vals, ret);
}

int readmodel_notifications(Readmodel *rm, const char *customer_id, const char *order_id, char **ret) {
        const char *vals[] = {customer_id, order_id};
        return readmodel_text(rm, &stmt_notifications, 2, vals, ret);
}

int readmodel_coupons(Readmodel *rm, const char *customer_id, char **ret) {
        const char *vals[] = {customer_id};
        return readmodel_text(rm, &stmt_coupons, 1, vals, ret);
}

int readmodel_completed_orders(Readmodel *rm, const char *customer_id, int64_t *ret) {
        const char *vals[] = {customer_id};
        PGresult *res = NULL;
        int r = readmodel_run(rm, &stmt_completed, 1, vals, &res);
        if (r < 0)
                return r;
        *ret = pg_ll(res, 0, 0);
        PQclear(res);
        return 0;
}

