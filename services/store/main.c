/* store-worker: durable "store" — tickets in the store owners' inboxes. */
#include "config.h"
#include "log.h"
#include "service.h"
#include "store-handler.h"
#include "worker.h"

extern const EmbeddedFile store_migrations[];
extern const size_t store_migrations_len;

int main(void) {
        Service svc;
        int64_t threads = 0, batch = 0;
        int r;

        log_setup("store", LOG_INFO);
        r = config_int("WORKER_THREADS", 2, 1, 256, &threads);
        if (r == 0)
                r = config_int("WORKER_BATCH", 32, 1, 64, &batch);
        if (r < 0)
                return 2;
        store_metrics_init();
        r = service_start(&svc, "store", "store", store_migrations, store_migrations_len, 9103);
        if (r == 0)
                r = worker_run(&svc, &(WorkerDef){.durable = "store",
                                                  .handle = store_handle,
                                                  .threads = (int)threads,
                                                  .batch = (int)batch});
        service_stop(&svc);
        return r < 0 ? 1 : 0;
}
