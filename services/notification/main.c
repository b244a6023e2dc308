/* notification-worker: durable "notification" — the rows the orchestrator recorded for customers
 * (one per status change, coupon and thank-you) come in batches; with NOTIFY_WEBHOOK_URL set a
 * sender pool pushes them to the provider, else they are only the customers' log ('logged'). */

#include "log.h"
#include "notification-sender.h"
#include "service.h"
#include "worker.h"

extern const EmbeddedFile notification_migrations[];
extern const size_t notification_migrations_len;

typedef struct {
        NotifySender *sender; /* NULL: no webhook */
        Pg *pg;               /* marks rows 'logged' when there is no webhook */
} Notify;

/* Rows whose push is not wanted: the customer's log only. */
static const PgStmt st_logged = {
        "notify_logged",
        "WITH d AS (DELETE FROM outbox WHERE msg_id = ANY($1::text[]) AND NOT leased AND attempts = 0 RETURNING msg_id)"
        " UPDATE notifications n SET delivery_status = 'logged', attempts = 0 FROM d WHERE n.msg_id = d.msg_id"};

static int notify_rows(void *ctx, Food__V1__Notification *const *rows, size_t n) {
        Notify *nt = ctx;
        PgArray ids;
        int r;
        if (nt->sender)
                return notify_sender_feed(nt->sender, rows, n);
        pg_array_init(&ids, PG_OID_TEXT);
        for (size_t i = 0; i < n; i++)
                pg_array_text(&ids, rows[i]->msg_id);
        r = pg_array_finish(&ids);
        if (r == 0)
                r = pg_ensure(nt->pg);
        if (r == 0) {
                const char *vals[] = {(const char *)ids.data};
                int lens[] = {(int)ids.len}, fmts[] = {1};
                r = pg_run(nt->pg, &st_logged, 1, vals, lens, fmts, NULL);
        }
        pg_array_free(&ids);
        return r;
}

/* Nothing but rows is sent to this worker: a command here is poison. */
static int notify_command(void *ctx, Pg *pg, const ProtobufCMessage *cmd, WorkerOut *out) {
        (void)ctx;
        (void)pg;
        (void)out;
        log_warn("notification: unexpected command %s", cmd->descriptor->name);
        return WORKER_POISON;
}

int main(void) {
        const ServiceSchema schema = {"notification", notification_migrations, notification_migrations_len};
        Notify nt = {0};
        WorkerDef def = {.durable = "notification", .handle = notify_command, .rows = notify_rows, .ctx = &nt};
        NotifySenderConfig scfg;
        Service svc;
        bool push;
        int r;

        log_setup("notification", LOG_INFO);
        if (worker_config(&def, 1, 64) < 0 || notify_sender_config(&scfg) < 0)
                return 2;
        push = notify_sender_enabled(&scfg);
        notify_sender_metrics_init();
        r = service_start(&svc, "notification", &schema, 1, 9105);
        if (r < 0)
                goto out;
        if (push)
                r = notify_sender_start(&nt.sender, &svc, &scfg);
        else {
                log_info("NOTIFY_WEBHOOK_URL not set: notifications are only recorded (delivery_status 'logged')");
                r = service_pg(&svc, &nt.pg);
                if (r == 0)
                        r = pg_prefer_indexes(nt.pg); /* its rows leave the outbox queue by msg_id */
        }
        if (r == 0)
                r = worker_run(&svc, &def);
out:
        service_stopping = true;
        notify_sender_stop(nt.sender);
        pg_free(nt.pg);
        service_stop(&svc);
        return r < 0 ? 1 : 0;
}
