/* The HTTP gateway: config -> NATS/PostgreSQL/catalog -> civetweb -> catalog refresh loop -> drain. */
#include <time.h>

#include "gateway-events.h"
#include "gateway-rpc.h"
#include "gateway.h"
#include "ids.h"
#include "log.h"

extern const EmbeddedFile catalog_migrations[];
extern const size_t catalog_migrations_len;
extern const EmbeddedFile catalog_demo[]; /* gateway/migrations/demo-catalog.sql */

static void gateway_refresh_loop(Gateway *gw) {
        int64_t next = ids_now_ms() + gw->cfg.catalog_refresh_s * 1000;
        while (!service_stopping) {
                struct timespec ts = {0, 200 * 1000000L};
                nanosleep(&ts, NULL);
                if (ids_now_ms() < next)
                        continue;
                next = ids_now_ms() + gw->cfg.catalog_refresh_s * 1000;
                int r = pg_ensure(gw->svc.pg);
                if (r == 0)
                        r = catalog_load(gw->catalog, gw->svc.pg);
                if (r < 0)
                        log_warn("catalog refresh failed, keeping the previous catalog: %s", pg_error(gw->svc.pg));
        }
}

int main(void) {
        Gateway gw = {0};
        int r;

        log_setup("gateway", LOG_INFO);
        if (gateway_config_read(&gw.cfg) < 0)
                return 1;
        gateway_router_metrics_init();
        ratelimit_metrics_init();
        pgpool_metrics_init();
        rpc_metrics_init();
        if (events_setup() < 0)
                return 1;
        /* DEMO_CATALOG: the six demo stores, seeded into an empty catalog by whoever migrates it. */
        bool demo = true;
        if (config_bool("DEMO_CATALOG", true, &demo) < 0)
                return 1;
        const ServiceSchema schema = {"catalog", catalog_migrations, catalog_migrations_len};
        /* Until started, /healthz and /readyz (503, with the reason) answer on the gateway's own port. */
        r = service_start_on(&gw.svc, "gateway", &schema, 1, 0, gw.cfg.bind, gw.cfg.port);
        if (r == 0 && demo && gw.svc.cfg.migrations == CONFIG_MIGRATIONS_APPLY) {
                r = pg_exec(gw.svc.pg, catalog_demo[0].data);
                if (r < 0)
                        log_error("cannot seed the demo catalog: %s", pg_error(gw.svc.pg));
        }
        if (r == 0)
                r = catalog_new(&gw.catalog);
        if (r == 0) {
                r = catalog_load(gw.catalog, gw.svc.pg);
                if (r < 0)
                        log_error("cannot load the catalog: %s", pg_error(gw.svc.pg));
                else
                        log_info("catalog loaded: %zu stores", catalog_store_count(gw.catalog));
        }
        if (r == 0)
                r = pgpool_new(&gw.pgpool, gw.svc.cfg.database_url, "catalog", (size_t)gw.cfg.pg_pool,
                               gw.cfg.pg_wait_ms);
        if (r == 0)
                r = readmodel_new(&gw.readmodel, gw.pgpool);
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
        pgpool_free(gw.pgpool);
        ratelimit_free(gw.ratelimit);
        ratelimit_free(gw.order_limit);
        ratelimit_free(gw.coupon_limit);
        events_teardown();
        catalog_free(gw.catalog);
        service_stop(&gw.svc);
        return r < 0 ? 1 : 0;
}
