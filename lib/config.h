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

/* Where and as whom a process reaches NATS: NATS_URL, and NATS_USER with
 * NATS_PASSWORD (both or neither; empty: no credentials). */
typedef struct {
        const char *url;
        const char *user;
        const char *password;
} NatsConfig;

/* Reads NATS_URL, NATS_USER and NATS_PASSWORD. Returns 0 or -EINVAL. */
int config_nats(NatsConfig *c);

/* What every process reads: NATS, PostgreSQL, its health port, log level. */
typedef struct {
        NatsConfig nats;
        const char *database_url;
        int health_port;
} CommonConfig;

/* Reads LOG_LEVEL and sets up logging for `service`. Returns 0 or -EINVAL. */
int config_log(const char *service);

/* Reads config_log, config_nats, DATABASE_URL and HEALTH_PORT
 * and sets up logging for `service`. Returns 0 or -EINVAL. */
int config_common(CommonConfig *c, const char *service, int default_health_port);
