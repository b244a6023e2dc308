/* The batch writer's state, shared by its two halves: saga-writer.c (the
 * loop: shards, transactions, sending) and saga-inputs.c (what each RPC,
 * answer and timer means for the sagas, through the engine). Private to the
 * orchestrator. */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "ids.h"
#include "orchestrator.h"
#include "saga-engine.h"
#include "saga-janitor.h"
#include "saga-store.h"
#include "topology.h"

#define WRITER_BUCKETS 4096 /* saga hash table */
#define WRITER_KEYS 4096    /* recent idempotency keys remembered */
#define WRITER_WORKERS 5    /* store, delivery, coupon, notification, payment (one message per command) */
#define WRITER_LOOSE_ID_MAX 63 /* the longest business key of a loose command (rpc_coupon refuses longer coupon ids) */
#define WRITER_DIRECT_FRESH_MS 300 /* direct tries only while JetStream confirmed this writer's publishes this lately */

typedef enum { IN_RPC, IN_ANSWERS, IN_STUCK } InputKind;

/* Something that arrived for the writer. */
typedef struct Input {
        InputKind kind;
        natsMsg *msg;
        bool failed;        /* handled alone after a failed batch, and failed again: answered 503 */
        bool requeued;      /* taken back after a lost session: kept until its shard was tried again */
        int64_t at_ms;      /* when it arrived */
        struct Input *next;
} Input;

/* A message being built from packed parts (protobuf repeated field 1 each). The first held_n parts
 * (held_len bytes) come from batches that committed and wait for later ones to leave with them. */
typedef struct {
        uint8_t *data;
        size_t len, cap, n;
        size_t held_len, held_n;
        int64_t held_since_ms; /* when the oldest of them committed */
        bool urgent;           /* it holds a command a request waits on (or one no saga re-sends): goes at once */
        bool direct;           /* a message of its own sent over core NATS (TopoConsumer.direct), not JetStream */
} PartBuf;

/* A core NATS answer to send after the commit. */
typedef struct {
        char inbox[256];
        uint8_t *data;
        size_t len;
} Outgoing;

/* A recent idempotency key: (customer, key) -> order and request hash. The four strings share one
 * allocation (what customer points to), sized to what they hold: a slot costs its pointers until used. */
typedef struct {
        char *customer; /* NULL: a free slot */
        const char *key, *order_id, *hash;
} KeySlot;

struct Writer {
        Orchestrator *o;
        pthread_t thread;
        Pg *pg; /* the writing session: it holds the shard locks */
        BusPublisher *pub;
        BusSubscription *answers, *direct_answers, *stuck, *rpc[IDS_SHARDS];
        char answer_subject[TOPO_SUBJECT_MAX];
        char direct_answer_subject[TOPO_SUBJECT_MAX]; /* the answers to direct tries, and nats-server's "no responders" */
        EngineOut out; /* the engine's hooks into this batch */

        pthread_mutex_t lock;
        pthread_cond_t cond;
        Input *head, *tail;
        size_t queued;

        /* The shards this writer owns, a bit each (writer_owns): changed by the writer's thread only, read by the
         * janitor's too. */
        _Atomic uint32_t owned_mask;
        Janitor *janitor;
        bool releasing[IDS_SHARDS]; /* owned, no longer subscribed: let go once its queued requests are decided */
        int n_releasing;
        int64_t release_by_ms; /* the shards handed over go then, whatever still waits on them */
        int n_owned;
        int64_t seq[IDS_SHARDS];       /* last status event number given, per shard */
        int64_t published[IDS_SHARDS]; /* every event up to it confirmed in JetStream */
        int64_t persisted[IDS_SHARDS]; /* the watermark PostgreSQL holds */
        SagaRow *table[WRITER_BUCKETS];
        size_t n_sagas;
        KeySlot keys[WRITER_KEYS];
        SagaEvent *unpublished; /* committed, not confirmed published, in order */
        size_t n_unpublished, cap_unpublished;

        /* the batch being decided */
        uint64_t batch_no;
        int64_t now_ms;
        SagaBatch batch;
        SagaRow **visited; /* sagas read or changed in this batch */
        size_t n_visited, cap_visited;
        Food__V1__Order **retired; /* snapshots replaced in this batch, freed after it */
        size_t n_retired, cap_retired;
        Outgoing *outgoing;
        size_t n_outgoing, cap_outgoing;
        PartBuf workers[WRITER_WORKERS - 1]; /* one CommandBatch each for store, delivery, coupon, notification */
        PartBuf *payments;                   /* one CommandBatch per payment command, some of them direct */
        size_t n_payments, cap_payments;
        SagaEvent *events; /* this batch's status events (moved to unpublished once committed) */
        size_t n_events, cap_events;
        int64_t timers_fired, resent;
        /* Commands sent since unconfirmed_since_ms were not all confirmed by JetStream (a stream leader lost,
         * no quorum): they are sent again at republish_at_ms without using a try, not after their step's wait. */
        int64_t unconfirmed_since_ms, republish_at_ms;
        /* Set by the answers' thread when nats-server said that nobody listens on a worker's direct subject: the
         * tries sent there and not answered go again through JetStream at the next scan (direct_lost), and first
         * tries go there too until direct_off_until_ms. */
        atomic_bool direct_unheard;
        bool direct_lost;
        int64_t direct_off_until_ms;
        /* When JetStream last confirmed this writer's publishes (0: its last confirmation failed). A charge goes
         * direct only while that is recent: with JetStream refusing (full, no leader) nothing is charged that the
         * saga could not follow up; the try goes through JetStream and waits with everything else. */
        int64_t js_confirmed_ms;
        /* The answers to direct tries so far (counted by their subscription's thread); the last batch sent
         * direct_sent tries when it stood at direct_mark: the next batch waits for their answers until direct_until
         * (CLOCK_REALTIME; writer_await_direct). */
        atomic_uint direct_answered;
        unsigned direct_sent, direct_mark;
        struct timespec direct_until;
        /* The loose commands published since the last confirmation (their ids): deleted from PostgreSQL once
         * JetStream confirmed them; publish_failed: one of the messages could not even be handed over. */
        char (*loose)[WRITER_LOOSE_ID_MAX + 1];
        size_t n_loose, cap_loose;
        bool publish_failed;
        /* The last batch's publishes, written but not yet confirmed: JetStream's PubAcks are read after the next
         * batch committed (writer_settle), so that the round trip to nats-server overlaps with that batch instead
         * of lengthening every batch. in_flight: the first in_flight of `unpublished` are among them. */
        bool unsettled;
        size_t in_flight;
        int64_t unsettled_since_ms;
        bool undrained; /* at stop, an RPC handler may still run: the writer is not freed */
        bool retaking;  /* shards lost, not tried again yet: requeued requests wait for that */

        int64_t last_write_ms, next_lock_ms, next_stall_ms, next_scan_ms, next_share_ms,
                next_loose_ms;
        int64_t nats_lost_ms; /* since when NATS is out of reach, or 0 */
};

_Static_assert(IDS_SHARDS <= 32, "Writer.owned_mask holds a bit per shard");

/* Whether shard `s` (0..IDS_SHARDS-1) is this writer's. */
static inline bool writer_owns(const Writer *w, int s) {
        return (atomic_load_explicit(&w->owned_mask, memory_order_relaxed) >> s) & 1u;
}

/* ---- saga-memory.c -------------------------------------------------------- */
/* The saga of `order_id`: in memory, or loaded from PostgreSQL when its shard is
 * ours (NULL: unknown, or another owner's). Marks it visited. *err gets a
 * negative errno when PostgreSQL failed (the batch is lost). */
SagaRow *writer_saga(Writer *w, const char *order_id, int *err);
/* Marks `row` as changed by this batch: it is written with it. */
void writer_touch(Writer *w, SagaRow *row);
/* The batch's rows: every saga it changed (settled once done, its card token dropped once no charge
 * can come) and the shards' watermarks that moved. 0, or the error that fails the batch. */
int writer_batch_rows(Writer *w);
/* After the commit: memory takes what was written (no saga of it is new any more); settled sagas leave it. */
void writer_batch_kept(Writer *w);
/* A batch that did not commit: the sagas it visited leave memory (they may hold decisions that never
 * happened) and its status events' numbers are given again. `ids` (room for n_visited, or NULL) gets the
 * ids of those that were not new, to read again from PostgreSQL; returns how many. */
size_t writer_batch_forget(Writer *w, char (*ids)[sizeof(((SagaRow *)0)->order_id)]);
/* Reads the unsettled saga `order_id` from PostgreSQL into memory (not visited): 0 (also when it
 * is settled, gone or already in memory) or negative errno. */
int writer_reload(Writer *w, const char *order_id);
/* Whether `order_id` is a saga in memory. */
bool writer_has_saga(Writer *w, const char *order_id);
/* A new saga in memory for `order_id` (visited, new). NULL when out of memory. */
SagaRow *writer_new_saga(Writer *w, const char *order_id);
/* Queues a core NATS answer to send after the commit (data copied). */
void writer_answer(Writer *w, const char *inbox, const uint8_t *data, size_t len);
/* Queues a command for `worker` outside any saga (a store's coupon), under its business key `id`: written
 * with the batch (shard `shard`'s owner sends it again until JetStream confirmed it), no answer awaited. 0 or
 * errno. */
int writer_loose_command(Writer *w, const char *worker, const char *id, int shard, const Food__V1__Command *c);
/* Sends `command` (a packed Command stored as loose `id`) with the next message to `worker`, at once. 0 or errno. */
int writer_loose_send(Writer *w, const char *worker, const char *id, const uint8_t *command, size_t len);
/* A notification row for the customer (and its push), under `key` (its msg_id: written once, however often
 * decided), or a new UUIDv7 when NULL (a saga's, decided once by its state). 0 or errno. */
int writer_notification(Writer *w, const char *key, const char *customer_id, const char *order_id,
                        const char *status, const char *message, int64_t at_ms);
/* The recent key slot of (customer, key): its order, or NULL. And remembering one. */
const KeySlot *writer_key_find(Writer *w, const char *customer, const char *key);
void writer_key_note(Writer *w, const char *customer, const char *key, const char *order_id, const char *hash);
/* Forgets the recent keys of the orders of `shard`, or all of them when shard < 0. */
void writer_keys_forget(Writer *w, int shard);
/* Re-sends unanswered command `p` of `row` (its next try). 0 or errno. */
/* `counted`: the try counts against the step's budget (not when JetStream never confirmed the last one). */
int writer_resend(Writer *w, SagaRow *row, SagaPending *p, bool counted);
/* Calls fn for every saga in memory. */
void writer_each_saga(Writer *w, void (*fn)(Writer *w, SagaRow *row, void *ud), void *ud);
/* The saga table: find, add, remove (not freed), free a row. */
SagaRow *writer_table_find(Writer *w, const char *order_id);
void writer_table_add(Writer *w, SagaRow *row);
void writer_table_remove(Writer *w, SagaRow *row);
void writer_saga_free(SagaRow *row);
/* Appends `p` to a growing pointer array; false when out of memory. */
bool writer_push_ptr(void ***items, size_t *n, size_t *cap, void *p);
/* Appends `data` to `b` as a length-delimited `field` (one element of a repeated message field).
 * 0 or -ENOMEM. */
int writer_part_add(PartBuf *b, const uint8_t *data, size_t len, int field);
/* The name of worker i of Writer.workers (store, delivery, coupon, notification), NULL past them. */
const char *writer_worker_name(int i);
/* The engine's hooks into `w`'s batch: commands, status events and notifications into what it
 * will send and write. */
EngineOut writer_engine_hooks(Writer *w);
/* Registers the memory's metrics (food_commands_sent_total); once. */
void writer_memory_metrics_init(void);

/* ---- saga-inputs.c -------------------------------------------------------- */
/* Decides one input into the batch. 0, or negative errno when the batch is lost. */
int inputs_handle(Writer *w, Input *in);
/* Fires due timers and re-sends due commands of the sagas in memory. 0 or negative errno. */
int inputs_timers(Writer *w);
/* A 503 answer for an RPC the orchestrator could not record. */
void inputs_unavailable(Writer *w, Input *in);
/* Registers the writer's metrics; once, before the thread starts. */
void inputs_metrics_init(void);
