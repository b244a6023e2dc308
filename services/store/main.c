/* store-worker: durable "store" — tickets in the store owners' inboxes. */
#include "log.h"
#include "service.h"
#include "store-handler.h"
#include "worker.h"

extern const EmbeddedFile store_migrations[];
extern const size_t store_migrations_len;

int main(void) {
        WorkerDef def = {.durable = "store", .handle = store_handle, .handle_batch = store_handle_batch, .transactional = true};
        Service svc;
        int r;

        log_setup("store", LOG_INFO);
        if (worker_config(&def, 2, 32) < 0)
                return 2;
        store_metrics_init();
        const ServiceSchema schema = {"store", store_migrations, store_migrations_len};
        r = service_start(&svc, "store", &schema, 1, 9103);
        if (r == 0)
                r = worker_run(&svc, &def);
        service_stop(&svc);
        return r < 0 ? 1 : 0;
}
