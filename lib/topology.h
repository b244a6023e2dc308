/* The system's NATS topology, defined once: the streams, the workers' durable
 * consumers and every subject (commands, answers, status events, RPCs, dead
 * letters, each user's inboxes). lib/bus.c creates streams and consumers from
 * it (food-setup, the operators' step) and waits for them (every service),
 * lib/discovery.c announces it, the orchestrator serves its RPC subjects, and
 * the codec checks that a message came on a subject its type travels on. The
 * NATS users' permissions (deploy/helm/food-saga/charts/nats/files/auth.conf)
 * follow it; test/e2e/nats-permissions.test.mjs holds them to it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOPO_PREFIX "food"
#define TOPO_SUBJECT_MAX 128

typedef struct {
        const char *name;
        const char *subjects[2]; /* the second may be NULL */
        int64_t max_age_s;
} TopoStream;

/* A worker's durable consumer: the process consumes `filter` of `stream`. */
typedef struct {
        const char *durable; /* also the worker's name and its NATS user */
        const char *stream;
        const char *filter;
        /* It also takes commands over core NATS on food.direct.<durable> (queue group <durable>): the first try
         * of a command that a request waits on (the payment decision), sent once its intent is committed; a try
         * lost there is sent again through `stream` (orchestrator/saga-writer.c). */
        bool direct;
} TopoConsumer;

/* What an operator may set per stream (food-setup: STREAM_<NAME>_MAX_AGE_S, _MAX_BYTES, _REPLICAS). */
typedef struct {
        int64_t max_age_s; /* 0: the topology's */
        int64_t max_bytes; /* -1: unlimited */
        int replicas;      /* 1..5 (JetStream cluster) */
} TopoStreamLimits;

/* The i-th stream / consumer, NULL past the last. */
const TopoStream *topo_stream_at(size_t i);
const TopoConsumer *topo_consumer_at(size_t i);
/* The consumer called `durable`, or NULL. */
const TopoConsumer *topo_consumer(const char *durable);

/* The status-event stream, also the analytics archive. */
#define TOPO_ARCHIVE_STREAM "FOOD_ORDER"
#define TOPO_ARCHIVE_SUBJECTS TOPO_PREFIX ".order.*.status"
/* Read-only saga queries any orchestrator answers from PostgreSQL (queue group). */
#define TOPO_RPC_STUCK TOPO_PREFIX ".rpc.sagas.stuck"
#define TOPO_RPC_QUEUE "orchestrator"
/* Read-side queries (the gateway's) that any reader answers from PostgreSQL (queue group). */
#define TOPO_READ_SUBJECTS TOPO_PREFIX ".read.*"
#define TOPO_READ_QUEUE "reader"
/* Their names (food.read.<name>): what the gateway asks, what the reader runs (services/reader/reader-queries.c). */
#define TOPO_READ_ORDER "order"
#define TOPO_READ_CUSTOMER_ORDERS "customer_orders"
#define TOPO_READ_STORE_ORDERS "store_orders"
#define TOPO_READ_OPEN_DELIVERIES "open_deliveries"
#define TOPO_READ_NOTIFICATIONS "notifications"
#define TOPO_READ_COUPONS "coupons"
#define TOPO_READ_COMPLETED_ORDERS "completed_orders"
#define TOPO_READ_CATALOG_STORES "catalog_stores"
#define TOPO_READ_CATALOG_ITEMS "catalog_items"
#define TOPO_READ_ARGS_MAX 8 /* parameters of a read query at most */

/* Each writes one subject into buf; 0 or -EINVAL (a token that is empty, too
 * long, or holds '.', '*', '>' or a space). */
int topo_command_subject(char *buf, size_t cap, const char *worker);  /* food.cmd.<worker> */
int topo_answer_subject(char *buf, size_t cap, const char *instance); /* food.ans.<instance> */
int topo_direct_answer_subject(char *buf, size_t cap, const char *instance); /* food.ans.<instance>-direct */
int topo_status_subject(char *buf, size_t cap, const char *order_id); /* food.order.<id>.status */
int topo_rpc_subject(char *buf, size_t cap, int shard, const char *verb); /* food.rpc.orders.<shard>.<verb> */
int topo_rpc_shard_wildcard(char *buf, size_t cap, int shard);            /* food.rpc.orders.<shard>.* */
int topo_dlq_subject(char *buf, size_t cap, const char *durable);         /* food.dlq.<durable> */
int topo_direct_subject(char *buf, size_t cap, const char *durable);      /* food.direct.<durable> */
/* Every worker's direct subject (the codec's subjects of a command batch). */
#define TOPO_DIRECT_SUBJECTS TOPO_PREFIX ".direct.*"
int topo_read_subject(char *buf, size_t cap, const char *query);          /* food.read.<query> */
/* The query a read subject names (food.read.<query> -> <query>) into buf; 0 or -EINVAL for another subject. */
int topo_read_query(const char *subject, char *buf, size_t cap);
/* The inbox prefix of NATS user `user`: _INBOX_<user>. Its replies (requests, JetStream API answers,
 * pull deliveries) come on <prefix>.<nuid>..., which only that user may subscribe to; the default
 * "_INBOX." stays the operators' tools' (and every service may answer there: $SRV discovery). */
#define TOPO_INBOX_PREFIX "_INBOX_"
int topo_inbox_prefix(char *buf, size_t cap, const char *user);

/* NATS subject matching of `subject` against `pattern` ('*' one token, '>' the rest). */
bool topo_subject_matches(const char *pattern, const char *subject);
/* The i-th token of `subject` (0-based) into buf; 0 or -EINVAL when absent or too long. */
int topo_token(const char *subject, int i, char *buf, size_t cap);
