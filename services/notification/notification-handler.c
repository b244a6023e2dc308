/* Notification rows for status events and commands: the customer's log and the sender's queue. */
#include "notification-handler.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "food.pb-c.h"
#include "log.h"
#include "metrics.h"
#include "notification-message.h"
#include "order-check.h"

#define KIND_MAX 64
#define TEXT_MAX 2000 /* longest NotifyCustomer text kept */

static Metric *m_events, *m_commands, *m_duplicates;

static const PgStmt st_insert = {
        "notification_insert",
        "INSERT INTO notifications (msg_id, customer_id, order_id, status, message, at, delivery_status,"
        " next_attempt_at)"
        " VALUES ($1, $2, nullif($3, ''), $4, $5,"
        " CASE WHEN $6::bigint > 0 THEN to_timestamp($6::bigint / 1000.0) ELSE now() END, $7,"
        " CASE WHEN $7 = 'pending' THEN now() END)"
        " ON CONFLICT (msg_id) DO NOTHING"};

void notification_metrics_init(void) {
        m_events = metrics_counter("food_notifications_total{source=\"status\"}", "Notifications recorded by source");
        m_commands = metrics_counter("food_notifications_total{source=\"command\"}", "");
        m_duplicates = metrics_counter("food_notifications_duplicate_total",
                                       "Notifications already recorded under the same message id");
}

static void count(Metric *m) {
        if (m)
                metric_add(m, 1);
}

/* Inserts one row, 'pending' for the sender when it is enabled, else only 'logged'; a row already
 * there under msg_id is not an error (dedupe across loops). Never waits for the sender. */
static int record(const NotificationHandlerConfig *cfg, Pg *pg, const char *msg_id, const char *customer_id, const char *order_id, const char *status,
                  const char *message, int64_t at_ms, Metric *counter) {
        char at[24];
        PGresult *res = NULL;
        snprintf(at, sizeof(at), "%" PRId64, at_ms);
        const char *delivery = cfg && cfg->push ? "pending" : "logged";
        const char *vals[7] = {msg_id, customer_id, order_id ? order_id : "", status, message, at, delivery};
        int r = pg_run(pg, &st_insert, 7, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        count(strcmp(PQcmdTuples(res), "1") == 0 ? counter : m_duplicates);
        PQclear(res);
        return 0;
}

int notification_handle_event(void *ctx, Pg *pg, const ProtobufCMessage *msg, const char *msg_id, WorkerOut *out) {
        char text[NOTIFICATION_MESSAGE_MAX];
        const Food__V1__OrderStatusChanged *ev;
        const Food__V1__Order *o;
        const char *why = NULL;
        (void)out;

        if (msg->descriptor != &food__v1__order_status_changed__descriptor) {
                log_warn("notification: unexpected message type %s", msg->descriptor->name);
                return WORKER_POISON;
        }
        ev = (const Food__V1__OrderStatusChanged *)msg;
        o = ev->order;
        if (order_check(o, &why) == 0 && !order_check_transition(ev->previous_status, o->status))
                why = "impossible status change (unknown status, or backwards from previous_status)";
        if (why ||
            notification_message(o->status, ev->previous_status, o->amount_refunded, text, sizeof(text)) < 0) {
                log_warn("notification: impossible status event %s: %s", msg_id, why ? why : "no message for it");
                return WORKER_POISON;
        }
        return record(ctx, pg, msg_id, o->customer_id, o->id, o->status, text, ev->at_ms > 0 ? ev->at_ms : o->updated_at_ms,
                      m_events);
}

int notification_handle_command(void *ctx, Pg *pg, const ProtobufCMessage *msg, const char *msg_id, WorkerOut *out) {
        Food__V1__NotificationSent sent = FOOD__V1__NOTIFICATION_SENT__INIT;
        char fallback[NOTIFICATION_MESSAGE_MAX];
        const Food__V1__NotifyCustomer *m;
        const char *text, *order_id;
        int r;

        if (msg->descriptor != &food__v1__notify_customer__descriptor) {
                log_warn("notification-cmd: unexpected message type %s", msg->descriptor->name);
                return WORKER_POISON;
        }
        m = (const Food__V1__NotifyCustomer *)msg;
        order_id = m->corr && m->corr->order_id ? m->corr->order_id : "";
        if (!m->corr || !order_check_id(m->customer_id) || !m->kind || !*m->kind || strlen(m->kind) > KIND_MAX ||
            (*order_id && !order_check_id(order_id)) || (m->message && strlen(m->message) > TEXT_MAX)) {
                log_warn("notification-cmd: impossible command %s", msg_id);
                return WORKER_POISON;
        }
        text = m->message;
        if (!text || !*text) {
                (void)notification_kind_message(m->kind, fallback, sizeof(fallback));
                text = fallback;
        }
        /* Every try of one command is a new message (c.<command id>.<attempt>): the orchestrator re-sends
         * a NotifyCustomer whose answer was late (this worker down or slow, a reply lost in a crash). The
         * customer is told once per command, so the row is keyed by the command, not by the try. */
        char key[64];
        if (m->corr->command_id > 0)
                snprintf(key, sizeof(key), "c.%" PRId64, m->corr->command_id);
        else
                snprintf(key, sizeof(key), "%s", msg_id);
        r = record(ctx, pg, key, m->customer_id, order_id, m->kind, text, 0, m_commands);
        if (r < 0)
                return r;
        sent.corr = m->corr;
        sent.customer_id = m->customer_id;
        return worker_reply(out, &sent.base);
}
