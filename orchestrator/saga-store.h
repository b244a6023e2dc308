/* PostgreSQL persistence of sagas: rows locked for update, versioned writes,
 * the transactional outbox, the inbox of replies and idempotency keys. All
 * calls run inside the caller's transaction on the caller's connection. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "food.pb-c.h"
#include "pg.h"
#include "saga-machine.h"

/* Room for a few concurrent requests with the same Idempotency-Key. */
#define SAGA_REPLY_TO_MAX 512

enum {
        SAGA_STORE_NOT_FOUND = 1, /* no saga for that order */
        SAGA_STORE_DUPLICATE = 2, /* the message was already processed */
};

typedef struct {
        char order_id[64];
        SagaState state;
        char step[32];
        int attempt;
        int64_t version;
        Food__V1__Order *order; /* owned: unpacked snapshot */
        char card_token[128];
        Food__V1__ModifyOrder *pending; /* owned: a modification awaiting its extra charge, or NULL */
        int64_t step_deadline_ms;       /* when the awaited step is given up (0: none) */
        char reply_to[SAGA_REPLY_TO_MAX]; /* space-separated RPC inboxes awaiting the payment outcome */
} SagaRow;

void saga_row_clear(SagaRow *row);

/* Loads and locks (FOR UPDATE) the saga of `order_id`. 0, SAGA_STORE_NOT_FOUND,
 * or negative errno. On 0 the caller owns row->order (saga_row_clear). */
int saga_store_load(Pg *pg, const char *order_id, SagaRow *row);
/* Inserts a new saga whose snapshot is `order`. -EEXIST if the id exists. */
int saga_store_insert(Pg *pg, const SagaRow *row, const Food__V1__Order *order, int64_t deadline_ms);
/* Writes the row's state/step/attempt/reply_to/pending/step deadline and
 * snapshot `order` if the
 * stored version is still `expected_version`; -ESTALE otherwise.
 * deadline_ms: 0 clears the timer, SAGA_KEEP_DEADLINE keeps it. */
#define SAGA_KEEP_DEADLINE (-1)
int saga_store_update(Pg *pg, const SagaRow *row, const Food__V1__Order *order, int64_t expected_version,
                      int64_t deadline_ms);
/* Appends a message to the outbox (published by the relay after commit). */
int saga_store_outbox(Pg *pg, const char *order_id, const char *step, const ProtobufCMessage *msg, bool needs_ack);
/* Records a received message; SAGA_STORE_DUPLICATE when seen before. */
int saga_store_inbox(Pg *pg, const char *msg_id, const char *order_id, const char *type, const char *outcome);
/* Marks try `attempt` of command `command_id` as answered, which stops its
 * re-sends. Returns 1 when this call acknowledged it, 0 when it was already
 * acknowledged or the attempt is not the current one, or negative errno. */
int saga_store_ack_command(Pg *pg, int64_t command_id, int attempt);

/* Stops re-sending the unanswered commands of `step` (the saga moved on). */
int saga_store_close_step(Pg *pg, const char *order_id, const char *step);

/* Idempotency keys of POST /orders. Claims (customer, key) for `order_id`;
 * when the key exists returns SAGA_STORE_DUPLICATE and writes the first
 * order's id and request hash into the buffers. */
int saga_store_claim_key(Pg *pg, const char *customer_id, const char *key, const char *order_id,
                         const char *request_hash, char *existing_order, size_t order_cap, char *existing_hash,
                         size_t hash_cap);
