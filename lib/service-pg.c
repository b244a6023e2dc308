/* PostgreSQL in a process's lifecycle (lib/service.h): schemas brought or found current while starting, the
 * readiness ping, per-thread sessions. Only processes that call service_start link it, and with it libpq. */
#include "service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Bound on /readyz's PostgreSQL ping: probes give up after about a second. */
#define SERVICE_READY_PG_MS 800
/* While starting, the first wait before reaching PostgreSQL again; doubled up to SERVICE_RETRY_MAX_MS. */
#define SERVICE_RETRY_MIN_MS 250
/* MIGRATIONS=check: how soon a schema found behind is looked at again. */
#define SERVICE_CHECK_MS 1000

/* What one attempt at PostgreSQL while starting leaves to do (service_pg_attempt). */
enum {
        SERVICE_PG_DONE,
        SERVICE_PG_UNREACHABLE, /* try again after the backoff */
        SERVICE_PG_BEHIND,      /* a schema is not current yet: look again after SERVICE_CHECK_MS */
};

static int pg_connect_retrying(Service *s, Pg **ret) {
        for (int tries = 0;; tries++) {
                int r = pg_connect(ret, s->cfg.database_url, s->schema ? s->schema : "public");
                if (r == 0 || service_stopping)
                        return r;
                struct timespec ts = {0, 250000000L};
                nanosleep(&ts, NULL);
        }
}

int service_schema_version(Pg *pg, const char *schema, int *ret) {
        static const PgStmt read_version = {"service_schema_version",
                                            "SELECT current_setting('food.schema_version', true)"};
        PGresult *res = NULL;
        char sql[512];
        int r;

        /* The name goes into the statement's text: a plain identifier only, so no quoting is needed. */
        if (!*schema || strspn(schema, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(schema) || strlen(schema) > 63)
                return -EINVAL;
        /* A table that may not exist yet: looked up first (to_regclass, no error) inside a DO block, whose
         * answer comes back through a session setting; no DDL, and no ERROR in the server's log per probe. */
        snprintf(sql, sizeof(sql),
                 "DO $food$ DECLARE v int := -1; BEGIN"
                 " IF to_regclass('%s.schema_migrations') IS NOT NULL THEN"
                 " EXECUTE 'SELECT coalesce(max(version), 0) FROM %s.schema_migrations' INTO v; END IF;"
                 " PERFORM set_config('food.schema_version', v::text, false); END $food$",
                 schema, schema);
        r = pg_exec(pg, sql);
        if (r == 0)
                r = pg_run(pg, &read_version, 0, NULL, NULL, NULL, &res);
        if (r == 0) {
                const char *v = pg_str(res, 0, 0);
                *ret = v ? (int)pg_ll(res, 0, 0) : -1;
        }
        PQclear(res);
        return r;
}

/* One attempt at PostgreSQL while starting: connects (s->pg, then s->ready_pg) and applies or checks the
 * schemas. SERVICE_PG_DONE, SERVICE_PG_UNREACHABLE or SERVICE_PG_BEHIND (the reason set), or negative errno
 * for what waiting cannot fix (logged). */
static int service_pg_attempt(Service *s, const ServiceSchema *schemas, size_t n) {
        int r;

        if (!s->pg && pg_connect(&s->pg, s->cfg.database_url, s->schema) < 0) {
                service_set_reason(s, LOG_WARN, "cannot connect to PostgreSQL (retrying; the log says why)");
                return SERVICE_PG_UNREACHABLE;
        }
        if (pg_ensure(s->pg) < 0) {
                service_set_reason(s, LOG_WARN, "PostgreSQL connection lost: %s", pg_error(s->pg));
                return SERVICE_PG_UNREACHABLE;
        }
        for (size_t i = 0; i < n; i++) {
                int latest = service_schema_latest(&schemas[i]), version = 0;
                if (latest == 0)
                        continue;
                if (s->cfg.migrations == CONFIG_MIGRATIONS_APPLY) {
                        service_set_reason(s, LOG_DEBUG, "applying the migrations of schema %s", schemas[i].name);
                        r = pg_migrate(s->pg, schemas[i].name, schemas[i].migrations, schemas[i].n_migrations);
                        if (r == -ENOTCONN || r == -EAGAIN) {
                                service_set_reason(s, LOG_WARN, "migrations of schema %s interrupted: %s", schemas[i].name,
                                                   pg_error(s->pg));
                                return SERVICE_PG_UNREACHABLE;
                        }
                        if (r < 0)
                                return log_error_errno(r, "migrations of schema %s failed: %s", schemas[i].name,
                                                       pg_error(s->pg));
                        continue;
                }
                r = service_schema_version(s->pg, schemas[i].name, &version);
                if (r == -ENOTCONN) {
                        service_set_reason(s, LOG_WARN, "PostgreSQL connection lost: %s", pg_error(s->pg));
                        return SERVICE_PG_UNREACHABLE;
                }
                if (r < 0) {
                        /* e.g. no USAGE on the schema yet: the operators may still grant it */
                        service_set_reason(s, LOG_WARN, "cannot read the version of schema %s: %s", schemas[i].name,
                                           pg_error(s->pg));
                        return SERVICE_PG_BEHIND;
                }
                if (version < latest) {
                        if (version < 0)
                                service_set_reason(s, LOG_WARN,
                                                   "schema %s is not created yet, this build needs version %d"
                                                   " (MIGRATIONS=check: waiting for food-migrate)",
                                                   schemas[i].name, latest);
                        else
                                service_set_reason(s, LOG_WARN,
                                                   "schema %s is at version %d, this build needs %d"
                                                   " (MIGRATIONS=check: waiting for food-migrate)",
                                                   schemas[i].name, version, latest);
                        return SERVICE_PG_BEHIND;
                }
        }
        if (!s->ready_pg && pg_connect(&s->ready_pg, s->cfg.database_url, s->schema) < 0) {
                service_set_reason(s, LOG_WARN, "cannot open the readiness connection to PostgreSQL (retrying)");
                return SERVICE_PG_UNREACHABLE;
        }
        atomic_store(&s->ready_pg_up, true);
        return SERVICE_PG_DONE;
}

/* PostgreSQL while starting: attempts until done, waiting between them (a growing backoff while it cannot be
 * reached, SERVICE_CHECK_MS while a schema is behind). 0, negative errno (logged), or -ECANCELED on SIGTERM. */
static int service_pg_start(Service *s, const ServiceSchema *schemas, size_t n) {
        int backoff = SERVICE_RETRY_MIN_MS;

        service_set_reason(s, LOG_DEBUG, "connecting to PostgreSQL");
        for (;;) {
                int r = service_pg_attempt(s, schemas, n);
                if (r <= 0)
                        return r;
                if (r == SERVICE_PG_BEHIND) {
                        backoff = SERVICE_RETRY_MIN_MS;
                        service_sleep_ms(SERVICE_CHECK_MS);
                } else {
                        service_sleep_ms(backoff);
                        backoff = backoff * 2 > SERVICE_RETRY_MAX_MS ? SERVICE_RETRY_MAX_MS : backoff * 2;
                }
                if (service_stopping)
                        return log_error_errno(-ECANCELED, "%s: stopped while starting", s->name);
        }
}

/* /readyz: PostgreSQL answering a ping within SERVICE_READY_PG_MS on a connection of its own. One ping at a
 * time; a probe arriving meanwhile takes the last answer instead of queueing. */
static bool service_pg_ready(Service *s) {
        bool up;

        if (!s->ready_pg)
                return true;
        if (pthread_mutex_trylock(&s->ready_lock) != 0)
                return atomic_load(&s->ready_pg_up);
        up = pg_ping(s->ready_pg, SERVICE_READY_PG_MS) == 0;
        atomic_store(&s->ready_pg_up, up);
        pthread_mutex_unlock(&s->ready_lock);
        return up;
}

static void service_pg_stop(Service *s) {
        pg_free(s->pg);
        s->pg = NULL;
        pg_free(s->ready_pg);
        s->ready_pg = NULL;
}

static const ServiceBackend service_pg_backend = {service_pg_start, service_pg_ready, service_pg_stop};

int service_start(Service *s, const char *name, const ServiceSchema *schemas, size_t n_schemas,
                  int default_health_port) {
        return service_start_with(s, name, n_schemas ? &service_pg_backend : NULL, schemas, n_schemas,
                                  default_health_port, NULL, 0);
}

int service_pg(Service *s, Pg **ret) {
        return pg_connect_retrying(s, ret);
}
