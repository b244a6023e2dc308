/* The run loop of every JetStream consumer process: fetch command batches,
 * apply every command of a fetch in one transaction (business keys make each
 * handler idempotent: no dedupe table), answer each batch's sender after the
 * commit, then ack. Persist before ack; a crash anywhere redelivers, and a
 * redelivered command changes nothing twice. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "food.pb-c.h"
#include "pg.h"
#include "service.h"

/* Handler outcomes beyond 0 (done) and negative errno (infrastructure: the
 * fetch is rolled back and redelivered later; -EBADMSG: PostgreSQL refused the
 * command's own data, which is then dead-lettered alone). */
enum {
        WORKER_RETRY = 1,  /* transient business condition: redeliver its batch later */
        WORKER_POISON = 2, /* impossible content: dead-letter the command, go on with the others */
};

typedef struct WorkerOut WorkerOut;

/* Packs `reply` (borrowed; may live on the handler's stack; a reply type of
 * food.v1.Reply) as the command's answer, sent to the batch's sender after the
 * commit. At most one per command. 0, -EEXIST or -EINVAL. */
int worker_answer(WorkerOut *out, const ProtobufCMessage *reply);

/* Called for each command of a fetch, inside its transaction (`pg` NULL for a
 * worker without one). `cmd` is borrowed for the call. */
typedef int (*WorkerHandler)(void *ctx, Pg *pg, const ProtobufCMessage *cmd, WorkerOut *out);
/* Optional: applies every command of a fetch at once (multi-row statements), inside its
 * transaction, as `handle` would one after the other: for each i, res[i] is 0, WORKER_RETRY or
 * WORKER_POISON and outs[i] takes its answer. Returns 0, or a negative errno for the whole
 * transaction (-EBADMSG: the commands are then applied one by one with `handle`, so that only the
 * one PostgreSQL refuses is dead-lettered). `cmds` are borrowed for the call. */
typedef int (*WorkerBatchHandler)(void *ctx, Pg *pg, const ProtobufCMessage *const *cmds, int *res,
                                  WorkerOut *const *outs, int n);
/* Called for each batch's notification rows (the notification worker); 0, or
 * negative errno to hand the batch back. */
typedef int (*WorkerRows)(void *ctx, Food__V1__Notification *const *rows, size_t n);

typedef struct {
        const char *durable; /* consumer in the topology (lib/topology.c) */
        WorkerHandler handle;
        WorkerBatchHandler handle_batch; /* optional: used for fetches of more than one command */
        WorkerRows rows;
        void *ctx;
        int threads;        /* fetch loops, each with its own subscription and connection */
        int batch;          /* max messages per fetch and transaction */
        bool transactional; /* a PostgreSQL transaction around each fetch */
} WorkerDef;

/* Runs until service_stopping. Returns 0 or negative errno on setup failure.
 * Thread-safe: a process may run several consumers, one worker_run per thread. */
int worker_run(Service *svc, const WorkerDef *def);

/* Poison messages (undecodable, of another type than their subject carries,
 * or with impossible content) are counted per subject in
 * food_messages_poison_total{subject="..."}: one series per command subject
 * and per subject pattern of the system (food.order.*.status, food.rpc.orders.*.place...),
 * "other" for anything else. worker_poison_init registers the series
 * (idempotent, thread-safe); worker_poison_count counts one for `subject`. */
void worker_poison_init(void);
void worker_poison_count(const char *subject);

/* Reads WORKER_THREADS and WORKER_BATCH (fail fast naming the variable) into
 * def->threads and def->batch, with the given defaults. 0 or -EINVAL. */
int worker_config(WorkerDef *def, int default_threads, int default_batch);
