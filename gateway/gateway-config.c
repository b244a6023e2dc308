/* The gateway's environment, read once at start. */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "gateway.h"
#include "log.h"

int gateway_config_read(GatewayConfig *c) {
        const char *proxies = "";
        int r = 0;

        memset(c, 0, sizeof(*c));
        r = config_str("GATEWAY_BIND", "127.0.0.1", &c->bind);
        if (r == 0)
                r = config_port("GATEWAY_PORT", 8080, &c->port);
        if (r == 0)
                r = config_str("JWT_SECRET", NULL, &c->jwt_secret);
        if (r == 0)
                r = config_bool("DEV_TOKENS", false, &c->dev_tokens);
        if (r == 0)
                r = config_int("RPC_TIMEOUT_MS", 3000, 10, 60000, &c->rpc_timeout_ms);
        if (r == 0)
                r = config_int("MAX_BODY_BYTES", 65536, 256, 16 * 1024 * 1024, &c->max_body);
        if (r == 0)
                r = config_int("GATEWAY_THREADS", 128, 1, 1024, &c->threads);
        if (r == 0)
                r = config_int("GATEWAY_REQUEST_TIMEOUT_MS", 30000, 100, 3600000, &c->request_timeout_ms);
        if (r == 0)
                r = config_int("CATALOG_REFRESH_S", 30, 1, 86400, &c->catalog_refresh_s);
        if (r == 0)
                r = config_int("LOYALTY_SILVER_AT", 3, 1, 1000000, &c->loyalty_silver_at);
        if (r == 0)
                r = config_int("LOYALTY_GOLD_AT", 10, 1, 1000000, &c->loyalty_gold_at);
        if (r == 0 && c->loyalty_gold_at <= c->loyalty_silver_at) {
                log_error("config: LOYALTY_GOLD_AT=%lld must be above LOYALTY_SILVER_AT=%lld",
                          (long long)c->loyalty_gold_at, (long long)c->loyalty_silver_at);
                r = -EINVAL;
        }
        if (r == 0)
                r = config_int("GATEWAY_DRAIN_S", 10, 0, 600, &c->drain_s);
        /* Per client (token subject, else IP). Generous by default: the benchmark's store owners send
         * hundreds of requests a second each. */
        if (r == 0)
                r = config_int("RATE_LIMIT_RPS", 1000, 0, 1000000, &c->rate_limit_rps);
        if (r == 0)
                r = config_int("RATE_LIMIT_BURST", 2000, 1, 1000000, &c->rate_limit_burst);
        /* Per customer, a card-testing defence: generous by default, so that the benchmark's virtual
         * customers (one order in flight each: a few orders a second at most) are never limited;
         * production sets it lower (e.g. 10 a minute). */
        if (r == 0)
                r = config_int("ORDER_RATE_PER_MIN", 1200, 0, 1000000, &c->order_rate_per_min);
        if (r == 0)
                r = config_int("ORDER_RATE_BURST", 200, 1, 100000, &c->order_rate_burst);
        /* Per store: an owner's token spraying coupons. */
        if (r == 0)
                r = config_int("COUPON_RATE_PER_MIN", 120, 0, 1000000, &c->coupon_rate_per_min);
        if (r == 0)
                r = config_int("COUPON_RATE_BURST", 100, 1, 100000, &c->coupon_rate_burst);
        /* The read side: how long a read query may take the reader (services/reader) before the request gets
         * 503 + Retry-After. */
        if (r == 0)
                r = config_int("GATEWAY_READ_TIMEOUT_MS", 2000, 100, 60000, &c->read_timeout_ms);
        if (r == 0)
                r = config_str("TRUSTED_PROXIES", "", &proxies);
        if (r == 0 && (r = client_proxies_parse(proxies, &c->proxies)) < 0)
                log_error("config: TRUSTED_PROXIES=\"%s\" is not a comma-separated list of at most %d addresses or "
                          "CIDR blocks",
                          proxies, CLIENT_PROXIES_MAX);
        if (r == 0)
                r = config_str("JWT_PREVIOUS_SECRET", "", &c->jwt_previous_secret);
        if (r == 0)
                r = config_int("JWT_MAX_LIFETIME_S", 86400, 60, 31536000, &c->jwt_max_lifetime_s);
        if (r == 0)
                r = config_str("JWT_ISSUER", "", &c->jwt_issuer);
        if (r == 0)
                r = config_str("JWT_AUDIENCE", "", &c->jwt_audience);
        if (r < 0)
                return r;
        if (strlen(c->jwt_secret) < AUTH_SECRET_MIN) {
                log_error("config: JWT_SECRET is %zu bytes; it must be at least %d random bytes", strlen(c->jwt_secret),
                          AUTH_SECRET_MIN);
                return -EINVAL;
        }
        if (*c->jwt_previous_secret && strlen(c->jwt_previous_secret) < AUTH_SECRET_MIN) {
                log_error("config: JWT_PREVIOUS_SECRET is %zu bytes; it must be at least %d random bytes",
                          strlen(c->jwt_previous_secret), AUTH_SECRET_MIN);
                return -EINVAL;
        }
        r = auth_keys_init(&c->keys, c->jwt_secret, strlen(c->jwt_secret),
                           *c->jwt_previous_secret ? c->jwt_previous_secret : NULL, strlen(c->jwt_previous_secret),
                           c->jwt_max_lifetime_s, c->jwt_issuer, c->jwt_audience);
        if (r < 0)
                log_error("config: cannot set up the token keys (JWT_SECRET): %s", strerror(-r));
        return r;
}
