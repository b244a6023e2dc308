/* The route table of SPEC §4, path matching with 404/405, bearer
 * authentication and role checks, and per-request metrics. */
#include <civetweb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway-analytics.h"
#include "gateway-events.h"
#include "gateway-ratelimit.h"
#include "gateway-routes.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"

#define ROUTER_SEGMENTS_MAX 8
#define ROUTER_PATH_MAX 512

typedef struct {
        const char *method;
        const char *pattern; /* "/"-separated; "*" captures an id (auth_id_valid) */
        unsigned roles;      /* AuthRole bits allowed; 0: no token needed */
        RouteHandler handler;
        bool dev_only; /* exists only with DEV_TOKENS=true */
} Route;

#define ANY_ORDER_READER (AUTH_CUSTOMER | AUTH_STORE | AUTH_ADMIN)

static const Route router_routes[] = {
        {"GET", "/healthz", 0, system_healthz, false},
        {"GET", "/readyz", 0, system_readyz, false},
        {"GET", "/metrics", 0, system_metrics, false},
        {"POST", "/auth/dev-token", 0, system_dev_token, true},
        {"GET", "/stores", 0, store_list, false},
        {"GET", "/stores/*/menu", 0, store_menu, false},
        {"GET", "/stores/*/orders", AUTH_STORE | AUTH_ADMIN, store_inbox, false},
        {"POST", "/stores/*/orders/*/accept", AUTH_STORE, store_accept, false},
        {"POST", "/stores/*/orders/*/refuse", AUTH_STORE, store_refuse, false},
        {"POST", "/stores/*/orders/*/cooking-started", AUTH_STORE, store_cooking_started, false},
        {"POST", "/stores/*/orders/*/cooking-finished", AUTH_STORE, store_cooking_finished, false},
        {"POST", "/stores/*/coupons", AUTH_STORE, store_issue_coupon, false},
        {"POST", "/orders", AUTH_CUSTOMER, orders_place, false},
        {"GET", "/orders", AUTH_CUSTOMER, orders_list, false},
        {"GET", "/orders/*", ANY_ORDER_READER, orders_get, false},
        {"PATCH", "/orders/*", AUTH_CUSTOMER, orders_modify, false},
        {"GET", "/orders/*/events", ANY_ORDER_READER, events_order_stream, false},
        {"POST", "/orders/*/cancel", AUTH_CUSTOMER, orders_cancel, false},
        {"POST", "/orders/*/confirm", AUTH_CUSTOMER, orders_confirm, false},
        {"GET", "/deliveries", AUTH_RIDER | AUTH_ADMIN, rider_deliveries, false},
        {"POST", "/deliveries/*/pick", AUTH_RIDER, rider_pick, false},
        {"POST", "/deliveries/*/delivered", AUTH_RIDER, rider_delivered, false},
        {"GET", "/customers/me", AUTH_CUSTOMER, customer_me, false},
        {"GET", "/customers/me/notifications", AUTH_CUSTOMER, customer_notifications, false},
        {"GET", "/analytics/events", AUTH_ADMIN, analytics_events, false},
        {"GET", "/admin/sagas/*", AUTH_ADMIN, system_admin_saga, false},
        /* The web UI (gateway-ui.c): its page and its assets, from memory. */
        {"GET", "/", 0, ui_index, false},
        {"HEAD", "/", 0, ui_index, false},
        {"GET", "/ui/*", 0, ui_asset, false},
        {"HEAD", "/ui/*", 0, ui_asset, false},
};

/* ---- metrics -------------------------------------------------------------- */

static const long long router_buckets_ms[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
#define ROUTER_BUCKETS (sizeof(router_buckets_ms) / sizeof(router_buckets_ms[0]))

static Metric *m_class[6]; /* by status / 100; [0] unused */
static Metric *m_bucket[ROUTER_BUCKETS + 1];
static Metric *m_sum, *m_count, *m_in_flight;

void gateway_router_metrics_init(void) {
        static const char *const bucket_names[ROUTER_BUCKETS + 1] = {
                "gateway_http_request_latency_bucket{le=\"1\"}",
                "gateway_http_request_latency_bucket{le=\"5\"}",
                "gateway_http_request_latency_bucket{le=\"10\"}",
                "gateway_http_request_latency_bucket{le=\"25\"}",
                "gateway_http_request_latency_bucket{le=\"50\"}",
                "gateway_http_request_latency_bucket{le=\"100\"}",
                "gateway_http_request_latency_bucket{le=\"250\"}",
                "gateway_http_request_latency_bucket{le=\"500\"}",
                "gateway_http_request_latency_bucket{le=\"1000\"}",
                "gateway_http_request_latency_bucket{le=\"2500\"}",
                "gateway_http_request_latency_bucket{le=\"5000\"}",
                "gateway_http_request_latency_bucket{le=\"+Inf\"}",
        };
        static const char help_req[] = "HTTP requests answered, by status class";
        /* Buckets and sum in milliseconds; the name carries no unit because promtool
         * would ask for seconds, which integer counters cannot hold. */
        static const char help_dur[] = "HTTP request latency (milliseconds)";

        m_class[1] = metrics_counter("gateway_http_requests_total{class=\"1xx\"}", help_req);
        m_class[2] = metrics_counter("gateway_http_requests_total{class=\"2xx\"}", help_req);
        m_class[3] = metrics_counter("gateway_http_requests_total{class=\"3xx\"}", help_req);
        m_class[4] = metrics_counter("gateway_http_requests_total{class=\"4xx\"}", help_req);
        m_class[5] = metrics_counter("gateway_http_requests_total{class=\"5xx\"}", help_req);
        for (size_t i = 0; i <= ROUTER_BUCKETS; i++)
                m_bucket[i] = metrics_histogram_series(bucket_names[i], help_dur);
        m_sum = metrics_histogram_series("gateway_http_request_latency_sum", help_dur);
        m_count = metrics_histogram_series("gateway_http_request_latency_count", help_dur);
        m_in_flight = metrics_gauge("gateway_http_in_flight", "HTTP requests being handled");
}

long long gateway_router_in_flight(void) {
        return atomic_load_explicit(&m_in_flight->value, memory_order_relaxed);
}

static void router_observe(int status, long long ms) {
        metric_add(m_class[status >= 100 && status < 600 ? status / 100 : 5], 1);
        for (size_t i = 0; i < ROUTER_BUCKETS; i++)
                if (ms <= router_buckets_ms[i])
                        metric_add(m_bucket[i], 1);
        metric_add(m_bucket[ROUTER_BUCKETS], 1);
        metric_add(m_sum, ms);
        metric_add(m_count, 1);
}

/* ---- matching ------------------------------------------------------------- */

/* Splits "/a/b/c" in place into segments; -1 when there are too many. */
static int router_split(char *path, char **segs) {
        int n = 0;
        char *p = path + 1;
        if (path[0] != '/')
                return -1;
        if (!*p)
                return 0;
        for (;;) {
                char *slash = strchr(p, '/');
                if (n == ROUTER_SEGMENTS_MAX)
                        return -1;
                segs[n++] = p;
                if (!slash)
                        return n;
                *slash = 0;
                p = slash + 1;
        }
}

static bool router_match(const char *pattern, char *const *segs, int n, const char **args) {
        const char *p = pattern + 1;
        int i = 0, a = 0;

        if (!*p)
                return n == 0;
        for (; i < n; i++) {
                size_t len = strcspn(p, "/");
                if (len == 1 && *p == '*') {
                        if (a == ROUTE_ARGS_MAX || !auth_id_valid(segs[i]))
                                return false;
                        args[a++] = segs[i];
                } else if (strlen(segs[i]) != len || strncmp(p, segs[i], len) != 0) {
                        return false;
                }
                p += len;
                if (*p == '/')
                        p++;
                else
                        return i + 1 == n;
        }
        return false;
}

static void router_roles_text(unsigned roles, char *buf, size_t cap) {
        size_t pos = 0;
        buf[0] = 0;
        for (unsigned bit = 1; bit <= AUTH_ADMIN; bit <<= 1)
                if (roles & bit) {
                        int n = snprintf(buf + pos, cap - pos, "%s%s", pos ? " or " : "",
                                         auth_role_name((AuthRole)bit));
                        if (n < 0 || (size_t)n >= cap - pos)
                                return;
                        pos += (size_t)n;
                }
}

/* Verifies the request's bearer token, if any: the rate limiter and the route's check share the
 * outcome. */
static void router_token(Request *rq) {
        const char *h = http_header(rq->x, "Authorization");
        size_t len;

        rq->token = TOKEN_NONE;
        if (!h || strncasecmp(h, "Bearer ", 7) != 0)
                return;
        h += 7;
        while (*h == ' ')
                h++;
        len = strlen(h);
        while (len > 0 && h[len - 1] == ' ')
                len--;
        rq->token = auth_verify_cached(&rq->gw->cfg.keys, h, len, (int64_t)time(NULL), &rq->auth, &rq->token_why) == 0
                            ? TOKEN_VALID
                            : TOKEN_INVALID;
}

/* Checks the bearer token and its role: 0, or -1 after answering 401/403. */
static int router_authenticate(Request *rq, unsigned roles) {
        char allowed[64];

        if (rq->token == TOKEN_UNCHECKED)
                router_token(rq);

        if (rq->token == TOKEN_NONE) {
                http_problem(rq->x, 401, NULL, "WWW-Authenticate: Bearer\r\n",
                             "missing bearer token: send Authorization: Bearer <token>");
                return -1;
        }
        if (rq->token == TOKEN_INVALID) {
                http_problem(rq->x, 401, NULL, "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n", "%s",
                             rq->token_why ? rq->token_why : "invalid token");
                return -1;
        }
        if (!(rq->auth.role & roles)) {
                router_roles_text(roles, allowed, sizeof(allowed));
                http_problem(rq->x, 403, NULL, NULL, "this endpoint is for %s; the token's role is %s", allowed,
                             auth_role_name(rq->auth.role));
                return -1;
        }
        return 0;
}

static void router_dispatch(Request *rq) {
        const struct mg_request_info *info = rq->x->info;
        const Route *chosen = NULL;
        char path[ROUTER_PATH_MAX], allow[64] = "Allow: ", *segs[ROUTER_SEGMENTS_MAX];
        const char *args[ROUTE_ARGS_MAX];
        bool matched = false;
        int n;

        if (!info->local_uri || strlen(info->local_uri) >= sizeof(path)) {
                http_problem(rq->x, 404, NULL, NULL, "no such resource");
                return;
        }
        memcpy(path, info->local_uri, strlen(info->local_uri) + 1);
        n = router_split(path, segs);
        for (size_t i = 0; n >= 0 && i < sizeof(router_routes) / sizeof(router_routes[0]); i++) {
                const Route *r = &router_routes[i];
                if ((r->dev_only && !rq->gw->cfg.dev_tokens) || !router_match(r->pattern, segs, n, args))
                        continue;
                if (strcmp(r->method, info->request_method) == 0) {
                        chosen = r;
                        memcpy(rq->arg, args, sizeof(args));
                        break;
                }
                if (!strstr(allow, r->method)) {
                        if (matched)
                                strncat(allow, ", ", sizeof(allow) - strlen(allow) - 1);
                        strncat(allow, r->method, sizeof(allow) - strlen(allow) - 1);
                }
                matched = true;
        }
        if (!chosen && !matched) {
                http_problem(rq->x, 404, NULL, NULL, "no such resource: %s", info->local_uri);
                return;
        }
        if (!chosen) {
                strncat(allow, "\r\n", sizeof(allow) - strlen(allow) - 1);
                http_problem(rq->x, 405, NULL, allow, "%s is not allowed on %s", info->request_method,
                             info->local_uri);
                return;
        }
        if (chosen->roles && router_authenticate(rq, chosen->roles) < 0)
                return;
        chosen->handler(rq);
}

int gateway_router_handle(struct mg_connection *conn, void *gw) {
        HttpExchange x = {conn, mg_get_request_info(conn), 0};
        Request rq = {.gw = gw, .x = &x};
        int64_t start = ids_monotonic_ms();
        long long ms;

        metric_add(m_in_flight, 1);
        /* Before routing: a client over its rate costs one token check, nothing more. */
        if (rq.gw->ratelimit) { /* its key: the token's subject, else the client's address */
                client_address(&rq.gw->cfg.proxies, x.info->remote_addr, http_header(&x, "X-Forwarded-For"),
                               rq.client, sizeof(rq.client));
                router_token(&rq);
        }
        if (ratelimit_admit(rq.gw->ratelimit, &x, rq.token == TOKEN_VALID ? rq.auth.sub : NULL, rq.client))
                router_dispatch(&rq);
        if (x.status == 0) {
                log_error("router: %s %s was not answered", x.info->request_method, x.info->local_uri);
                http_problem(&x, 500, NULL, NULL, "the request was not answered");
        }
        ms = (long long)(ids_monotonic_ms() - start);
        router_observe(x.status, ms);
        metric_add(m_in_flight, -1);
        log_debug("%s %s -> %d in %lld ms", x.info->request_method, x.info->local_uri, x.status, ms);
        return x.status;
}
