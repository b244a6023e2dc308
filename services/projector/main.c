/* projector: durable "projector" — keeps the CQRS read model (schema readmodel) of orders and
 * deliveries from the order status events. */
#include "log.h"
#include "projector-handler.h"
#include "service.h"
#include "worker.h"

extern const EmbeddedFile projector_migrations[];
extern const size_t projector_migrations_len;

int main(void) {
        WorkerDef def = {.durable = "projector", .handle = projector_handle};
        Service svc;
        int r;

        log_setup("projector", LOG_INFO);
        if (worker_config(&def, 2, 64) < 0)
                return 2;
        projector_metrics_init();
        r = service_start(&svc, "projector", "readmodel", projector_migrations, projector_migrations_len, 9106);
        if (r == 0)
                r = worker_run(&svc, &def);
        service_stop(&svc);
        return r < 0 ? 1 : 0;
}
