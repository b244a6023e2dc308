/* The gateway process: its configuration and the one context every HTTP handler receives. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "gateway-auth.h"
#include "gateway-catalog.h"
#include "gateway-client.h"
#include "gateway-ratelimit.h"
#include "gateway-readmodel.h"
#include "service.h"

struct mg_connection;
struct mg_context;

/* Environment read once at start (see README/contract for the variables). */
typedef struct {
        const char *bind;         /* GATEWAY_BIND */
        int port;                 /* GATEWAY_PORT */
        const char *jwt_secret;   /* JWT_SECRET (required, 32 bytes at least) */
        const char *jwt_previous_secret; /* JWT_PREVIOUS_SECRET: still verifies during a rotation ("" none) */
        int64_t jwt_max_lifetime_s; /* JWT_MAX_LIFETIME_S: longest token lifetime accepted */
        const char *jwt_issuer;   /* JWT_ISSUER: iss required when set */
        const char *jwt_audience; /* JWT_AUDIENCE: aud required when set */
        AuthKeys keys;            /* built from the above */
        bool dev_tokens;          /* DEV_TOKENS: POST /auth/dev-token exists */
        int64_t rpc_timeout_ms;   /* RPC_TIMEOUT_MS: deadline of synchronous decisions */
        int64_t max_body;         /* MAX_BODY_BYTES: larger bodies get 413 */
        int64_t threads;          /* GATEWAY_THREADS: civetweb worker threads */
        int64_t request_timeout_ms; /* GATEWAY_REQUEST_TIMEOUT_MS: socket read/write timeout */
        int64_t catalog_refresh_s;  /* CATALOG_REFRESH_S: catalog reload period */
        int64_t drain_s;            /* GATEWAY_DRAIN_S: longest wait for requests in flight at SIGTERM */
        int64_t loyalty_silver_at;  /* LOYALTY_SILVER_AT: completed orders for SILVER */
        int64_t loyalty_gold_at;    /* LOYALTY_GOLD_AT: completed orders for GOLD */
        int64_t rate_limit_rps;     /* RATE_LIMIT_RPS: requests per second per client; 0 = no limit */
        int64_t rate_limit_burst;   /* RATE_LIMIT_BURST: requests a client may send at once */
        int64_t order_rate_per_min; /* ORDER_RATE_PER_MIN: POST /orders per customer per minute; 0 = no limit */
        int64_t order_rate_burst;   /* ORDER_RATE_BURST: orders a customer may place at once */
        int64_t coupon_rate_per_min; /* COUPON_RATE_PER_MIN: coupons per store per minute; 0 = no limit */
        int64_t coupon_rate_burst;  /* COUPON_RATE_BURST: coupons a store may issue at once */
        int64_t read_timeout_ms;    /* GATEWAY_READ_TIMEOUT_MS: longest wait for the reader, then 503 */
        ClientProxies proxies;      /* TRUSTED_PROXIES: peers whose X-Forwarded-For names the client */
} GatewayConfig;

typedef struct {
        GatewayConfig cfg;
        Service svc; /* NATS only: the gateway holds no PostgreSQL session */
        Catalog *catalog;
        Readmodel *readmodel; /* the read side, asked of the reader over NATS */
        RateLimit *ratelimit; /* NULL when RATE_LIMIT_RPS=0 */
        RateLimit *order_limit;  /* per customer on POST /orders; NULL when ORDER_RATE_PER_MIN=0 */
        RateLimit *coupon_limit; /* per store on POST /stores/{id}/coupons; NULL when COUPON_RATE_PER_MIN=0 */
        struct mg_context *http;
} Gateway;

/* Reads GatewayConfig from the environment; 0 or -EINVAL (logged, naming the variable). */
int gateway_config_read(GatewayConfig *c);

/* Starts civetweb with the router on cfg.bind:cfg.port. 0 or -EADDRINUSE (logged). */
int gateway_server_start(Gateway *gw);
/* Lets the requests in flight finish (up to cfg.drain_s; new ones are still
 * served meanwhile, /readyz already says 503), then stops civetweb. */
void gateway_server_stop(Gateway *gw);
/* Registers the request metrics; call once before gateway_server_start. */
void gateway_router_metrics_init(void);
/* Requests being handled right now. */
long long gateway_router_in_flight(void);
/* The civetweb request handler of every path (`gw` is the Gateway): routes,
 * authenticates, answers, counts. Returns the status sent. */
int gateway_router_handle(struct mg_connection *conn, void *gw);

/* /readyz: NATS connected, catalog loaded. */
bool gateway_ready(Gateway *gw);
