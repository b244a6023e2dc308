/* notification-worker: durable "notification" (order status events) and durable
 * "notification-cmd" (NotifyCustomer commands), two worker loops in one process. */
#include <pthread.h>

#include "log.h"
#include "notification-handler.h"
#include "service.h"
#include "worker.h"

extern const EmbeddedFile notification_migrations[];
extern const size_t notification_migrations_len;

typedef struct {
        Service *svc;
        WorkerDef def;
        int result;
} Loop;

static void *loop_run(void *arg) {
        Loop *l = arg;
        l->result = worker_run(l->svc, &l->def);
        return NULL;
}

int main(void) {
        Service svc;
        Loop events = {.svc = &svc, .def = {.durable = "notification", .handle = notification_handle_event}};
        Loop commands = {.svc = &svc, .def = {.durable = "notification-cmd", .handle = notification_handle_command}};
        pthread_t tid;
        int r;

        log_setup("notification", LOG_INFO);
        if (worker_config(&events.def, 2, 32) < 0)
                return 2;
        commands.def.threads = 1;
        commands.def.batch = events.def.batch;
        notification_metrics_init();
        r = service_start(&svc, "notification", "notification", notification_migrations,
                          notification_migrations_len, 9105);
        if (r < 0)
                goto out;
        r = -pthread_create(&tid, NULL, loop_run, &events);
        if (r < 0) {
                log_error_errno(r, "cannot start the status event loop");
                goto out;
        }
        commands.result = worker_run(&svc, &commands.def);
        service_stopping = true; /* either loop ending ends the process */
        pthread_join(tid, NULL);
        r = commands.result < 0 ? commands.result : events.result;
out:
        service_stop(&svc);
        return r < 0 ? 1 : 0;
}
