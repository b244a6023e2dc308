/* The run loop of every JetStream consumer process: fetch a batch, decode,
 * deduplicate in PostgreSQL, handle in one transaction (a savepoint per
 * message), publish replies, then ack. Persist before ack; a crash anywhere
 * re-delivers and the processed table makes the retry change nothing twice. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "pg.h"
#include "service.h"

/* Handler outcomes beyond 0 (done) and negative errno (infrastructure: the
 * batch is rolled back and re-delivered later). */
enum {
        WORKER_RETRY = 1,  /* transient business condition: redeliver this message later */
        WORKER_POISON = 2, /* impossible content: dead-letter it and move on */
};

typedef struct WorkerOut WorkerOut;

/* Packs `reply` (borrowed; may live on the handler's stack) as this message's
 * reply, published on its registered subject after commit. At most one. */
int worker_reply(WorkerOut *out, const ProtobufCMessage *reply);

/* Called inside the batch transaction for each new (never processed) message.
 * `msg` is borrowed for the call; `msg_id` is its Nats-Msg-Id. */
typedef int (*WorkerHandler)(void *ctx, Pg *pg, const ProtobufCMessage *msg, const char *msg_id, WorkerOut *out);

typedef struct {
        const char *durable;  /* consumer in the topology (lib/bus.c) */
        WorkerHandler handle;
        void *ctx;
        int threads;          /* fetch loops, each with its own subscription and connection */
        int batch;            /* max messages per fetch and transaction */
} WorkerDef;

/* Runs until service_stopping. Returns 0 or negative errno on setup failure.
 * Thread-safe: a process may run several consumers, one worker_run per thread.
 * Creates the `processed` dedupe table in the service's schema if missing. */
int worker_run(Service *svc, const WorkerDef *def);

/* Poison messages (undecodable, of another type than their subject carries,
 * or with impossible content) are counted per subject in
 * food_messages_poison_total{subject="..."}: one series per subject of the
 * system (food.order.<id>.status counts as "food.order.*.status"), "other"
 * for anything else. worker_poison_init registers the series (idempotent,
 * thread-safe); worker_poison_count counts one for `subject` (borrowed). */
void worker_poison_init(void);
void worker_poison_count(const char *subject);

/* True when `subject` is where a message like `m` is published: the fixed
 * subject of its type, or food.order.<its order id>.status. A message whose
 * Food-Type names another type than its subject carries is poison. */
bool worker_subject_fits(const ProtobufCMessage *m, const char *subject);

/* Reads WORKER_THREADS and WORKER_BATCH (fail fast naming the variable) into
 * def->threads and def->batch, with the given defaults. 0 or -EINVAL. */
int worker_config(WorkerDef *def, int default_threads, int default_batch);
