/* The orchestrator's batch writer in memory (see writer-memory.h): the real memory half
 * (orchestrator/saga-memory.c: saga table, keys, engine hooks) with batches begun, checked and
 * "sent" here instead of written to PostgreSQL and published. */
#include "writer-memory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "notification-message.h"
#include "saga-admin.h"
#include "workers-memory.h"


static Orchestrator orchestrator;
static Writer *writer;
static int64_t clock_skew;      /* how far the writer's clock is ahead of the real one */
static unsigned inbox_seq;      /* RPC inboxes given */

/* ---- what the harnesses link in place of PostgreSQL and NATS (-Wl,--wrap=..., fuzz/meson.build) ---- */

/* A saga missing from memory is not in PostgreSQL either: there is none. */
int __wrap_saga_store_load(Pg *pg, const char *order_id, SagaRow *row);
int __wrap_saga_store_load(Pg *pg, const char *order_id, SagaRow *row) {
        (void)pg;
        (void)order_id;
        (void)row;
        return 1;
}

/* A message as saga-inputs.c reads it, handed over as its natsMsg *: no NATS message is made (the
 * library frees those later in a thread of its own, which makes every run look like a leak to
 * libFuzzer), and the accessors saga-inputs.c calls read this instead. A new accessor there must
 * be wrapped here too. */
typedef struct {
        const char *subject, *reply, *type, *traceparent;
        const char *data;
        int len;
} MemoryMsg;

static const MemoryMsg *memory_msg(const natsMsg *msg) {
        return (const MemoryMsg *)(const void *)msg;
}

const char *__wrap_natsMsg_GetSubject(const natsMsg *msg);
const char *__wrap_natsMsg_GetSubject(const natsMsg *msg) {
        return memory_msg(msg)->subject;
}

const char *__wrap_natsMsg_GetReply(const natsMsg *msg);
const char *__wrap_natsMsg_GetReply(const natsMsg *msg) {
        return memory_msg(msg)->reply;
}

const char *__wrap_natsMsg_GetData(const natsMsg *msg);
const char *__wrap_natsMsg_GetData(const natsMsg *msg) {
        return memory_msg(msg)->data;
}

int __wrap_natsMsg_GetDataLength(const natsMsg *msg);
int __wrap_natsMsg_GetDataLength(const natsMsg *msg) {
        return memory_msg(msg)->len;
}

const char *__wrap_bus_header(natsMsg *msg, const char *key);
const char *__wrap_bus_header(natsMsg *msg, const char *key) {
        if (strcmp(key, BUS_HDR_TYPE) == 0)
                return memory_msg(msg)->type;
        if (strcmp(key, BUS_HDR_TRACE) == 0)
                return memory_msg(msg)->traceparent;
        return NULL;
}

SagaRow *writer_memory_saga(Writer *w, const char *order_id) {
        return writer_table_find(w, order_id);
}

/* ---- batches -------------------------------------------------------------------------------- */

static void discard_sends(Writer *w) {
        for (size_t i = 0; i < w->n_outgoing; i++)
                free(w->outgoing[i].data);
        w->n_outgoing = 0;
        for (int i = 0; i < WRITER_WORKERS - 1; i++)
                w->workers[i].len = w->workers[i].n = 0;
        for (size_t i = 0; i < w->n_payments; i++)
                w->payments[i].len = w->payments[i].n = 0;
        w->n_payments = 0;
        for (size_t i = 0; i < w->n_events; i++)
                free(w->events[i].payload);
        w->n_events = 0;
        w->n_loose = 0;
}

Writer *writer_memory_reset(void) {
        if (!writer) {
                fuzz_quiet();
                writer = calloc(1, sizeof(*writer));
                FUZZ_CHECK(writer, "out of memory");
                orchestrator.engine = (EngineConfig){.payment_timeout_ms = 60000,
                                                     .store_accept_timeout_ms = 600000,
                                                     .auto_complete_ms = 3600000,
                                                     .cooked_coupon_discount = 1000};
                orchestrator.resend_after_ms = 1000;
                orchestrator.max_attempts = 5;
                orchestrator.stuck_after_ms = 900000;
                orchestrator.batch_max = 512;
                snprintf(orchestrator.instance, sizeof(orchestrator.instance), "orch_fuzz");
                saga_admin_setup(orchestrator.stuck_after_ms);
                saga_steps_configure(orchestrator.resend_after_ms, orchestrator.max_attempts);
                inputs_metrics_init();
                writer_memory_metrics_init();
                writer->o = &orchestrator;
                FUZZ_CHECK(topo_answer_subject(writer->answer_subject, sizeof(writer->answer_subject),
                                               orchestrator.instance) == 0,
                           "no answer subject");
                writer->out = writer_engine_hooks(writer);
                for (int s = 0; s < IDS_SHARDS; s++)
                        atomic_fetch_or(&writer->owned_mask, 1u << s);
                writer->n_owned = IDS_SHARDS;
        }
        Writer *w = writer;
        for (size_t b = 0; b < WRITER_BUCKETS; b++) {
                for (SagaRow *r = w->table[b], *next; r; r = next) {
                        next = r->next;
                        writer_saga_free(r);
                }
                w->table[b] = NULL;
        }
        w->n_sagas = 0;
        writer_keys_forget(w, -1);
        memset(w->seq, 0, sizeof(w->seq));
        w->n_visited = 0;
        discard_sends(w);
        workers_memory_clear();
        clock_skew = 0;
        return w;
}

void writer_memory_begin(Writer *w, int64_t advance_ms) {
        if (advance_ms > 0 && advance_ms < INT64_MAX / 4 && clock_skew < INT64_MAX / 4)
                clock_skew += advance_ms;
        w->batch_no++;
        w->now_ms = ids_now_ms() + clock_skew;
        saga_batch_init(&w->batch);
        w->n_visited = 0;
}

static int input(Writer *w, InputKind kind, const char *type, const char *subject, const char *reply,
                 const uint8_t *data, size_t len, const char *traceparent) {
        if (len > INT32_MAX)
                return 0; /* more than a NATS message holds */
        MemoryMsg msg = {.subject = subject, .reply = reply, .type = type, .traceparent = traceparent,
                         .data = len ? (const char *)data : "", .len = (int)len};
        Input in = {.kind = kind, .msg = (natsMsg *)(void *)&msg};
        int r = inputs_handle(w, &in);
        FUZZ_CHECK(r <= 0, "inputs_handle returned %d", r);
        return r;
}

int writer_memory_rpc(Writer *w, const char *type, const char *subject, const uint8_t *data, size_t len,
                      const char *traceparent) {
        char inbox[48];
        snprintf(inbox, sizeof(inbox), "_INBOX.fuzz.%u", ++inbox_seq);
        return input(w, IN_RPC, type, subject, inbox, data, len, traceparent);
}

int writer_memory_answers(Writer *w, const char *type, const uint8_t *data, size_t len) {
        return input(w, IN_ANSWERS, type, w->answer_subject, NULL, data, len, NULL);
}

int writer_memory_timers(Writer *w) {
        int r = inputs_timers(w);
        FUZZ_CHECK(r <= 0, "inputs_timers returned %d", r);
        return r;
}

/* A batch that did not commit: the writer's memory forgets it (nothing is read again: PostgreSQL holds
 * no saga here) and nothing of it is sent. */
static void rollback(Writer *w) {
        (void)writer_batch_forget(w, NULL);
        discard_sends(w);
}

/* The persisted form of a saga's commands and history reads back as they are. */
static void check_record(const SagaRow *row) {
        SagaRow back;
        uint8_t *data = NULL;
        size_t len = 0;
        FUZZ_CHECK(saga_row_pack_record(row, &data, &len) == 0, "the record of saga %s does not pack", row->order_id);
        memset(&back, 0, sizeof(back));
        FUZZ_CHECK(saga_row_unpack_record(&back, data, len) == 0, "the record of saga %s does not read back",
                   row->order_id);
        FUZZ_CHECK(back.n_commands == row->n_commands && back.commands_sent == row->commands_sent &&
                           back.n_log == row->n_log,
                   "saga %s: record of %zu commands (%u sent), %zu lines read back as %zu (%u), %zu", row->order_id,
                   row->n_commands, row->commands_sent, row->n_log, back.n_commands, back.commands_sent, back.n_log);
        for (size_t i = 0; i < row->n_commands; i++)
                FUZZ_CHECK(back.commands[i].command_id == row->commands[i].command_id &&
                                   back.commands[i].step == row->commands[i].step &&
                                   back.commands[i].stored_len == row->commands[i].stored_len,
                           "saga %s: command %zu reads back otherwise", row->order_id, i);
        saga_row_clear(&back);
        free(data);
}

/* The rows of the batch, as the writer makes them, each saga's record checked first; 0 or the error that
 * fails the batch. */
static int batch_rows(Writer *w) {
        for (size_t i = 0; i < w->n_visited; i++)
                if (w->visited[i]->dirty == w->batch_no)
                        check_record(w->visited[i]);
        int r = writer_batch_rows(w);
        FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM, "writer_batch_rows returned %d", r);
        return r;
}

static void check_arrays(const char *what, PgArray **a, size_t n, size_t rows) {
        for (size_t i = 0; i < n; i++) {
                FUZZ_CHECK(pg_array_finish(a[i]) == 0, "%s: array %zu does not finish", what, i);
                FUZZ_CHECK(a[i]->n == (int32_t)rows, "%s: array %zu of %d rows, %zu expected", what, i, a[i]->n, rows);
                fuzz_pg_array_check(what, (const char *)a[i]->data, (int)a[i]->len, (int32_t)rows);
        }
}

/* The statements' parameters the batch would commit with: one element per row in every array. */
static void check_statements(SagaBatch *b) {
        PgArray *s[] = {&b->s_id,     &b->s_shard,    &b->s_settled,       &b->s_state,       &b->s_step,
                        &b->s_attempt, &b->s_version, &b->s_customer,      &b->s_store,       &b->s_order,
                        &b->s_card,   &b->s_pending,  &b->s_record,        &b->s_deadline,    &b->s_step_deadline,
                        &b->s_comp_failed, &b->s_created, &b->s_updated,   &b->s_reply_to};
        PgArray *e[] = {&b->e_shard, &b->e_seq, &b->e_order, &b->e_msg, &b->e_payload};
        PgArray *no[] = {&b->n_msg, &b->n_customer, &b->n_order, &b->n_status, &b->n_message, &b->n_at};
        PgArray *k[] = {&b->k_customer, &b->k_key, &b->k_order, &b->k_hash};
        PgArray *l[] = {&b->l_id, &b->l_shard, &b->l_worker, &b->l_command};
        PgCall calls[3];

        check_arrays("sagas", s, sizeof(s) / sizeof(s[0]), b->n_sagas);
        check_arrays("events", e, sizeof(e) / sizeof(e[0]), b->n_events);
        check_arrays("notifications", no, sizeof(no) / sizeof(no[0]), b->n_notes);
        check_arrays("keys", k, sizeof(k) / sizeof(k[0]), b->n_keys);
        check_arrays("loose commands", l, sizeof(l) / sizeof(l[0]), b->n_loose);
        size_t rows[3] = {b->rm.n_orders, b->rm.n_deliveries, b->rm.n_cancels};
        int n = readmodel_write_calls(&b->rm, calls);
        FUZZ_CHECK(n == (rows[0] > 0) + (rows[1] > 0) + (rows[2] > 0), "%d read-model statements", n);
        for (int i = 0, c = 0; i < 3; i++)
                if (rows[i])
                        fuzz_pg_call_check(&calls[c++], (int32_t)rows[i]);
}

/* A message for `worker`: what its worker loop reads (and must keep), queued for the workers. */
static void sent(const char *worker, const PartBuf *b) {
        if (!b->n)
                return;
        Food__V1__CommandBatch *batch = fuzz_command_batch(worker, b->data, b->len);
        FUZZ_CHECK(batch, "the orchestrator's batch for %s is dead-lettered by it", worker);
        FUZZ_CHECK(batch->n_commands + batch->n_notifications == b->n, "a batch of %zu parts reads as %zu + %zu",
                   b->n, batch->n_commands, batch->n_notifications);
        FUZZ_CHECK(strcmp(worker, "payment") != 0 || batch->n_commands == 1, "%zu payment commands in one message",
                   batch->n_commands);
        codec_free(&batch->base);
        workers_memory_queue(worker, b->data, b->len);
}

/* What the committed batch sends (as saga-writer.c's batch_send), each checked as its reader reads it. */
static void send(Writer *w) {
        for (size_t i = 0; i < w->n_outgoing; i++) {
                ProtobufCMessage *m = NULL;
                FUZZ_CHECK(strncmp(w->outgoing[i].inbox, "_INBOX.fuzz.", 12) == 0, "an answer to %s",
                           w->outgoing[i].inbox);
                FUZZ_CHECK(codec_unpack(&food__v1__rpc_reply__descriptor, w->outgoing[i].data, w->outgoing[i].len,
                                        &m) == 0,
                           "an RPC answer that does not read back");
                int status = ((Food__V1__RpcReply *)m)->http_status;
                FUZZ_CHECK(status >= 200 && status <= 599, "an RPC answered %d", status);
                codec_free(m);
                free(w->outgoing[i].data);
        }
        w->n_outgoing = 0;
        for (int i = 0; i < WRITER_WORKERS - 1; i++) {
                sent(writer_worker_name(i), &w->workers[i]);
                w->workers[i].len = w->workers[i].n = 0;
        }
        for (size_t i = 0; i < w->n_payments; i++) {
                sent("payment", &w->payments[i]);
                w->payments[i].len = w->payments[i].n = 0;
        }
        w->n_payments = 0;
        for (size_t i = 0; i < w->n_events; i++) {
                ProtobufCMessage *m = NULL;
                char subject[TOPO_SUBJECT_MAX];
                FUZZ_CHECK(codec_unpack(&food__v1__order_status_changed__descriptor, w->events[i].payload,
                                        w->events[i].len, &m) == 0,
                           "a status event that does not read back");
                /* What the gateway's live stream and the archive reader accept on its subject. */
                if (topo_status_subject(subject, sizeof(subject), w->events[i].order_id) == 0)
                        FUZZ_CHECK(codec_subject_fits(m, subject), "the event of %s does not fit %s",
                                   w->events[i].order_id, subject);
                codec_free(m);
                free(w->events[i].payload);
        }
        w->n_events = 0;
        /* A loose command (a store owner's coupon) is stored under its business key: its row goes once sent. */
        for (size_t i = 0; i < w->n_loose; i++)
                FUZZ_CHECK(w->loose[i][0], "a loose command stored without its key");
        w->n_loose = 0;
}

/* What must hold of every saga in memory between batches. */
static void check_saga(Writer *w, SagaRow *row, void *ud) {
        (void)w;
        (void)ud;
        FUZZ_CHECK((unsigned)row->state < SAGA_STATE_COUNT, "saga %s in state %d", row->order_id, (int)row->state);
        FUZZ_CHECK(row->order, "saga %s without an order", row->order_id);
        FUZZ_CHECK(!row->settled && !saga_row_done(row), "saga %s settled and still in memory", row->order_id);
        FUZZ_CHECK(strcmp(row->order->status, saga_state_name(row->state)) == 0, "saga %s is %s, its order %s",
                   row->order_id, saga_state_name(row->state), row->order->status);
        FUZZ_CHECK(row->version == row->order->version, "saga %s at version %lld, its order at %lld", row->order_id,
                   (long long)row->version, (long long)row->order->version);
        FUZZ_CHECK(row->state != SAGA_PAYMENT_PENDING || strcmp(row->step, "authorize") == 0 ||
                           strcmp(row->step, "redeem_coupon") == 0,
                   "saga %s awaits payment in step \"%s\"", row->order_id, row->step);
        FUZZ_CHECK((strcmp(row->step, "modify_charge") == 0) == (row->pending != NULL),
                   "saga %s in step \"%s\" %s a modification", row->order_id, row->step,
                   row->pending ? "with" : "without");
        FUZZ_CHECK(memchr(row->reply_to, 0, sizeof(row->reply_to)), "reply_to unterminated");
        for (size_t i = 0; i < row->n_commands; i++) {
                FUZZ_CHECK(row->commands[i].command_id >= 1 && row->commands[i].command_id <= row->commands_sent,
                           "saga %s: command id %u of %u sent", row->order_id, row->commands[i].command_id,
                           row->commands_sent);
                for (size_t k = 0; k < i; k++)
                        FUZZ_CHECK(row->commands[k].command_id != row->commands[i].command_id,
                                   "saga %s: command id %u twice", row->order_id, row->commands[i].command_id);
        }
        FUZZ_CHECK(row->n_log <= SAGA_LOG_MAX, "saga %s: %zu history lines", row->order_id, row->n_log);
}

void writer_memory_end(Writer *w, bool failed) {
        if (!failed && batch_rows(w) < 0)
                failed = true;
        if (failed) {
                rollback(w);
        } else {
                /* Every loose command sent is stored with the batch (its row goes once JetStream has it). */
                FUZZ_CHECK(w->n_loose == w->batch.n_loose, "%zu loose command(s) sent, %zu stored", w->n_loose,
                           w->batch.n_loose);
                check_statements(&w->batch);
                writer_batch_kept(w);
                send(w);
        }
        for (size_t i = 0; i < w->n_retired; i++)
                codec_free(&w->retired[i]->base);
        w->n_retired = 0;
        saga_batch_free(&w->batch);
        writer_each_saga(w, check_saga, NULL);
}
