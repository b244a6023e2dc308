/* The delivery worker's command handler: the delivery of each cooked order (delivery.deliveries). */
#pragma once
#include <protobuf-c/protobuf-c.h>

#include "pg.h"
#include "worker.h"

typedef struct {
        double far_m; /* a pickup-to-dropoff distance above this is logged as suspicious */
} DeliveryConfig;

/* Registers the worker's metrics; call once before worker_run. */
void delivery_metrics_init(void);

/* WorkerHandler (ctx = const DeliveryConfig *). Every command replies DeliveryRecorded with the
 * delivery's status and rider after it: OpenDelivery creates it OPEN; AssignRider makes it
 * PICKED_UP by that rider when OPEN (another rider already on it: unchanged, warning);
 * CompleteDelivery makes it DELIVERED; CancelDelivery makes it CANCELLED unless delivered.
 * Assign/complete before the opening arrived are WORKER_RETRY. Other types and impossible
 * commands are WORKER_POISON. */
int delivery_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, const char *msg_id, WorkerOut *out);
