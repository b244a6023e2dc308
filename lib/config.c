/* Environment configuration: strict parsing, fail fast with the variable's name. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int config_str(const char *name, const char *def, const char **ret) {
        const char *v = getenv(name);
        if (!v || !*v) {
                if (!def) {
                        log_error("config: %s is required but not set", name);
                        return -EINVAL;
                }
                v = def;
        }
        *ret = v;
        return 0;
}

int config_int(const char *name, int64_t def, int64_t min, int64_t max, int64_t *ret) {
        const char *v = getenv(name);
        char *end = NULL;
        long long n;

        if (!v || !*v) {
                *ret = def;
                return 0;
        }
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno != 0 || end == v || *end != 0 || n < min || n > max) {
                log_error("config: %s=\"%s\" is not an integer in [%lld, %lld]", name, v, (long long)min,
                          (long long)max);
                return -EINVAL;
        }
        *ret = n;
        return 0;
}

int config_bool(const char *name, bool def, bool *ret) {
        const char *v = getenv(name);
        if (!v || !*v) {
                *ret = def;
                return 0;
        }
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) {
                *ret = true;
                return 0;
        }
        if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) {
                *ret = false;
                return 0;
        }
        log_error("config: %s=\"%s\" is not a boolean (true/false)", name, v);
        return -EINVAL;
}

int config_port(const char *name, int def, int *ret) {
        int64_t v;
        int r = config_int(name, def, 0, 65535, &v);
        if (r < 0)
                return r;
        *ret = (int)v;
        return 0;
}

int config_choice(const char *name, int def, const char *const *choices, int n, int *ret) {
        const char *v = getenv(name);
        char list[256];
        size_t used = 0;

        if (!v || !*v) {
                *ret = def;
                return 0;
        }
        for (int i = 0; i < n; i++)
                if (!strcmp(v, choices[i])) {
                        *ret = i;
                        return 0;
                }
        list[0] = 0;
        for (int i = 0; i < n && used < sizeof(list); i++)
                used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", choices[i]);
        log_error("config: %s=\"%s\" is not one of %s", name, v, list);
        return -EINVAL;
}

int config_migrations(ConfigMigrations *ret) {
        /* Indexed by ConfigMigrations. */
        static const char *const modes[] = {"apply", "check"};
        int mode;
        int r = config_choice("MIGRATIONS", CONFIG_MIGRATIONS_APPLY, modes, 2, &mode);
        if (r == 0)
                *ret = (ConfigMigrations)mode;
        return r;
}

int config_sched(ConfigSched *ret) {
        /* Indexed by ConfigSched. */
        static const char *const policies[] = {"batch", "other"};
        int policy;
        int r = config_choice("SCHED_POLICY", CONFIG_SCHED_BATCH, policies, 2, &policy);
        if (r == 0)
                *ret = (ConfigSched)policy;
        return r;
}

int config_nats(NatsConfig *c) {
        int r = config_str("NATS_URL", "nats://127.0.0.1:4222", &c->url);
        if (r == 0)
                r = config_str("NATS_USER", "", &c->user);
        if (r == 0)
                r = config_str("NATS_PASSWORD", "", &c->password);
        if (r == 0 && !*c->user != !*c->password) {
                log_error("config: NATS_USER and NATS_PASSWORD go together (%s is empty)",
                          *c->user ? "NATS_PASSWORD" : "NATS_USER");
                return -EINVAL;
        }
        if (r == 0)
                r = config_str("NATS_TLS_CA", "", &c->tls_ca);
        if (r == 0)
                r = config_str("NATS_TLS_CERT", "", &c->tls_cert);
        if (r == 0)
                r = config_str("NATS_TLS_KEY", "", &c->tls_key);
        if (r == 0 && !*c->tls_cert != !*c->tls_key) {
                log_error("config: NATS_TLS_CERT and NATS_TLS_KEY go together (%s is empty)",
                          *c->tls_cert ? "NATS_TLS_KEY" : "NATS_TLS_CERT");
                return -EINVAL;
        }
        if (r == 0 && *c->tls_cert && !*c->tls_ca) {
                log_error("config: NATS_TLS_CERT needs NATS_TLS_CA (the authorities that sign the server's certificate)");
                return -EINVAL;
        }
        return r;
}

int config_log(const char *service) {
        LogLevel lvl = LOG_INFO;
        const char *name = NULL;
        int r;

        log_setup(service, LOG_INFO); /* a wrong value is reported under the service's name */
        r = config_str("LOG_LEVEL", "info", &name);
        if (r == 0 && log_level_parse(name, &lvl) < 0) {
                log_error("config: LOG_LEVEL=\"%s\" is not one of debug, info, warn, error", name);
                return -EINVAL;
        }
        log_setup(service, lvl);
        return r;
}

int config_common(CommonConfig *c, const char *service, int default_health_port) {
        int r = config_log(service);
        if (r == 0)
                r = config_nats(&c->nats);
        if (r == 0)
                r = config_str("DATABASE_URL", "postgresql://food@127.0.0.1:5433/food", &c->database_url);
        if (r == 0)
                r = config_port("HEALTH_PORT", default_health_port, &c->health_port);
        if (r == 0)
                r = config_migrations(&c->migrations);
        if (r == 0)
                r = config_sched(&c->sched);
        return r;
}
