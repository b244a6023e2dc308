/* food-migrate: the operators' migration step. As a role allowed to create schemas and tables, it brings
 * every process's PostgreSQL schemas to the versions of this build and seeds the demo catalog when
 * DEMO_CATALOG is true, so that the processes can run with MIGRATIONS=check and no DDL rights. It uses
 * the processes' own migrations and pg_migrate (same schema_migrations tables, same advisory locks): it
 * and a process with MIGRATIONS=apply may run in any order, even at once.
 *
 * Environment: DATABASE_URL, DEMO_CATALOG (true/false, default true), LOG_LEVEL.
 * Exit: 0 when every schema is current; 1 with the reason in the log otherwise; 2 for a bad setting. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "pg.h"
#include "service.h"

extern const EmbeddedFile orchestrator_migrations[];
extern const size_t orchestrator_migrations_len;
extern const EmbeddedFile readmodel_migrations[];
extern const size_t readmodel_migrations_len;
extern const EmbeddedFile notification_migrations[];
extern const size_t notification_migrations_len;
extern const EmbeddedFile store_migrations[];
extern const size_t store_migrations_len;
extern const EmbeddedFile delivery_migrations[];
extern const size_t delivery_migrations_len;
extern const EmbeddedFile coupon_migrations[];
extern const size_t coupon_migrations_len;
extern const EmbeddedFile catalog_migrations[];
extern const size_t catalog_migrations_len;
extern const EmbeddedFile catalog_demo[];

/* How long a PostgreSQL that is still starting (installed by the same release) is waited for. */
#define MIGRATE_CONNECT_S 60
#define MIGRATE_MAX_SCHEMAS 3

/* One process's schemas exactly as its main.c hands them to service_start (its own first: the search path
 * its migrations run with). No schema's migrations refer to another's, so any order is safe; this one
 * follows the start order of the platform, the reader's catalog last. */
typedef struct {
        const char *process;
        ServiceSchema schemas[MIGRATE_MAX_SCHEMAS];
        size_t n;
} MigrateProcess;

/* Connects with `search_path`, waiting up to MIGRATE_CONNECT_S for a server that is not up yet. */
static int migrate_connect(const char *url, const char *search_path, Pg **ret) {
        for (int waited_ms = 0;; waited_ms += 1000) {
                int r = pg_connect(ret, url, search_path);
                if (r != -ENOTCONN || waited_ms >= MIGRATE_CONNECT_S * 1000)
                        return r;
                struct timespec ts = {1, 0};
                nanosleep(&ts, NULL);
        }
}

/* Applies one process's schemas and checks that each reached this build's version. 0 or negative errno
 * (logged). */
static int migrate_process(const char *url, const MigrateProcess *p, bool demo) {
        char path[160];
        Pg *pg = NULL;
        int r = service_search_path(path, sizeof(path), p->schemas, p->n);

        if (r == 0)
                r = migrate_connect(url, path, &pg);
        if (r < 0)
                return log_error_errno(r, "cannot connect to PostgreSQL (DATABASE_URL) for the schemas of %s",
                                       p->process);
        for (size_t i = 0; i < p->n && r == 0; i++) {
                const ServiceSchema *sc = &p->schemas[i];
                int latest = service_schema_latest(sc), version = 0;
                r = pg_migrate(pg, sc->name, sc->migrations, sc->n_migrations);
                if (r < 0) {
                        log_error_errno(r, "migrations of schema %s failed: %s", sc->name, pg_error(pg));
                        break;
                }
                r = service_schema_version(pg, sc->name, &version);
                if (r < 0) {
                        log_error_errno(r, "cannot read the version of schema %s: %s", sc->name, pg_error(pg));
                        break;
                }
                if (version < latest) {
                        r = log_error_errno(-EPROTO, "schema %s is at version %d after migrating, expected %d",
                                            sc->name, version, latest);
                        break;
                }
                log_info("schema %s is current (version %d; this build's %d)", sc->name, version, latest);
        }
        if (r == 0 && demo && p->schemas[0].migrations == catalog_migrations) {
                r = pg_exec(pg, catalog_demo[0].data);
                if (r < 0)
                        log_error_errno(r, "cannot seed the demo catalog: %s", pg_error(pg));
                else
                        log_info("demo catalog seeded (when the catalog had no store yet)");
        }
        pg_free(pg);
        return r;
}

int main(void) {
        const MigrateProcess processes[] = {
                {"orchestrator",
                 {{"orchestrator", orchestrator_migrations, orchestrator_migrations_len},
                  {"readmodel", readmodel_migrations, readmodel_migrations_len},
                  {"notification", notification_migrations, notification_migrations_len}},
                 3},
                {"notification", {{"notification", notification_migrations, notification_migrations_len}}, 1},
                {"store", {{"store", store_migrations, store_migrations_len}}, 1},
                {"delivery", {{"delivery", delivery_migrations, delivery_migrations_len}}, 1},
                {"coupon", {{"coupon", coupon_migrations, coupon_migrations_len}}, 1},
                {"reader", {{"catalog", catalog_migrations, catalog_migrations_len}}, 1},
        };
        CommonConfig cfg;
        bool demo = true;

        if (config_common(&cfg, "food-migrate", 0) < 0 || config_bool("DEMO_CATALOG", true, &demo) < 0)
                return 2;
        for (size_t i = 0; i < sizeof(processes) / sizeof(processes[0]); i++)
                if (migrate_process(cfg.database_url, &processes[i], demo) < 0) {
                        log_error("food-migrate: failed; the schemas before it stay migrated, run it again once fixed");
                        return 1;
                }
        if (!demo)
                log_info("demo catalog not seeded (DEMO_CATALOG=false)");
        log_info("food-migrate: every schema is current");
        return 0;
}
