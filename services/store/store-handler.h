/* The store worker's command handler: tickets in store inboxes (store.tickets). */
#pragma once
#include <protobuf-c/protobuf-c.h>

#include "pg.h"
#include "worker.h"

/* WorkerHandler (ctx unused). CreateTicket / UpdateTicket upsert the ticket when the command's
 * order.version is newer than the stored one (a WITHDRAWN ticket stays withdrawn) and reply
 * TicketRecorded with the ticket's current status; WithdrawTicket marks it WITHDRAWN (creating a
 * tombstone if the ticket never arrived) and replies TicketWithdrawn. Other types and impossible
 * orders are WORKER_POISON. */
int store_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, const char *msg_id, WorkerOut *out);

/* Registers the worker's metrics; call once before worker_run. */
void store_metrics_init(void);
