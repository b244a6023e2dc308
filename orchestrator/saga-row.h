/* One saga as its owner holds it in memory: the order snapshot, where the saga
 * stands, its durable timers, the commands it waits answers for and its
 * history. Persisted as a row of orchestrator.sagas by saga-store.c; decided
 * on by saga-engine.c; kept and written in batches by saga-writer.c. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "food.pb-c.h"
#include "ids.h"
#include "saga-machine.h"
#include "saga-steps.h"

/* Room for a few concurrent requests with the same Idempotency-Key. */
#define SAGA_REPLY_TO_MAX 512
#define SAGA_CARD_TOKEN_MAX IDS_CARD_TOKEN_MAX /* lib/ids.h: one limit end to end */
#define SAGA_LOG_MAX 256        /* history lines kept per saga (the oldest go first) */

/* A command sent and not answered yet. */
typedef struct {
        uint32_t command_id;
        const SagaStep *step;
        uint32_t attempt;    /* tries so far */
        uint32_t budget;     /* tries since created or redriven */
        int64_t next_try_ms; /* when it is re-sent; 0 once its tries are spent */
        int64_t sent_ms;     /* when last sent (memory only: a saga loaded again re-sends at once) */
        bool direct;         /* last sent over core NATS, unstored (memory only) */
        int64_t version;     /* order version that sent it */
        uint8_t *stored;     /* packed food.v1.Command, for steps without a builder */
        size_t stored_len;
} SagaPending;

/* History line kinds and details (SagaLogEntry.kind / .detail). */
typedef enum { LOG_COMMAND = 1, LOG_EVENT, LOG_REPLY } SagaLogKind;
typedef enum {
        LOG_SENT = 0,     /* a command sent, awaiting its answer */
        LOG_ANSWERED,     /* a command answered */
        LOG_SUPERSEDED,   /* a command replaced by a newer one of its step, or its step closed */
        LOG_GAVE_UP,      /* a command whose tries are spent */
        LOG_PUBLISHED,    /* a status event */
        LOG_APPLIED,      /* a reply that moved the saga or stopped a command */
        LOG_STALE,        /* a reply to something the saga no longer waits for */
} SagaLogDetail;

typedef struct {
        uint8_t kind, detail;
        uint16_t type; /* index in the codec registry */
        uint16_t step; /* 0: status; else 1 + index in the steps table */
        uint32_t attempt, command_id;
        int64_t at_ms;
} SagaLogEntry;

typedef struct SagaRow {
        char order_id[64];
        int shard;
        SagaState state;
        char step[32];   /* the payment step the saga waits on (authorize, redeem_coupon, modify_charge), or "" */
        int attempt;     /* legacy: try of that step */
        int64_t version; /* = order->version */
        Food__V1__Order *order; /* owned snapshot */
        char card_token[SAGA_CARD_TOKEN_MAX + 1];
        Food__V1__ModifyOrder *pending; /* owned: a modification awaiting its extra charge, or NULL */
        int64_t step_deadline_ms;       /* when the awaited step is given up (0: none) */
        int64_t deadline_ms;            /* durable timer of the state (0: none) */
        bool compensation_failed;
        int64_t created_ms, updated_ms;
        char last_request[128]; /* inbox of the last action or modification applied: the same request decided
                                 * again (its batch's commit was not confirmed) answers 200, not 409 */
        char reply_to[SAGA_REPLY_TO_MAX]; /* space-separated RPC inboxes awaiting an outcome (whoever owns the
                                           * saga next answers them, while the gateway still waits) */

        SagaPending *commands; /* unanswered commands */
        size_t n_commands, cap_commands;
        uint32_t commands_sent; /* the last command id given */
        SagaLogEntry *log;
        size_t n_log, cap_log;

        /* the writer's bookkeeping */
        bool is_new;      /* not in the table yet */
        bool settled;     /* terminal with nothing left to answer: written so, then dropped from memory */
        uint64_t dirty;   /* the batch that changed it last (0: clean) */
        struct SagaRow *next; /* hash chain */
} SagaRow;

/* Frees what the row owns and zeroes it. */
void saga_row_clear(SagaRow *row);

/* Appends a history line (the oldest goes when SAGA_LOG_MAX are kept). */
void saga_row_log(SagaRow *row, SagaLogKind kind, const ProtobufCMessageDescriptor *type, const SagaStep *step,
                  uint32_t attempt, uint32_t command_id, SagaLogDetail detail, int64_t at_ms);
/* Sets the detail of the newest history line of command `command_id`. */
void saga_row_log_detail(SagaRow *row, uint32_t command_id, SagaLogDetail detail);

/* The unanswered command `command_id`, or NULL. */
SagaPending *saga_row_command(SagaRow *row, uint32_t command_id);
/* Adds an unanswered command (a copy of `stored` when not NULL); NULL when out of memory. */
SagaPending *saga_row_add_command(SagaRow *row, const SagaStep *step, int64_t version, const uint8_t *stored,
                                  size_t stored_len);
/* Forgets an unanswered command (answered or superseded). */
void saga_row_drop_command(SagaRow *row, SagaPending *p);
/* Whether the saga is done: terminal, nothing unanswered, no payment awaited. */
bool saga_row_done(const SagaRow *row);

/* The persisted form of the pending commands and history (column record_pb),
 * and back. Packing: 0 with *ret malloc'ed, or -ENOMEM. Unpacking: 0 or -EBADMSG. */
int saga_row_pack_record(const SagaRow *row, uint8_t **ret, size_t *len);
int saga_row_unpack_record(SagaRow *row, const uint8_t *data, size_t len);
