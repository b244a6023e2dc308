/* notification-worker: durable "notification" (order status events) and durable
 * "notification-cmd" (NotifyCustomer commands), two worker loops in one process that only write
 * rows; with NOTIFY_WEBHOOK_URL set, a sender pool pushes those rows to the provider. */
#include <curl/curl.h>
#include <pthread.h>

#include "log.h"
#include "notification-handler.h"
#include "notification-sender.h"
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
        NotificationHandlerConfig hcfg = {0};
        NotifySenderConfig scfg;
        NotifySender *sender = NULL;
        Loop events = {.svc = &svc, .def = {.durable = "notification", .handle = notification_handle_event}};
        Loop commands = {.svc = &svc, .def = {.durable = "notification-cmd", .handle = notification_handle_command}};
        bool curl_ready = false;
        pthread_t tid;
        int r;

        log_setup("notification", LOG_INFO);
        if (worker_config(&events.def, 2, 32) < 0 || notify_sender_config(&scfg) < 0)
                return 2;
        hcfg.push = notify_sender_enabled(&scfg);
        events.def.ctx = &hcfg;
        commands.def.ctx = &hcfg;
        commands.def.threads = 1;
        commands.def.batch = events.def.batch;
        notification_metrics_init();
        notify_sender_metrics_init();
        if (hcfg.push) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                        log_error("cannot initialise libcurl");
                        return 1;
                }
                curl_ready = true;
        }
        r = service_start(&svc, "notification", "notification", notification_migrations,
                          notification_migrations_len, 9105);
        if (r < 0)
                goto out;
        if (hcfg.push) {
                r = notify_sender_start(&sender, &svc, &scfg);
                if (r < 0)
                        goto out;
        } else
                log_info("NOTIFY_WEBHOOK_URL not set: notifications are only recorded (delivery_status 'logged')");
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
        service_stopping = true;
        notify_sender_stop(sender);
        service_stop(&svc);
        if (curl_ready)
                curl_global_cleanup();
        return r < 0 ? 1 : 0;
}
