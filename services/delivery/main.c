/* delivery-worker: durable "delivery" — the delivery of each cooked order, from open to delivered. */
#include "config.h"
#include "delivery-handler.h"
#include "log.h"
#include "service.h"
#include "worker.h"

extern const EmbeddedFile delivery_migrations[];
extern const size_t delivery_migrations_len;

int main(void) {
        DeliveryConfig cfg = {0};
        WorkerDef def = {.durable = "delivery", .handle = delivery_handle, .handle_batch = delivery_handle_batch, .ctx = &cfg, .transactional = true};
        Service svc;
        int64_t far_m = 0;
        int r;

        log_setup("delivery", LOG_INFO);
        r = worker_config(&def, 2, 32);
        if (r == 0)
                r = config_int("DELIVERY_FAR_M", 20000, 100, 1000000, &far_m);
        if (r < 0)
                return 2;
        cfg.far_m = (double)far_m;
        delivery_metrics_init();
        const ServiceSchema schema = {"delivery", delivery_migrations, delivery_migrations_len};
        r = service_start(&svc, "delivery", &schema, 1, 9104);
        if (r == 0)
                r = worker_run(&svc, &def);
        service_stop(&svc);
        return r < 0 ? 1 : 0;
}
