/* Environment configuration read once at start; a bad value fails fast naming the variable. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

/* Each returns 0, or -EINVAL after logging "NAME: why". Unset -> default.
 * config_str's *ret points into the environment or at `def` (borrowed). */
int config_str(const char *name, const char *def, const char **ret);
int config_int(const char *name, int64_t def, int64_t min, int64_t max, int64_t *ret);
int config_bool(const char *name, bool def, bool *ret);
int config_port(const char *name, int def, int *ret);
/* One of the `n` words in `choices` (*ret: its index; unset: `def`), or -EINVAL after logging
 * "NAME=\"value\" is not one of a, b". */
int config_choice(const char *name, int def, const char *const *choices, int n, int *ret);

/* Where and as whom a process reaches NATS: NATS_URL, and NATS_USER with
 * NATS_PASSWORD (both or neither; empty: no credentials). TLS: NATS_TLS_CA, a
 * PEM file of the certificate authorities to trust (set: TLS required, the
 * server's certificate verified against them and its host name), and
 * NATS_TLS_CERT with NATS_TLS_KEY, a client certificate (both or neither). */
typedef struct {
        const char *url;
        const char *user;
        const char *password;
        const char *tls_ca;   /* "" when unset */
        const char *tls_cert; /* "" when unset */
        const char *tls_key;  /* "" when unset */
} NatsConfig;

/* Reads NATS_URL, NATS_USER, NATS_PASSWORD and NATS_TLS_*. Returns 0 or -EINVAL. */
int config_nats(NatsConfig *c);

/* MIGRATIONS: what a process does with its PostgreSQL schemas at start (lib/service.h).
 * apply (default): it applies its own migrations, as in local mode; check: it runs no DDL
 * and waits, unready, until each schema has reached the version its build needs (applied
 * by food-migrate, the operators' migration step). */
typedef enum {
        CONFIG_MIGRATIONS_APPLY,
        CONFIG_MIGRATIONS_CHECK,
} ConfigMigrations;

/* Reads MIGRATIONS (apply or check). Returns 0 or -EINVAL. */
int config_migrations(ConfigMigrations *ret);

/* SCHED_POLICY: how the kernel schedules a process's threads (lib/service.c sets it before the
 * first thread starts; every later thread inherits it). batch (default): SCHED_BATCH, a thread
 * woken by a message or a reply does not preempt the one running, which goes on with its batch
 * (a third fewer context switches per order, README "Benchmarks"); other: SCHED_OTHER, the
 * kernel's default. */
typedef enum {
        CONFIG_SCHED_BATCH,
        CONFIG_SCHED_OTHER,
} ConfigSched;

/* Reads SCHED_POLICY (batch or other). Returns 0 or -EINVAL. */
int config_sched(ConfigSched *ret);

/* What every process reads: NATS, PostgreSQL, its health port, log level, scheduling policy. */
typedef struct {
        NatsConfig nats;
        const char *database_url;
        int health_port;
        ConfigMigrations migrations;
        ConfigSched sched;
} CommonConfig;

/* Reads LOG_LEVEL and sets up logging for `service`. Returns 0 or -EINVAL. */
int config_log(const char *service);

/* Reads config_log, config_nats, DATABASE_URL, HEALTH_PORT, MIGRATIONS and
 * SCHED_POLICY and sets up logging for `service`. Returns 0 or -EINVAL. */
int config_common(CommonConfig *c, const char *service, int default_health_port);
