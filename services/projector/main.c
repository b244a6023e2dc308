/* projector: durable "projector" — keeps the CQRS read model (schema readmodel) of orders and
 * deliveries from the order status events. */
#include "config.h"
#include "log.h"
#include "projector-handler.h"
#include "service.h"
#include "worker.h"

extern const EmbeddedFile projector_migrations[];
extern const size_t projector_migrations_len;

int main(void) {
        Service svc;
        int64_t threads = 0, batch = 0;
        int r;

        log_setup("projector", LOG_INFO);
        r = config_int("WORKER_THREADS", 2, 1, 256, &threads);
        if (r == 0)
                r = config_int("WORKER_BATCH", 64, 1, 64, &batch);
        if (r < 0)
                return 2;
        projector_metrics_init();
        r = service_start(&svc, "projector", "readmodel", projector_migrations, projector_migrations_len, 9106);
        if (r == 0)
                r = worker_run(&svc, &(WorkerDef){.durable = "projector",
                                                  .handle = projector_handle,
                                                  .threads = (int)threads,
                                                  .batch = (int)batch});
        service_stop(&svc);
        return r < 0 ? 1 : 0;
}
