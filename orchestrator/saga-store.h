/* PostgreSQL persistence of the orchestrator: shard ownership (session
 * advisory locks on the writing connection), loading a shard's unsettled
 * sagas and its unpublished status events, and one batch of writes (sagas,
 * status events, read model, notifications, idempotency keys, published
 * watermarks) as one transaction in one round trip. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "food.pb-c.h"
#include "pg.h"
#include "readmodel-write.h"
#include "saga-row.h"

enum {
        SAGA_STORE_NOT_FOUND = 1, /* no saga for that order */
};

/* Tries to take each of `shards` not held yet (pg_try_advisory_lock on this
 * session), up to this session's fair part (IDS_SHARDS over the writing
 * orchestrators, less the `held` it has): writes those taken into got[],
 * returns how many, or negative errno. A process that lost its session lost its
 * shards. */
int saga_store_lock_shards(Pg *pg, const int *shards, size_t n, int held, int *got);
/* Lets `shard` go (pg_advisory_unlock on this session): another replica may take it. 0 or negative errno. */
int saga_store_unlock_shard(Pg *pg, int shard);
/* How many orchestrators have a writing session now (this one's included), in *ret. 0 or negative errno. */
int saga_store_count_writers(Pg *pg, long long *ret);
/* Ends the writing sessions of other orchestrators that hold shard locks and have not moved for
 * `stall_s` seconds (a paused or hung process), calling `ended` for each. The count, or negative
 * errno. */
int saga_store_end_stalled(Pg *pg, int stall_s, void (*ended)(void *ud, const char *name, long pid), void *ud);

/* Calls `fn` with each unsettled saga of `shards` (a row the callee takes
 * over: saga_row_clear it). 0 or negative errno. */
int saga_store_load_shards(Pg *pg, const int *shards, size_t n, void (*fn)(void *ud, SagaRow *row), void *ud);
/* Loads one saga into `row` (zeroed first): 0, SAGA_STORE_NOT_FOUND or negative errno. */
int saga_store_load(Pg *pg, const char *order_id, SagaRow *row);

/* A status event not yet confirmed published. */
typedef struct {
        int shard;
        int64_t seq;
        char msg_id[48];
        char order_id[64];
        uint8_t *payload; /* packed OrderStatusChanged, owned */
        size_t len;
} SagaEvent;
/* Per shard of `shards`: the last event sequence given (*seqs, aligned with
 * shards) and, through `fn`, every event after the published watermark, in
 * order (the callee owns ev->payload). 0 or negative errno. */
int saga_store_load_events(Pg *pg, const int *shards, size_t n, int64_t *seqs,
                           void (*fn)(void *ud, SagaEvent *ev), void *ud);

/* The existing order of each (customer, key) of a batch's places, for
 * idempotency keys already claimed. `fn` gets each one found. 0 or errno. */
int saga_store_lookup_keys(Pg *pg, const char *const *customers, const char *const *keys, size_t n,
                           void (*fn)(void *ud, const char *customer, const char *key, const char *order_id,
                                      const char *request_hash),
                           void *ud);

/* One batch of writes. */
typedef struct {
        PgArray s_id, s_shard, s_settled, s_state, s_step, s_attempt, s_version, s_customer, s_store, s_order,
                s_card, s_pending, s_record, s_deadline, s_step_deadline, s_comp_failed, s_created, s_updated, s_reply_to;
        PgArray e_shard, e_seq, e_order, e_msg, e_payload;
        PgArray n_msg, n_customer, n_order, n_status, n_message, n_at;
        PgArray k_customer, k_key, k_order, k_hash;
        PgArray w_shard, w_published;
        PgArray l_id, l_shard, l_worker, l_command;
        ReadmodelWrite rm;
        size_t n_sagas, n_events, n_notes, n_keys, n_marks, n_loose;
        const char *vals[6][19];
        int lens[6][19], fmts[6][19];
        PgCall calls[12];
} SagaBatch;

void saga_batch_init(SagaBatch *b);
void saga_batch_free(SagaBatch *b);
/* The saga's row as it stands (and its read-model rows). 0 or negative errno. */
int saga_batch_saga(SagaBatch *b, const SagaRow *row);
/* A status event to keep until published (`payload` copied). */
void saga_batch_event(SagaBatch *b, int shard, int64_t seq, const char *order_id, const char *msg_id,
                      const uint8_t *payload, size_t len);
/* A customer notification row (notification.notifications, pending for the sender). */
void saga_batch_notification(SagaBatch *b, const char *msg_id, const char *customer_id, const char *order_id,
                             const char *status, const char *message, int64_t at_ms);
/* An idempotency key claimed by a new order (a key claimed before fails the batch: -EEXIST). */
void saga_batch_key(SagaBatch *b, const char *customer_id, const char *key, const char *order_id,
                    const char *request_hash);
/* A command no saga keeps (a store owner's coupon), under its business key `id`: stored until
 * JetStream confirmed it (saga_store_loose_sent), sent again by `shard`'s owner while it stays. */
void saga_batch_loose(SagaBatch *b, const char *id, int shard, const char *worker, const uint8_t *command,
                      size_t len);
/* A shard's events are published up to `seq`. */
void saga_batch_published(SagaBatch *b, int shard, int64_t seq);
/* Runs the batch as one transaction: 0 when committed (also when empty), or
 * the errors of pg_transaction (-EEXIST: an idempotency key was claimed). */
int saga_batch_commit(SagaBatch *b, Pg *pg);
/* Whether anything was added. */
bool saga_batch_empty(const SagaBatch *b);

/* The loose commands `ids` are in JetStream: their rows go. 0 or negative errno. */
int saga_store_loose_sent(Pg *pg, const char *const *ids, size_t n);
/* Calls `fn` with each loose command of `shards` stored at least `age_s` seconds ago, oldest first, at
 * most SAGA_LOOSE_CHUNK of them. 0 or negative errno. */
#define SAGA_LOOSE_CHUNK 256
int saga_store_loose_due(Pg *pg, const int *shards, size_t n, int age_s,
                         void (*fn)(void *ud, const char *id, const char *worker, const uint8_t *command,
                                    size_t len),
                         void *ud);
/* Deletes what no one needs any more, a bounded amount at a time: status
 * events of `shards` published and older than `events_age_s`, idempotency keys
 * older than `keys_age_s`. 1 when a kind filled its chunk (more may be left:
 * call again soon), 0 when both are caught up, or negative errno. */
int saga_store_prune(Pg *pg, const int *shards, size_t n, int64_t events_age_s, int64_t keys_age_s);
