/* The read side's queries (reader-queries.h). List queries answer a ready JSON array built by PostgreSQL. */
#include "reader-queries.h"

#include <string.h>

#include "topology.h"

/* An order whose payment was never authorized (PAYMENT_PENDING, REJECTED) was never established (F3): lists
 * leave it out unless a customer asks for those statuses by name; a store never sees it. */
static const ReaderQuery reader_queries[] = {
        {TOPO_READ_ORDER,
         {"rm_order", "SELECT customer_id, store_id, version, view, status FROM readmodel.orders WHERE id = $1"},
         1},
        /* The customer's orders, newest first (the newest 200); $2 a text[] of statuses or NULL. */
        {TOPO_READ_CUSTOMER_ORDERS,
         {"rm_customer_orders",
          "SELECT '[' || coalesce(string_agg(o.view, ',' ORDER BY o.created_at DESC, o.id DESC), '') || ']' FROM ("
          " SELECT view, created_at, id FROM readmodel.orders WHERE customer_id = $1"
          " AND (status = ANY ($2::text[]) OR ($2::text[] IS NULL AND status NOT IN ('PAYMENT_PENDING', 'REJECTED')))"
          " ORDER BY created_at DESC, id DESC LIMIT 200) o"},
         2},
        /* The store's orders, oldest first (of its newest 500, so new ones always show). */
        {TOPO_READ_STORE_ORDERS,
         {"rm_store_orders",
          "SELECT '[' || coalesce(string_agg(o.view, ',' ORDER BY o.created_at, o.id), '') || ']' FROM ("
          " SELECT view, created_at, id FROM readmodel.orders WHERE store_id = $1"
          " AND ($2::text[] IS NULL OR status = ANY ($2::text[])) AND status NOT IN ('PAYMENT_PENDING', 'REJECTED')"
          " ORDER BY created_at DESC, id DESC LIMIT 500) o"},
         2},
        /* Open deliveries by dropoff region and/or within $4 metres of ($2, $3): haversine in SQL, a handful of
         * rows per region, no PostGIS needed. */
        {TOPO_READ_OPEN_DELIVERIES,
         {"rm_open_deliveries",
          "SELECT '[' || coalesce(string_agg(d.view, ',' ORDER BY d.updated_at, d.id), '') || ']' FROM ("
          " SELECT view, updated_at, id FROM readmodel.deliveries WHERE status = 'OPEN'"
          " AND ($1::text IS NULL OR region = $1)"
          " AND ($2::float8 IS NULL OR 2 * 6371000 * asin(least(1, sqrt("
          "   power(sin(radians(lat - $2::float8) / 2), 2)"
          "   + cos(radians($2::float8)) * cos(radians(lat)) * power(sin(radians(lon - $3::float8) / 2), 2))))"
          "   <= $4::float8)"
          " ORDER BY updated_at, id LIMIT 200) d"},
         4},
        /* The customer's notifications (of one order when $2 is not NULL), oldest first of the newest 200. */
        {TOPO_READ_NOTIFICATIONS,
         {"rm_notifications",
          "SELECT coalesce(json_agg(json_build_object('order_id', n.order_id, 'status', n.status,"
          " 'message', n.message, 'at', to_char(n.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
          " ORDER BY n.id), '[]')::text FROM ("
          " SELECT id, order_id, status, message, at FROM notification.notifications WHERE customer_id = $1"
          " AND ($2::text IS NULL OR order_id = $2) ORDER BY id DESC LIMIT 200) n"},
         2},
        /* The customer's coupons, unexpired or used. */
        {TOPO_READ_COUPONS,
         {"rm_coupons",
          "SELECT coalesce(json_agg(json_build_object('id', id, 'store_id', store_id, 'discount', discount,"
          " 'used', status = 'REDEEMED') ORDER BY created_at), '[]')::text FROM coupon.coupons"
          " WHERE customer_id = $1 AND (status = 'REDEEMED' OR expires_at > now())"},
         1},
        {TOPO_READ_COMPLETED_ORDERS,
         {"rm_completed", "SELECT count(*) FROM readmodel.orders WHERE customer_id = $1 AND status = 'COMPLETED'"},
         1},
        /* The catalog, which the gateway holds in memory: stores by id, then their items in menu order. */
        {TOPO_READ_CATALOG_STORES,
         {"catalog_stores", "SELECT id, name, name_en, region, lat, lon, thank_you FROM catalog.stores ORDER BY id"},
         0},
        {TOPO_READ_CATALOG_ITEMS,
         {"catalog_items", "SELECT i.id, i.store_id, i.name, i.name_en, i.price, i.available"
                           " FROM catalog.menu_items i JOIN catalog.stores s ON s.id = i.store_id"
                           " ORDER BY i.store_id, i.position, i.id"},
         0},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const ReaderQuery *reader_query(const char *name) {
        for (size_t i = 0; name && i < COUNT(reader_queries); i++)
                if (strcmp(reader_queries[i].name, name) == 0)
                        return &reader_queries[i];
        return NULL;
}

const ReaderQuery *reader_query_at(size_t i) {
        return i < COUNT(reader_queries) ? &reader_queries[i] : NULL;
}
