/* Process lifecycle shared by every binary: config, signals, NATS, PostgreSQL
 * schema + migrations, health server; and the stop flag set by SIGTERM/SIGINT. */
#pragma once
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "bus.h"
#include "config.h"
#include "health.h"
#include "pg.h"

typedef struct {
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
} Service;

/* Set by SIGTERM/SIGINT; every loop polls it. */
extern volatile bool service_stopping;

/* A PostgreSQL schema a process migrates, with its migration files. */
typedef struct {
        const char *name;
        const EmbeddedFile *migrations;
        size_t n_migrations;
} ServiceSchema;

/* Reads the common config, installs signal handlers, connects NATS (retrying),
 * creates the topology, connects PostgreSQL and applies each schema's
 * migrations (the first schema is the process's own: its connections' search
 * path, then the others', then public), starts the health server. n_schemas
 * may be 0 (no PostgreSQL). Returns 0 or negative errno (logged). */
int service_start(Service *s, const char *name, const ServiceSchema *schemas, size_t n_schemas,
                  int default_health_port);
/* Stops health, drains NATS, then closes PostgreSQL. Consumers must be closed. */
void service_stop(Service *s);
/* Opens another PostgreSQL connection on the service's schema (per thread). */
int service_pg(Service *s, Pg **ret);
/* /readyz: NATS connected and PostgreSQL answering a ping within
 * SERVICE_READY_PG_MS (on a connection of its own, so a busy or hung worker
 * connection neither delays nor fakes the answer). */
bool service_ready(void *service);
