/* The store worker's command handler: tickets in store inboxes (store.tickets). */
#pragma once
#include <protobuf-c/protobuf-c.h>

#include "food.pb-c.h"
#include "pg.h"
#include "worker.h"

/* WorkerHandler (ctx unused). CreateTicket / UpdateTicket upsert the ticket when the command's
 * order.version is newer than the stored one (a WITHDRAWN ticket stays withdrawn) and reply
 * TicketRecorded with the ticket's current status; WithdrawTicket marks it WITHDRAWN (creating a
 * tombstone if the ticket never arrived) and replies TicketWithdrawn. Other types and impossible
 * orders are WORKER_POISON. */
int store_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, WorkerOut *out);
/* WorkerBatchHandler: the same for a whole fetch, in two statements (tickets: the newest of each
 * order written; then withdrawals); every command answered with how its ticket stands. */
int store_handle_batch(void *ctx, Pg *pg, const ProtobufCMessage *const *cmds, int *res, WorkerOut *const *outs,
                       int n);

/* The pure checks store_handle makes before touching the tickets table: 0, or WORKER_POISON with
 * *why (static text; why may be NULL) for a Create/UpdateTicket without a correlation, with an
 * implausible order (order-check.h), one the correlation does not name, or text (item ids and
 * names, status, note) that is not UTF-8: the ticket could never be stored. */
int store_check_ticket(const Food__V1__Correlation *corr, const Food__V1__Order *o, const char **why);
/* 0, or WORKER_POISON for a WithdrawTicket without a valid order id or with a malformed store id. */
int store_check_withdraw(const Food__V1__WithdrawTicket *m);

/* The ticket's lines as JSON text [{"menu_item_id","name","quantity","unit_price"}] (malloc'ed, the
 * caller frees), or NULL when out of memory or a string is not UTF-8. Pure. */
char *store_items_json(const Food__V1__Order *o);

/* Registers the worker's metrics; call once before worker_run. */
void store_metrics_init(void);
