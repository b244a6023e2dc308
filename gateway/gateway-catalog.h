/* The catalog (stores, menus) held in memory: asked of the reader at start
 * and swapped on refresh, listed and filtered for GET /stores, and the only
 * source of prices when an order is placed or modified. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "food.pb-c.h"
#include "gateway-json.h"

#define CATALOG_NAME_MAX 255   /* bytes of a store or item name (schema CHECK) */
#define CATALOG_ID_MAX 64
#define CATALOG_UNKNOWN 1      /* result: no such store */

typedef struct Catalog Catalog;
typedef struct Readmodel Readmodel;

/* Filter of GET /stores and GET /deliveries: region, and/or a circle. */
typedef struct {
        const char *region; /* NULL: any */
        bool near;          /* lat/lon/radius_m given */
        double lat, lon, radius_m;
} GeoFilter;

/* Order lines priced from the catalog, ready to go into an Order message:
 * items[i] point into the strings held here (no allocation to free). */
typedef struct {
        size_t n_items;
        Food__V1__OrderItem *items[GJSON_MAX_ITEMS];
        Food__V1__OrderItem item_store[GJSON_MAX_ITEMS];
        char ids[GJSON_MAX_ITEMS][CATALOG_ID_MAX + 1];
        char names[GJSON_MAX_ITEMS][CATALOG_NAME_MAX + 1];
        int64_t total;
        Food__V1__Location pickup; /* the store: text = its name */
        char pickup_text[CATALOG_NAME_MAX + 1];
        char pickup_region[CATALOG_ID_MAX + 1];
        char thank_you[512]; /* the store's message on completion */
} PricedOrder;

int catalog_new(Catalog **ret);
void catalog_free(Catalog *c);

/* Asks the reader for the stores and menu items and swaps them in; readers
 * keep seeing the previous catalog until then. 0 or the negative errno of
 * readmodel_query (the previous catalog stays). */
int catalog_load(Catalog *c, Readmodel *rm);
bool catalog_loaded(Catalog *c);
size_t catalog_store_count(Catalog *c);

/* Great-circle distance in metres. */
double catalog_distance_m(double lat1, double lon1, double lat2, double lon2);

/* [{"id","name","name_en","region","lat","lon"(,"distance_m")}] of the
 * stores matching `f`, nearest first for a circle. New reference or NULL. */
json_t *catalog_stores_json(Catalog *c, const GeoFilter *f);
/* [{"id","name","name_en","price","available"}] of the store's menu: 0 with
 * *ret (new reference), CATALOG_UNKNOWN, or -ENOMEM. */
int catalog_menu_json(Catalog *c, const char *store_id, json_t **ret);
bool catalog_store_exists(Catalog *c, const char *store_id);

/* Prices `n` lines against the menu of `store_id` into *ret. Returns 0, or
 * 422 with *problem naming the line (unknown store, unknown item, item of
 * another store, unavailable item). */
int catalog_price(Catalog *c, const char *store_id, const JsonItem *items, size_t n, PricedOrder *ret,
                  JsonProblem *problem);
