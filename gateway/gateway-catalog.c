/* In-memory catalog: an immutable snapshot (backed by the reader's answers) swapped under a rwlock. */
#include "gateway-catalog.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "gateway-readmodel.h"

typedef struct {
        const char *id, *name, *name_en, *region, *thank_you;
        double lat, lon;
        size_t first_item, n_items; /* its items are contiguous in Snapshot.items */
} CatStore;

typedef struct {
        const char *id, *name, *name_en;
        int64_t price;
        bool available;
        size_t store; /* index in Snapshot.stores */
} CatItem;

/* Strings point into the two answers, freed together with the snapshot. */
typedef struct {
        Food__V1__ReadRows *stores_res, *items_res;
        CatStore *stores; /* sorted by id */
        size_t n_stores;
        CatItem *items; /* grouped by store, menu order */
        size_t n_items;
        CatItem **by_id; /* items sorted by id */
} Snapshot;

struct Catalog {
        pthread_rwlock_t lock;
        Snapshot *snap; /* NULL until the first load */
};

static void snapshot_free(Snapshot *s) {
        if (!s)
                return;
        if (s->stores_res)
                codec_free(&s->stores_res->base);
        if (s->items_res)
                codec_free(&s->items_res->base);
        free(s->stores);
        free(s->items);
        free(s->by_id);
        free(s);
}

static int store_cmp_id(const void *key, const void *elem) {
        return strcmp(key, ((const CatStore *)elem)->id);
}

static int item_ptr_cmp(const void *a, const void *b) {
        return strcmp((*(CatItem *const *)a)->id, (*(CatItem *const *)b)->id);
}

static int item_cmp_id(const void *key, const void *elem) {
        return strcmp(key, (*(CatItem *const *)elem)->id);
}

static const CatStore *snapshot_store(const Snapshot *s, const char *id) {
        return bsearch(id, s->stores, s->n_stores, sizeof(CatStore), store_cmp_id);
}

static const CatItem *snapshot_item(const Snapshot *s, const char *id) {
        CatItem *const *p = bsearch(id, s->by_id, s->n_items, sizeof(CatItem *), item_cmp_id);
        return p ? *p : NULL;
}

static int snapshot_build(Snapshot *s) {
        size_t ns = readmodel_rows(s->stores_res), ni = readmodel_rows(s->items_res);

        /* The columns of reader-queries.c's catalog queries: another layout (a reader of another version) or a
         * price that is no number keeps the previous catalog rather than pricing from garbage. */
        if ((ns && s->stores_res->columns != 7) || (ni && s->items_res->columns != 6))
                return -EPROTO;

        s->stores = calloc(ns + 1, sizeof(CatStore));
        s->items = calloc(ni + 1, sizeof(CatItem));
        s->by_id = calloc(ni + 1, sizeof(CatItem *));
        if (!s->stores || !s->items || !s->by_id)
                return -ENOMEM;
        for (size_t r = 0; r < ns; r++) {
                CatStore *st = &s->stores[r];
                st->id = readmodel_cell(s->stores_res, r, 0);
                st->name = readmodel_cell(s->stores_res, r, 1);
                st->name_en = readmodel_cell(s->stores_res, r, 2);
                st->region = readmodel_cell(s->stores_res, r, 3);
                st->lat = strtod(readmodel_cell(s->stores_res, r, 4), NULL);
                st->lon = strtod(readmodel_cell(s->stores_res, r, 5), NULL);
                st->thank_you = readmodel_cell(s->stores_res, r, 6);
        }
        s->n_stores = ns;
        for (size_t r = 0; r < ni; r++) {
                CatItem *it = &s->items[s->n_items];
                const CatStore *st = snapshot_store(s, readmodel_cell(s->items_res, r, 1));
                if (!st)
                        continue; /* the JOIN makes this impossible; stay safe anyway */
                it->id = readmodel_cell(s->items_res, r, 0);
                it->name = readmodel_cell(s->items_res, r, 2);
                it->name_en = readmodel_cell(s->items_res, r, 3);
                if (readmodel_ll(s->items_res, r, 4, &it->price) < 0)
                        return -EPROTO;
                it->available = strcmp(readmodel_cell(s->items_res, r, 5), "t") == 0;
                it->store = (size_t)(st - s->stores);
                if (s->stores[it->store].n_items == 0)
                        s->stores[it->store].first_item = s->n_items;
                s->stores[it->store].n_items++;
                s->by_id[s->n_items] = it;
                s->n_items++;
        }
        qsort(s->by_id, s->n_items, sizeof(CatItem *), item_ptr_cmp);
        return 0;
}

int catalog_new(Catalog **ret) {
        Catalog *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        if (pthread_rwlock_init(&c->lock, NULL) != 0) {
                free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

void catalog_free(Catalog *c) {
        if (!c)
                return;
        snapshot_free(c->snap);
        pthread_rwlock_destroy(&c->lock);
        free(c);
}

int catalog_load(Catalog *c, Readmodel *rm) {
        Snapshot *s = calloc(1, sizeof(*s)), *old;
        int r;

        if (!s)
                return -ENOMEM;
        r = readmodel_query(rm, TOPO_READ_CATALOG_STORES, 0, NULL, &s->stores_res);
        if (r == 0)
                r = readmodel_query(rm, TOPO_READ_CATALOG_ITEMS, 0, NULL, &s->items_res);
        if (r == 0)
                r = snapshot_build(s);
        if (r < 0) {
                snapshot_free(s);
                return r;
        }
        pthread_rwlock_wrlock(&c->lock);
        old = c->snap;
        c->snap = s;
        pthread_rwlock_unlock(&c->lock);
        snapshot_free(old);
        return 0;
}

bool catalog_loaded(Catalog *c) {
        bool loaded;
        pthread_rwlock_rdlock(&c->lock);
        loaded = c->snap != NULL;
        pthread_rwlock_unlock(&c->lock);
        return loaded;
}

size_t catalog_store_count(Catalog *c) {
        size_t n;
        pthread_rwlock_rdlock(&c->lock);
        n = c->snap ? c->snap->n_stores : 0;
        pthread_rwlock_unlock(&c->lock);
        return n;
}

double catalog_distance_m(double lat1, double lon1, double lat2, double lon2) {
        const double rad = M_PI / 180.0;
        double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
        double a = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
        return 2 * 6371000.0 * asin(fmin(1.0, sqrt(a)));
}

typedef struct {
        const CatStore *store;
        double distance;
} StoreHit;

static int hit_cmp(const void *a, const void *b) {
        double da = ((const StoreHit *)a)->distance, db = ((const StoreHit *)b)->distance;
        return (da > db) - (da < db);
}

json_t *catalog_stores_json(Catalog *c, const GeoFilter *f) {
        json_t *out = json_array();
        StoreHit *hits = NULL;
        size_t n = 0;

        pthread_rwlock_rdlock(&c->lock);
        if (!out || !c->snap)
                goto out;
        hits = calloc(c->snap->n_stores + 1, sizeof(StoreHit));
        if (!hits) {
                json_decref(out);
                out = NULL;
                goto out;
        }
        for (size_t i = 0; i < c->snap->n_stores; i++) {
                const CatStore *st = &c->snap->stores[i];
                double d = f->near ? catalog_distance_m(f->lat, f->lon, st->lat, st->lon) : 0;
                if (f->region && strcmp(f->region, st->region) != 0)
                        continue;
                if (f->near && d > f->radius_m)
                        continue;
                hits[n++] = (StoreHit){st, d};
        }
        if (f->near)
                qsort(hits, n, sizeof(StoreHit), hit_cmp);
        for (size_t i = 0; i < n; i++) {
                const CatStore *st = hits[i].store;
                json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f}", "id", st->id, "name", st->name, "name_en",
                                      st->name_en, "region", st->region, "lat", st->lat, "lon", st->lon);
                if (o && f->near)
                        json_object_set_new(o, "distance_m", json_integer((json_int_t)llround(hits[i].distance)));
                if (!o || json_array_append_new(out, o) < 0) {
                        json_decref(out);
                        out = NULL;
                        goto out;
                }
        }
out:
        pthread_rwlock_unlock(&c->lock);
        free(hits);
        return out;
}

int catalog_menu_json(Catalog *c, const char *store_id, json_t **ret) {
        const CatStore *st;
        json_t *out = NULL;
        int r = CATALOG_UNKNOWN;

        pthread_rwlock_rdlock(&c->lock);
        st = c->snap ? snapshot_store(c->snap, store_id) : NULL;
        if (!st)
                goto out;
        r = -ENOMEM;
        out = json_array();
        if (!out)
                goto out;
        for (size_t i = 0; i < st->n_items; i++) {
                const CatItem *it = &c->snap->items[st->first_item + i];
                json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:b}", "id", it->id, "name", it->name, "name_en",
                                      it->name_en, "price", (json_int_t)it->price, "available", it->available);
                if (!o || json_array_append_new(out, o) < 0) {
                        json_decref(out);
                        goto out;
                }
        }
        *ret = out;
        r = 0;
out:
        pthread_rwlock_unlock(&c->lock);
        return r;
}

bool catalog_store_exists(Catalog *c, const char *store_id) {
        bool found;
        pthread_rwlock_rdlock(&c->lock);
        found = c->snap && snapshot_store(c->snap, store_id);
        pthread_rwlock_unlock(&c->lock);
        return found;
}

int catalog_price(Catalog *c, const char *store_id, const JsonItem *items, size_t n, PricedOrder *ret,
                  JsonProblem *problem) {
        const CatStore *st;
        int r = 0;

        if (n > GJSON_MAX_ITEMS)
                return gjson_problem(problem, 422, "too many items: %zu lines, at most %d", n, GJSON_MAX_ITEMS);
        pthread_rwlock_rdlock(&c->lock);
        st = c->snap ? snapshot_store(c->snap, store_id) : NULL;
        if (!st) {
                r = gjson_problem(problem, 422, "unknown store \"%s\"", store_id);
                goto out;
        }
        ret->n_items = n;
        ret->total = 0;
        for (size_t i = 0; i < n; i++) {
                const CatItem *it = snapshot_item(c->snap, items[i].menu_item_id);
                Food__V1__OrderItem *o = &ret->item_store[i];
                if (!it) {
                        r = gjson_problem(problem, 422, "items[%zu].menu_item_id \"%s\" is not a known menu item", i,
                                          items[i].menu_item_id);
                        goto out;
                }
                if (it->store != (size_t)(st - c->snap->stores)) {
                        r = gjson_problem(problem, 422,
                                          "items[%zu].menu_item_id \"%s\" belongs to another store, not %s", i,
                                          it->id, st->id);
                        goto out;
                }
                if (!it->available) {
                        r = gjson_problem(problem, 422, "items[%zu] \"%s\" (%s) is not available right now", i, it->id,
                                          it->name);
                        goto out;
                }
                food__v1__order_item__init(o);
                snprintf(ret->ids[i], sizeof(ret->ids[i]), "%s", it->id);
                snprintf(ret->names[i], sizeof(ret->names[i]), "%s", it->name);
                o->menu_item_id = ret->ids[i];
                o->name = ret->names[i];
                o->quantity = items[i].quantity;
                o->unit_price = it->price;
                ret->total += it->price * items[i].quantity;
                ret->items[i] = o;
        }
        food__v1__location__init(&ret->pickup);
        snprintf(ret->pickup_text, sizeof(ret->pickup_text), "%s", st->name);
        snprintf(ret->pickup_region, sizeof(ret->pickup_region), "%s", st->region);
        ret->pickup.text = ret->pickup_text;
        ret->pickup.region = ret->pickup_region;
        ret->pickup.lat = st->lat;
        ret->pickup.lon = st->lon;
        snprintf(ret->thank_you, sizeof(ret->thank_you), "%s", st->thank_you);
out:
        pthread_rwlock_unlock(&c->lock);
        return r;
}
