/* projector-rebuild: rebuilds readmodel.orders and readmodel.deliveries from the archive (the
 * FOOD_ORDER stream from its first event) into fresh tables with the read model's own writer
 * (lib/readmodel-write.c, which the orchestrator writes the live rows with), then swaps them in
 * under a lock that holds the orchestrator's writes back while the last events are caught up. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "config.h"
#include "log.h"
#include "pg.h"
#include "codec.h"
#include "order-check.h"
#include "archive-read.h"
#include "readmodel-write.h"

#define REBUILD_SCHEMA "readmodel_rebuild"
#define REBUILD_BATCH 500         /* events per transaction while building */
#define REBUILD_WAIT_MS 10000     /* longest silence of the server while reading */
#define REBUILD_COVER_MS 2000     /* under the lock: live rows the archive lacks are waited for this long at most */
#define REBUILD_COVER_EVERY_MS 200

extern const EmbeddedFile readmodel_migrations[];
extern const size_t readmodel_migrations_len;

static const char rebuild_prepare_sql[] =
        "DROP SCHEMA IF EXISTS " REBUILD_SCHEMA " CASCADE;"
        "CREATE SCHEMA " REBUILD_SCHEMA ";"
        "CREATE TABLE " REBUILD_SCHEMA ".orders (LIKE readmodel.orders INCLUDING ALL);"
        "CREATE TABLE " REBUILD_SCHEMA ".deliveries (LIKE readmodel.deliveries INCLUDING ALL);";

/* Readers keep reading the old rows until the swap commits; the orchestrator's writes wait. */
static const char rebuild_lock_sql[] = "LOCK TABLE readmodel.orders, readmodel.deliveries IN EXCLUSIVE MODE";

static const char rebuild_swap_sql[] =
        "TRUNCATE readmodel.orders, readmodel.deliveries;"
        "INSERT INTO readmodel.orders (id, customer_id, store_id, status, version, view, created_at, updated_at)"
        " SELECT id, customer_id, store_id, status, version, view, created_at, updated_at FROM " REBUILD_SCHEMA
        ".orders;"
        "INSERT INTO readmodel.deliveries (id, order_id, store_id, status, rider_id, region, lat, lon, view, version,"
        " updated_at) SELECT id, order_id, store_id, status, rider_id, region, lat, lon, view, version, updated_at"
        " FROM " REBUILD_SCHEMA ".deliveries;";

/* Live rows the rebuild does not cover: none of its rows has their id at their version or later. */
static const PgStmt st_uncovered = {
        "rebuild_uncovered",
        "SELECT (SELECT count(*) FROM readmodel.orders l WHERE NOT EXISTS (SELECT 1 FROM " REBUILD_SCHEMA ".orders r"
        "  WHERE r.id = l.id AND r.version >= l.version))"
        " + (SELECT count(*) FROM readmodel.deliveries l WHERE NOT EXISTS (SELECT 1 FROM " REBUILD_SCHEMA
        ".deliveries r WHERE r.id = l.id AND r.version >= l.version))"};

/* Rows of the live read model that the rebuild would change, and rebuilt rows it lacks. */
static const PgStmt st_diff = {
        "rebuild_diff",
        "SELECT (SELECT count(*) FROM (SELECT id, customer_id, store_id, status, version, view, created_at, updated_at"
        "  FROM readmodel.orders EXCEPT SELECT id, customer_id, store_id, status, version, view, created_at,"
        "  updated_at FROM " REBUILD_SCHEMA ".orders) a),"
        " (SELECT count(*) FROM (SELECT id, customer_id, store_id, status, version, view, created_at, updated_at"
        "  FROM " REBUILD_SCHEMA ".orders EXCEPT SELECT id, customer_id, store_id, status, version, view,"
        "  created_at, updated_at FROM readmodel.orders) b),"
        " (SELECT count(*) FROM (SELECT * FROM readmodel.deliveries EXCEPT SELECT * FROM " REBUILD_SCHEMA
        ".deliveries) c),"
        " (SELECT count(*) FROM (SELECT * FROM " REBUILD_SCHEMA ".deliveries EXCEPT SELECT * FROM"
        "  readmodel.deliveries) d),"
        " (SELECT count(*) FROM " REBUILD_SCHEMA ".orders), (SELECT count(*) FROM " REBUILD_SCHEMA ".deliveries)"};

static void usage(FILE *f) {
        fprintf(f, "usage: projector-rebuild [--dry-run] [--keep] [--nats-url URL] [--database-url URL]\n"
                   "  Rebuilds readmodel.orders and readmodel.deliveries from the FOOD_ORDER stream into the schema\n"
                   "  " REBUILD_SCHEMA ", reports how they differ from the live rows, and (unless --dry-run)\n"
                   "  swaps them in. --keep leaves " REBUILD_SCHEMA " in place to inspect the differences.\n"
                   "  NATS_URL and DATABASE_URL as for every service.\n");
}

/* The newest snapshot of each order among a batch of events (a multi-row upsert takes each once). */
typedef struct {
        Food__V1__Order *orders[REBUILD_BATCH];
        int64_t at_ms[REBUILD_BATCH];
        size_t n;
} RebuildBatch;

static void batch_clear(RebuildBatch *b) {
        for (size_t i = 0; i < b->n; i++)
                codec_free(&b->orders[i]->base);
        b->n = 0;
}

/* Keeps a copy of the event's order unless the batch has a newer one of it. 0 or negative errno. */
static int batch_keep(RebuildBatch *b, const Food__V1__OrderStatusChanged *ev) {
        uint8_t *data = NULL;
        size_t len = 0;
        ProtobufCMessage *copy = NULL;
        size_t i;
        int r;
        for (i = 0; i < b->n && strcmp(b->orders[i]->id, ev->order->id) != 0; i++)
                ;
        if (i < b->n && b->orders[i]->version >= ev->order->version)
                return 0;
        r = codec_pack(&ev->order->base, &data, &len);
        if (r == 0)
                r = codec_unpack(&food__v1__order__descriptor, data, len, &copy);
        free(data);
        if (r < 0)
                return r;
        if (i < b->n)
                codec_free(&b->orders[i]->base);
        else
                b->n++;
        b->orders[i] = (Food__V1__Order *)copy;
        b->at_ms[i] = ev->at_ms;
        return 0;
}

/* Writes the batch: in one transaction of its own, or in the caller's (`in_tx`). */
static int batch_write(Pg *pg, RebuildBatch *b, bool in_tx) {
        ReadmodelWrite w;
        PgCall calls[3];
        int n = 0, r = 0;
        readmodel_write_init(&w);
        for (size_t i = 0; i < b->n && r == 0; i++)
                r = readmodel_write_add(&w, b->orders[i], b->at_ms[i]);
        if (r == 0)
                r = n = readmodel_write_calls(&w, calls);
        if (r >= 0 && n > 0)
                r = in_tx ? pg_pipeline(pg, calls, (size_t)n) : pg_transaction(pg, calls, (size_t)n);
        readmodel_write_free(&w);
        batch_clear(b);
        return r < 0 ? r : 0;
}

/* Applies every event the reader still has to the rebuild tables, REBUILD_BATCH events a statement
 * (each in a transaction of its own unless `in_tx`: the caller's). An event the orchestrator could
 * never have written (impossible content) is skipped. Adds to *n. */
static int rebuild_apply(Pg *pg, ArchiveReader *rd, bool in_tx, int64_t *n) {
        static RebuildBatch b;
        ArchiveEvent ev;
        int r;

        while ((r = archive_next(rd, &ev, REBUILD_WAIT_MS)) > 0) {
                const char *why = NULL;
                (*n)++;
                if (order_check(ev.ev->order, &why) < 0 ||
                    !order_check_transition(ev.ev->previous_status, ev.ev->order->status)) {
                        log_warn("rebuild: event seq %" PRIu64 " skipped: %s", ev.seq,
                                 why ? why : "an impossible status change");
                        continue;
                }
                r = batch_keep(&b, ev.ev);
                if (r == 0 && b.n == REBUILD_BATCH)
                        r = batch_write(pg, &b, in_tx);
                if (r < 0)
                        return log_error_errno(r, "rebuild: writing up to event seq %" PRIu64 " failed: %s", ev.seq,
                                               pg_error(pg));
        }
        if (r == 0 && b.n > 0 && (r = batch_write(pg, &b, in_tx)) < 0)
                log_error("rebuild: writing the last events failed: %s", pg_error(pg));
        return r;
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The catch-up under the lock. A batch the orchestrator committed just before the lock publishes its status events
 * right after its commit, so they can still be missing from the stream: the live rows such a batch wrote are waited
 * for in the archive (read again every REBUILD_COVER_EVERY_MS, for REBUILD_COVER_MS at most), or the swap would put
 * their earlier versions back for good. What is still not covered then, no event made (a damaged row): replaced. */
static int rebuild_cover(Pg *pg, ArchiveReader *rd, int64_t *n) {
        double until = now_s() + REBUILD_COVER_MS / 1000.0;
        for (;;) {
                PGresult *res = NULL;
                int r = archive_extend(rd);
                if (r == 0)
                        r = rebuild_apply(pg, rd, true, n);
                if (r == 0)
                        r = pg_run(pg, &st_uncovered, 0, NULL, NULL, NULL, &res);
                if (r < 0)
                        return r;
                long long left = pg_ll(res, 0, 0);
                PQclear(res);
                if (left == 0)
                        return 0;
                if (now_s() >= until) {
                        log_warn("rebuild: %lld live row(s) that no archived event makes (or of a later version than "
                                 "the archive's), waited for %d ms: replaced by the rebuilt ones",
                                 left, REBUILD_COVER_MS);
                        return 0;
                }
                struct timespec pause = {0, REBUILD_COVER_EVERY_MS * 1000000L};
                nanosleep(&pause, NULL);
        }
}

int main(int argc, char **argv) {
        const char *nats_url = NULL, *db_url = NULL;
        bool dry_run = false, keep = false;
        volatile bool give_up = true; /* one connection attempt */
        NatsConfig nats;
        Bus *bus = NULL;
        ArchiveReader *rd = NULL;
        Pg *admin = NULL, *pg = NULL;
        PGresult *res = NULL;
        ExportStart start = {0};
        int64_t events = 0, caught_up = 0;
        double t0 = now_s();
        int r;

        log_setup("projector-rebuild", LOG_INFO);
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--dry-run") == 0)
                        dry_run = true;
                else if (strcmp(argv[i], "--keep") == 0)
                        keep = true;
                else if (strcmp(argv[i], "--nats-url") == 0 && i + 1 < argc)
                        nats_url = argv[++i];
                else if (strcmp(argv[i], "--database-url") == 0 && i + 1 < argc)
                        db_url = argv[++i];
                else {
                        usage(strcmp(argv[i], "--help") == 0 ? stdout : stderr);
                        return strcmp(argv[i], "--help") == 0 ? 0 : 2;
                }
        }
        if (config_nats(&nats) < 0)
                return 2;
        if (!db_url && config_str("DATABASE_URL", "postgresql://food@127.0.0.1:5433/food", &db_url) < 0)
                return 2;

        r = pg_connect(&admin, db_url, "readmodel");
        if (r == 0)
                r = pg_migrate(admin, "readmodel", readmodel_migrations, readmodel_migrations_len);
        if (r == 0 && (r = pg_exec(admin, rebuild_prepare_sql)) < 0)
                log_error("rebuild: cannot create %s: %s", REBUILD_SCHEMA, pg_error(admin));
        /* The read model's statements name orders/deliveries unqualified: on this connection they
         * are the rebuild tables. */
        if (r == 0)
                r = pg_connect(&pg, db_url, REBUILD_SCHEMA);
        if (r < 0)
                goto out;
        if (nats_url)
                nats.url = nats_url;
        r = bus_connect(&bus, &nats, "projector-rebuild", &give_up);
        if (r < 0) {
                log_error("rebuild: cannot connect to %s", nats.url);
                goto out;
        }
        r = archive_open(&rd, bus, &start);
        if (r < 0) {
                log_error("rebuild: cannot read %s: %s", ARCHIVE_STREAM, strerror(-r));
                goto out;
        }
        log_info("rebuild: replaying %s up to seq %" PRIu64, ARCHIVE_STREAM, archive_end_seq(rd));
        r = rebuild_apply(pg, rd, false, &events);
        if (r < 0)
                goto out;

        /* Catch up under the lock: from here the orchestrator's writes wait, so nothing they apply is lost. */
        r = pg_begin(pg);
        if (r == 0 && (r = pg_exec(pg, rebuild_lock_sql)) < 0)
                log_error("rebuild: cannot lock the read model: %s", pg_error(pg));
        if (r == 0)
                r = rebuild_cover(pg, rd, &caught_up);
        if (r == 0)
                r = pg_run(pg, &st_diff, 0, NULL, NULL, NULL, &res);
        if (r < 0) {
                pg_rollback(pg);
                goto out;
        }
        log_info("rebuild: %lld events (%lld caught up under the lock) -> %lld orders, %lld deliveries; live rows"
                 " that change: %lld orders, %lld deliveries; rows the live model lacks: %lld orders, %lld deliveries",
                 (long long)(events + caught_up), (long long)caught_up, pg_ll(res, 0, 4), pg_ll(res, 0, 5),
                 pg_ll(res, 0, 0), pg_ll(res, 0, 2), pg_ll(res, 0, 1), pg_ll(res, 0, 3));
        printf("{\"events\":%lld,\"orders\":%lld,\"deliveries\":%lld,\"changed_orders\":%lld,\"missing_orders\":%lld,"
               "\"changed_deliveries\":%lld,\"missing_deliveries\":%lld,\"swapped\":%s,\"seconds\":%.3f}\n",
               (long long)(events + caught_up), pg_ll(res, 0, 4), pg_ll(res, 0, 5), pg_ll(res, 0, 0), pg_ll(res, 0, 1),
               pg_ll(res, 0, 2), pg_ll(res, 0, 3), dry_run ? "false" : "true", now_s() - t0);
        fflush(stdout);
        if (dry_run) {
                pg_rollback(pg);
                goto out;
        }
        r = pg_exec(pg, rebuild_swap_sql);
        if (r == 0)
                r = pg_commit(pg);
        if (r < 0) {
                log_error("rebuild: swap failed, the live read model is unchanged: %s", pg_error(pg));
                pg_rollback(pg);
                goto out;
        }
        log_info("rebuild: swapped in");
out:
        PQclear(res);
        if (admin && !keep && pg_exec(admin, "DROP SCHEMA IF EXISTS " REBUILD_SCHEMA " CASCADE") < 0)
                log_warn("rebuild: cannot drop %s: %s", REBUILD_SCHEMA, pg_error(admin));
        archive_close(rd);
        bus_free(bus);
        pg_free(pg);
        pg_free(admin);
        nats_Close();
        return r < 0 ? 1 : 0;
}
