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

void service_sleep_ms(int ms) {
        while (ms > 0 && !service_stopping) {
                int slice = ms < 100 ? ms : 100;
                struct timespec ts = {0, slice * 1000000L};
                nanosleep(&ts, NULL);
                ms -= slice;
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

/* Logged when the reason changes, not per retry: the steps of every start at debug, a wait at warn. */
void service_set_reason(Service *s, LogLevel level, const char *fmt, ...) {
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

/* NATS, its topology, then PostgreSQL (its store): everything a start waits for. */
static int service_connect(Service *s, const char *name, const ServiceSchema *schemas, size_t n) {
        int r;

        service_set_reason(s, LOG_DEBUG, "connecting to NATS at %s", s->cfg.nats.url);
        r = bus_connect(&s->bus, &s->cfg.nats, name, &service_stopping);
        if (r < 0)
                return log_error_errno(r, "cannot connect to NATS at %s", s->cfg.nats.url);
        service_set_reason(s, LOG_DEBUG, "waiting for the NATS streams and consumers (food-setup)");
        r = bus_await_topology(s->bus, name, &service_stopping);
        if (r < 0 || !s->backend)
                return r;
        return s->backend->start(s, schemas, n);
}

int service_start_nats(Service *s, const char *name, int default_health_port) {
        return service_start_with(s, name, NULL, NULL, 0, default_health_port, NULL, 0);
}

int service_start_with(Service *s, const char *name, const ServiceBackend *backend, const ServiceSchema *schemas,
                       size_t n_schemas, int default_health_port, const char *starting_bind, int starting_port) {
        const char *bind_addr = "127.0.0.1";
        int r;

        memset(s, 0, sizeof(*s));
        pthread_mutex_init(&s->ready_lock, NULL);
        pthread_mutex_init(&s->reason_lock, NULL);
        s->name = name;
        s->backend = backend;
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
        if (s->backend && s->backend->stop)
                s->backend->stop(s);
        log_info("%s stopped", s->name);
}

bool service_ready(void *service) {
        Service *s = service;

        if (service_stopping || !bus_connected(s->bus))
                return false;
        return s->backend && s->backend->ready ? s->backend->ready(s) : true;
}
