/* The projector's handler: OrderStatusChanged -> readmodel.orders and readmodel.deliveries. */
#pragma once
#include <protobuf-c/protobuf-c.h>

#include "pg.h"
#include "worker.h"

/* Registers the projector's metrics; call once before worker_run. */
void projector_metrics_init(void);

/* WorkerHandler (ctx unused). Upserts the order's row, and the delivery row its status implies
 * (projector-view.h), only where the event's order.version is above the stored one; an older or
 * repeated event changes nothing. No reply. Other types and impossible orders are WORKER_POISON. */
int projector_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, const char *msg_id, WorkerOut *out);
