/* Process lifecycle shared by every binary. */
#include "service.h"

#include <civetweb.h>
#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "discovery.h"
#include "log.h"

volatile bool service_stopping;

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

static void on_signal(int sig) {
        (void)sig;
        service_stopping = true;
}

static void install_signals(void) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
}

/* Sleeps `ms`, in slices, so that SIGTERM ends a wait at once. */
static void service_sleep_ms(int ms) {
        while (ms > 0 && !service_stopping) {
                int slice = ms < 100 ? ms : 100;
                struct timespec ts = {0, slice * 1000000L};
                nanosleep(&ts, NULL);
                ms -= slice;
        }
}

static int pg_connect_retrying(Service *s, Pg **ret) {
        for (int tries = 0;; tries++) {
                int r = pg_connect(ret, s->cfg.database_url, s->schema ? s->schema : "public");
                if (r == 0 || service_stopping)
                        return r;
                struct timespec ts = {0, 250000000L};
                nanosleep(&ts, NULL);
        }
}

/* SCHED_POLICY (lib/config.h), set on the main thread before it starts any other (NATS, PostgreSQL, HTTP):
 * every thread inherits it from the one that creates it. A refusal (a sandbox's seccomp filter) is logged and
 * the process goes on under the kernel's default. */
static void service_sched(ConfigSched policy) {
        const struct sched_param param = {.sched_priority = 0};
        if (sched_setscheduler(0, policy == CONFIG_SCHED_BATCH ? SCHED_BATCH : SCHED_OTHER, &param) < 0)
                log_warn("SCHED_POLICY=%s not applied (%s); the kernel's default scheduling stays",
                         policy == CONFIG_SCHED_BATCH ? "batch" : "other", strerror(errno));
}

/* Says why the process is not started yet (/readyz's reason); logged at `level` when it changes, not per
 * retry: the steps of every start at debug, a wait at warn. */
static void service_set_reason(Service *s, LogLevel level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void service_set_reason(Service *s, LogLevel level, const char *fmt, ...) {
        char now[sizeof(s->reason)];
        bool changed;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(now, sizeof(now), fmt, ap);
        va_end(ap);
        pthread_mutex_lock(&s->reason_lock);
        changed = strcmp(now, s->reason) != 0;
        if (changed)
                memcpy(s->reason, now, sizeof(now));
        pthread_mutex_unlock(&s->reason_lock);
        if (changed)
                log_emit(level, "%s: not ready: %s", s->name, now);
}

/* /readyz while starting: 503 {"status":"not ready","reason":"..."}. */
static void service_write_starting(Service *s, struct mg_connection *conn) {
        char reason[sizeof(s->reason)];
        json_t *o;
        char *body = NULL;
        const char *text;

        pthread_mutex_lock(&s->reason_lock);
        memcpy(reason, s->reason, sizeof(reason));
        pthread_mutex_unlock(&s->reason_lock);
        o = json_pack("{s:s, s:s}", "status", "not ready", "reason", reason);
        if (o)
                body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        text = body ? body : "{\"status\":\"not ready\"}"; /* a reason that is not UTF-8 */
        mg_printf(conn, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                  strlen(text), text);
        free(body);
}

/* The health port while starting: alive, not ready, and why. /metrics waits for the started server: the
 * registry is still being filled. */
static int service_starting_handle(struct mg_connection *conn, void *cbdata) {
        Service *s = cbdata;
        const char *uri = mg_get_request_info(conn)->local_uri;

        if (strcmp(uri, "/healthz") == 0)
                health_write_healthz(conn);
        else if (strcmp(uri, "/readyz") == 0)
                service_write_starting(s, conn);
        else if (strcmp(uri, "/metrics") == 0)
                mg_printf(conn, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
        else {
                /* Anything else (the gateway's API on its own port) is not served yet: a client retries a 503,
                 * where a 404 would tell it the request itself was wrong. */
                static const char body[] = "{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,"
                                           "\"detail\":\"starting; retry shortly\"}";
                mg_printf(conn,
                          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
                          "Retry-After: 1\r\nContent-Length: %zu\r\n\r\n%s",
                          sizeof(body) - 1, body);
        }
        return 200;
}

static int service_starting_open(Service *s, const char *bind_addr, int port) {
        struct mg_callbacks cb = {0};
        char ports[80];

        snprintf(ports, sizeof(ports), "%s:%d", bind_addr, port);
        const char *opts[] = {"listening_ports", ports, "num_threads", "2", "request_timeout_ms", "5000", NULL};
        s->starting = mg_start(&cb, NULL, opts);
        if (!s->starting)
                return log_error_errno(-EADDRINUSE, "%s: cannot listen on %s", s->name, ports);
        mg_set_request_handler(s->starting, "/", service_starting_handle, s);
        return 0;
}

static void service_starting_close(Service *s) {
        if (!s->starting)
                return;
        mg_stop(s->starting);
        s->starting = NULL;
}

int service_search_path(char *buf, size_t size, const ServiceSchema *schemas, size_t n) {
        size_t used = 0;

        if (size == 0)
                return -ENAMETOOLONG;
        buf[0] = 0;
        for (size_t i = 0; i < n; i++) {
                int w = snprintf(buf + used, size - used, "%s%s", i ? "," : "", schemas[i].name);
                if (w < 0 || (size_t)w >= size - used)
                        return -ENAMETOOLONG;
                used += (size_t)w;
        }
        return 0;
}

int service_schema_latest(const ServiceSchema *schema) {
        int latest = 0;

        for (size_t i = 0; i < schema->n_migrations; i++) {
                char *end;
                long v = strtol(schema->migrations[i].name, &end, 10);
                if (end != schema->migrations[i].name && v > latest && v <= 1000000)
                        latest = (int)v;
        }
        return latest;
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

/* NATS, its topology, then PostgreSQL: everything service_start waits for. */
static int service_connect(Service *s, const char *name, const ServiceSchema *schemas, size_t n) {
        int r;

        service_set_reason(s, LOG_DEBUG, "connecting to NATS at %s", s->cfg.nats.url);
        r = bus_connect(&s->bus, &s->cfg.nats, name, &service_stopping);
        if (r < 0)
                return log_error_errno(r, "cannot connect to NATS at %s", s->cfg.nats.url);
        service_set_reason(s, LOG_DEBUG, "waiting for the NATS streams and consumers (food-setup)");
        r = bus_await_topology(s->bus, name, &service_stopping);
        if (r < 0 || n == 0)
                return r;
        service_set_reason(s, LOG_DEBUG, "connecting to PostgreSQL");
        return service_pg_start(s, schemas, n);
}

int service_start(Service *s, const char *name, const ServiceSchema *schemas, size_t n_schemas,
                  int default_health_port) {
        return service_start_on(s, name, schemas, n_schemas, default_health_port, NULL, 0);
}

int service_start_on(Service *s, const char *name, const ServiceSchema *schemas, size_t n_schemas,
                     int default_health_port, const char *starting_bind, int starting_port) {
        const char *bind_addr = "127.0.0.1";
        int r;

        memset(s, 0, sizeof(*s));
        pthread_mutex_init(&s->ready_lock, NULL);
        pthread_mutex_init(&s->reason_lock, NULL);
        s->name = name;
        r = config_common(&s->cfg, name, default_health_port);
        if (r == 0)
                r = config_str("HEALTH_BIND", "127.0.0.1", &bind_addr);
        if (r < 0)
                return r;
        if (service_search_path(s->search_path, sizeof(s->search_path), schemas, n_schemas) < 0)
                return log_error_errno(-ENAMETOOLONG, "%s: too many schemas for a search path", name);
        s->schema = n_schemas ? s->search_path : NULL;
        service_sched(s->cfg.sched);
        install_signals();
        /* The health port first: alive (a long migration or an absent database is no reason to be
         * restarted) and not ready, saying why, until everything below is there. */
        if (starting_port > 0)
                r = service_starting_open(s, starting_bind, starting_port);
        else if (s->cfg.health_port > 0)
                r = service_starting_open(s, bind_addr, s->cfg.health_port);
        if (r == 0)
                r = service_connect(s, name, schemas, n_schemas);
        /* Hands the port over to the started server (a probe in between finds it closed for a moment). */
        service_starting_close(s);
        if (r < 0)
                return r;
        if (s->cfg.health_port > 0) {
                r = health_start(&s->health, bind_addr, s->cfg.health_port, service_ready, s);
                if (r < 0)
                        return r;
        }
        discovery_start(s->bus, name); /* best effort: `nats micro ls` lists this process */
        log_info("%s started (nats %s, health port %d, migrations %s)", name, s->cfg.nats.url, s->cfg.health_port,
                 s->cfg.migrations == CONFIG_MIGRATIONS_CHECK ? "checked" : "applied");
        return 0;
}

void service_stop(Service *s) {
        service_starting_close(s);
        /* Readiness is already false (service_stopping) and the consumers are
         * closed by their loops: stop HTTP, drain NATS, then close PostgreSQL. */
        discovery_stop();
        health_stop(s->health);
        s->health = NULL;
        bus_free(s->bus);
        s->bus = NULL;
        pg_free(s->pg);
        s->pg = NULL;
        pg_free(s->ready_pg);
        s->ready_pg = NULL;
        log_info("%s stopped", s->name);
}

int service_pg(Service *s, Pg **ret) {
        return pg_connect_retrying(s, ret);
}

bool service_ready(void *service) {
        Service *s = service;
        bool up;

        if (service_stopping || !bus_connected(s->bus))
                return false;
        if (!s->ready_pg)
                return true; /* a process without PostgreSQL */
        /* The PostgreSQL connection's last known state says nothing once the
         * server died or hangs: ask it, within a bound. One ping at a time; a
         * probe arriving meanwhile takes the last answer instead of queueing. */
        if (pthread_mutex_trylock(&s->ready_lock) != 0)
                return atomic_load(&s->ready_pg_up);
        up = pg_ping(s->ready_pg, SERVICE_READY_PG_MS) == 0;
        atomic_store(&s->ready_pg_up, up);
        pthread_mutex_unlock(&s->ready_lock);
        return up;
}
