/* The HTTP gateway: config -> NATS -> catalog (from the reader) -> civetweb -> catalog refresh loop -> drain. It
 * holds no PostgreSQL session: its reads are the reader's (services/reader), its writes the orchestrator's. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "gateway-events.h"
#include "gateway-rpc.h"
#include "gateway.h"
#include "ids.h"
#include "log.h"

/* While starting, how long the gateway waits between two attempts to load the catalog. */
#define GATEWAY_CATALOG_RETRY_MS 500

static void gateway_refresh_loop(Gateway *gw) {
        int64_t next = ids_now_ms() + gw->cfg.catalog_refresh_s * 1000;
        while (!service_stopping) {
                struct timespec ts = {0, 200 * 1000000L};
                nanosleep(&ts, NULL);
                if (ids_now_ms() < next)
                        continue;
                next = ids_now_ms() + gw->cfg.catalog_refresh_s * 1000;
                int r = catalog_load(gw->catalog, gw->readmodel);
                if (r < 0)
                        log_warn("catalog refresh failed, keeping the previous catalog: %s", strerror(-r));
        }
}

/* What the gateway needs besides NATS before it serves: the catalog, asked of the reader until one answers (it
 * may start after the gateway) or SIGTERM; meanwhile /readyz says so. */
static int gateway_first_catalog(Service *svc, const ServiceSchema *schemas, size_t n) {
        Gateway *gw = (Gateway *)((char *)svc - offsetof(Gateway, svc));
        (void)schemas;
        (void)n;
        int r = readmodel_new(&gw->readmodel, svc->bus, gw->cfg.read_timeout_ms);
        if (r == 0)
                r = catalog_new(&gw->catalog);
        while (r == 0) {
                r = catalog_load(gw->catalog, gw->readmodel);
                if (r == 0) {
                        log_info("catalog loaded: %zu stores", catalog_store_count(gw->catalog));
                        return 0;
                }
                if (r == -ENOMEM || r == -EINVAL)
                        break;
                service_set_reason(svc, LOG_WARN, "waiting for the catalog from the reader (%s)", strerror(-r));
                service_sleep_ms(GATEWAY_CATALOG_RETRY_MS);
                r = service_stopping ? -ECANCELED : 0;
        }
        return log_error_errno(r, "cannot load the catalog");
}

static const ServiceBackend gateway_backend = {gateway_first_catalog, NULL, NULL};

int main(void) {
        Gateway gw = {0};
        int r;

        log_setup("gateway", LOG_INFO);
        if (gateway_config_read(&gw.cfg) < 0)
                return 1;
        gateway_router_metrics_init();
        ratelimit_metrics_init();
        rpc_metrics_init();
        readmodel_metrics_init();
        if (events_setup() < 0)
                return 1;
        /* Until started, /healthz and /readyz (503, with the reason) answer on the gateway's own port. */
        r = service_start_with(&gw.svc, "gateway", &gateway_backend, NULL, 0, 0, gw.cfg.bind, gw.cfg.port);
        if (r == 0 && gw.cfg.rate_limit_rps > 0)
                r = ratelimit_new(&gw.ratelimit, gw.cfg.rate_limit_rps, 1000, gw.cfg.rate_limit_burst, RATELIMIT_SLOTS);
        if (r == 0 && gw.cfg.order_rate_per_min > 0)
                r = ratelimit_new(&gw.order_limit, gw.cfg.order_rate_per_min, 60000, gw.cfg.order_rate_burst,
                                  RATELIMIT_SLOTS);
        if (r == 0 && gw.cfg.coupon_rate_per_min > 0)
                r = ratelimit_new(&gw.coupon_limit, gw.cfg.coupon_rate_per_min, 60000, gw.cfg.coupon_rate_burst,
                                  RATELIMIT_STORE_SLOTS);
        if (r == 0)
                r = gateway_server_start(&gw);
        if (r == 0)
                gateway_refresh_loop(&gw);
        log_info("gateway stopping");
        gateway_server_stop(&gw);
        readmodel_free(gw.readmodel);
        ratelimit_free(gw.ratelimit);
        ratelimit_free(gw.order_limit);
        ratelimit_free(gw.coupon_limit);
        events_teardown();
        catalog_free(gw.catalog);
        service_stop(&gw.svc);
        return r < 0 ? 1 : 0;
}
