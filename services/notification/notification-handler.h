/* The notification worker's handlers: order status events and NotifyCustomer commands, each
 * recorded once in notification.notifications. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "pg.h"
#include "worker.h"

/* The handlers' ctx (borrowed, read only; NULL means push = false). */
typedef struct {
        bool push; /* a sender is configured: new rows are 'pending' for it, else only 'logged' */
} NotificationHandlerConfig;

/* Registers the worker's metrics; call once before the worker loops start. */
void notification_metrics_init(void);

/* WorkerHandler for durable "notification" (ctx: NotificationHandlerConfig): OrderStatusChanged -> one row keyed by
 * msg_id with the status text of notification-message.h. No reply. Other types and impossible
 * orders are WORKER_POISON. */
int notification_handle_event(void *ctx, Pg *pg, const ProtobufCMessage *msg, const char *msg_id, WorkerOut *out);

/* WorkerHandler for durable "notification-cmd" (ctx: NotificationHandlerConfig): NotifyCustomer -> one row (status =
 * kind) and the reply NotificationSent. Other types and impossible commands are WORKER_POISON. */
int notification_handle_command(void *ctx, Pg *pg, const ProtobufCMessage *msg, const char *msg_id, WorkerOut *out);
