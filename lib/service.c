/* Process lifecycle shared by every binary. */
#include "service.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "discovery.h"
#include "log.h"

volatile bool service_stopping;

/* Bound on /readyz's PostgreSQL ping: probes give up after about a second. */
#define SERVICE_READY_PG_MS 800

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

static int pg_connect_retrying(Service *s, Pg **ret) {
        for (int tries = 0;; tries++) {
                int r = pg_connect(ret, s->cfg.database_url, s->schema ? s->schema : "public");
                if (r == 0 || service_stopping)
                        return r;
                struct timespec ts = {0, 250000000L};
                nanosleep(&ts, NULL);
        }
}

int service_start(Service *s, const char *name, const ServiceSchema *schemas, size_t n_schemas,
                  int default_health_port) {
        size_t used = 0;
        int r;

        memset(s, 0, sizeof(*s));
        pthread_mutex_init(&s->ready_lock, NULL);
        s->name = name;
        for (size_t i = 0; i < n_schemas; i++)
                used += (size_t)snprintf(s->search_path + used, sizeof(s->search_path) - used, "%s%s", i ? "," : "",
                                         schemas[i].name);
        s->schema = n_schemas ? s->search_path : NULL;
        r = config_common(&s->cfg, name, default_health_port);
        if (r < 0)
                return r;
        install_signals();
        r = bus_connect(&s->bus, &s->cfg.nats, name, &service_stopping);
        if (r < 0)
                return log_error_errno(r, "cannot connect to NATS at %s", s->cfg.nats.url);
        r = bus_await_topology(s->bus, name, &service_stopping);
        if (r < 0)
                return r;
        if (n_schemas == 0)
                goto serve;
        r = pg_connect_retrying(s, &s->pg);
        if (r < 0)
                return log_error_errno(r, "cannot connect to PostgreSQL");
        for (size_t i = 0; i < n_schemas; i++) {
                if (schemas[i].n_migrations == 0)
                        continue;
                r = pg_migrate(s->pg, schemas[i].name, schemas[i].migrations, schemas[i].n_migrations);
                if (r < 0)
                        return log_error_errno(r, "migrations of schema %s failed: %s", schemas[i].name,
                                               pg_error(s->pg));
        }
        r = pg_connect(&s->ready_pg, s->cfg.database_url, s->schema);
        if (r < 0)
                return log_error_errno(r, "cannot connect to PostgreSQL for readiness pings");
        atomic_store(&s->ready_pg_up, true);
serve:
        if (s->cfg.health_port > 0) {
                const char *bind_addr;
                r = config_str("HEALTH_BIND", "127.0.0.1", &bind_addr);
                if (r == 0)
                        r = health_start(&s->health, bind_addr, s->cfg.health_port, service_ready, s);
                if (r < 0)
                        return r;
        }
        discovery_start(s->bus, name); /* best effort: `nats micro ls` lists this process */
        log_info("%s started (nats %s, health port %d)", name, s->cfg.nats.url, s->cfg.health_port);
        return 0;
}

void service_stop(Service *s) {
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
