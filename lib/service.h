/* Process lifecycle shared by every binary: config, signals, NATS, PostgreSQL
 * schema + migrations (lib/service-pg.c, linked only by the processes that use
 * PostgreSQL), health server; and the stop flag set by SIGTERM/SIGINT.
 *
 * Starting never gives up on the infrastructure: the health port opens first
 * (/healthz 200, /readyz 503 with {"reason": ...}), then the process waits for
 * NATS, its topology and PostgreSQL (retrying with a backoff capped at
 * SERVICE_RETRY_MAX_MS), then brings or finds its schemas current:
 * - MIGRATIONS=apply (default, local mode and tests): it applies its schemas'
 *   migrations itself (pg_migrate, under each schema's advisory lock).
 * - MIGRATIONS=check (a cluster whose migration Job runs food-migrate with the
 *   privileged role): it runs no DDL; it waits until each schema's
 *   schema_migrations has reached the last version embedded in its build
 *   (a newer one is fine), rechecking every second.
 * A bad MIGRATIONS value fails fast, naming it. SIGTERM while waiting ends it.
 * DEMO_CATALOG (true/false, default true), read by the reader and food-migrate:
 * whether whoever migrates the catalog seeds the demo stores
 * (services/reader/migrations/demo-catalog.sql) into a catalog that has no store. */
#pragma once
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "bus.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "pg.h"

struct mg_context;
typedef struct Service Service;
typedef struct ServiceSchema ServiceSchema;

/* What a process needs besides NATS: PostgreSQL with its schemas (service_start, lib/service-pg.c: only a
 * process that calls it links libpq), or what the gateway waits for (its catalog, from the reader). `start`
 * runs after NATS while the health port still says why the process is not ready (0, or negative errno: the
 * start fails), `ready` (may be NULL) joins /readyz's answer, `stop` (may be NULL) runs in service_stop. */
typedef struct {
        int (*start)(Service *s, const ServiceSchema *schemas, size_t n);
        bool (*ready)(Service *s);
        void (*stop)(Service *s);
} ServiceBackend;

struct Service {
        const char *name;   /* process name: logs, NATS client name */
        const char *schema; /* its connections' search path: its own schema first, or NULL (no PostgreSQL) */
        char search_path[160];
        CommonConfig cfg;
        Bus *bus;
        Pg *pg; /* the main thread's connection */
        Health *health;
        Pg *ready_pg;                /* /readyz pings PostgreSQL on this one, under ready_lock */
        pthread_mutex_t ready_lock;
        atomic_bool ready_pg_up;     /* the last ping's answer, for a probe arriving during one */
        struct mg_context *starting; /* the health port's server until started (service_start) */
        pthread_mutex_t reason_lock;
        char reason[256];            /* why it is not started yet, for /readyz; under reason_lock */
        const ServiceBackend *backend; /* NULL: NATS is all it needs */
};

/* Longest wait between two attempts to reach PostgreSQL while starting. */
#define SERVICE_RETRY_MAX_MS 5000

/* Set by SIGTERM/SIGINT; every loop polls it. */
extern volatile bool service_stopping;

/* A PostgreSQL schema a process migrates, with its migration files. */
struct ServiceSchema {
        const char *name;
        const EmbeddedFile *migrations;
        size_t n_migrations;
};

/* (lib/service-pg.c) Reads the common config, installs signal handlers, opens the health port
 * (answering "not ready" with the reason), connects NATS (retrying), waits for
 * the topology, connects PostgreSQL (retrying) and applies or checks each
 * schema's migrations as MIGRATIONS says (the first schema is the process's
 * own: its connections' search path, then the others', then public), then
 * serves the health endpoints for good. n_schemas may be 0 (no PostgreSQL).
 * Returns once started: 0; or negative errno (logged) for a bad setting, a
 * port in use, a migration that failed, or SIGTERM while waiting. */
int service_start(Service *s, const char *name, const ServiceSchema *schemas, size_t n_schemas,
                  int default_health_port);
/* service_start for a process without PostgreSQL (lib/service.c alone: libpq is not loaded). */
int service_start_nats(Service *s, const char *name, int default_health_port);
/* The start every variant shares: `backend` (NULL: none) is reached after NATS with `schemas`. A process that
 * serves /healthz and /readyz on a server of its own once started (the gateway, health port 0) has them
 * answered on starting_bind:starting_port while it starts (free again when this returns); 0: the health port. */
int service_start_with(Service *s, const char *name, const ServiceBackend *backend, const ServiceSchema *schemas,
                       size_t n_schemas, int default_health_port, const char *starting_bind, int starting_port);
/* Says why the process is not started yet (/readyz's reason); logged at `level` when it changes. */
void service_set_reason(Service *s, LogLevel level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sleeps `ms` in slices, so that SIGTERM ends a wait at once. */
void service_sleep_ms(int ms);
/* Stops health, drains NATS, then closes PostgreSQL. Consumers must be closed. */
void service_stop(Service *s);
/* Opens another PostgreSQL connection on the service's schema (per thread). */
int service_pg(Service *s, Pg **ret);
/* /readyz: NATS connected and the backend's answer: with PostgreSQL, a ping
 * answered within SERVICE_READY_PG_MS on a connection of its own (so a busy or
 * hung worker connection neither delays nor fakes the answer). */
bool service_ready(void *service);

/* The helpers the start uses, shared with food-migrate (tools/food-migrate.c). */
/* The last version this build's migrations bring `schema` to (its last file's leading number; 0 without files). */
int service_schema_latest(const ServiceSchema *schema);
/* Reads the version `schema` (lower-case letters, digits, _) is at into *ret: the highest of its
 * schema_migrations, -1 while there is no such table. Runs no DDL and raises no server error for a
 * schema not created yet. 0, -EINVAL (a name that is not a plain identifier) or the errors of pg_run. */
int service_schema_version(Pg *pg, const char *schema, int *ret);
/* Writes the search path of a process using schemas[0..n) (their names, comma-separated) into buf.
 * 0 or -ENAMETOOLONG. */
int service_search_path(char *buf, size_t size, const ServiceSchema *schemas, size_t n);
