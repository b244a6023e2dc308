/* The delivery worker's command handler: the delivery of each cooked order (delivery.deliveries). */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "food.pb-c.h"

#include "pg.h"
#include "worker.h"

typedef struct {
        double far_m; /* a pickup-to-dropoff distance above this is logged as suspicious */
} DeliveryConfig;

/* The pure checks delivery_handle makes before touching the deliveries table: 0 with the order id
 * derived from the delivery id in order_id (cap bytes), or WORKER_POISON for another type, a
 * delivery id that is not "dlv_<order suffix>" of the correlation's order, coordinates out of
 * range, or a malformed store or rider id. */
int delivery_check(const ProtobufCMessage *msg, char *order_id, size_t cap);

/* The numbers an OpenDelivery stores: coordinates as text (0 for a missing location), the
 * pickup-to-dropoff distance (only when both are given; dist "" otherwise) and whether it is over
 * cfg->far_m. Pure; returns 0. */
typedef struct {
        char num[4][32]; /* pickup lat, lon, dropoff lat, lon */
        char dist[32];
        double distance_m;
        bool far;
} DeliveryOpenParams;
int delivery_open_params(const DeliveryConfig *cfg, const Food__V1__OpenDelivery *m, DeliveryOpenParams *p);

/* Registers the worker's metrics; call once before worker_run. */
void delivery_metrics_init(void);

/* WorkerHandler (ctx = const DeliveryConfig *). Every command replies DeliveryRecorded with the
 * delivery's status and rider after it: OpenDelivery creates it OPEN; AssignRider makes it
 * PICKED_UP by that rider when OPEN (another rider already on it: unchanged, warning);
 * CompleteDelivery makes it DELIVERED; CancelDelivery makes it CANCELLED unless delivered.
 * Assign/complete before the opening arrived are WORKER_RETRY. Other types and impossible
 * commands are WORKER_POISON. */
int delivery_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, WorkerOut *out);
/* WorkerBatchHandler: the same for a whole fetch, in two statements (the openings, then the newest
 * state of each delivery), every command answered with its delivery's state after them. */
int delivery_handle_batch(void *ctx, Pg *pg, const ProtobufCMessage *const *cmds, int *res, WorkerOut *const *outs,
                          int n);
