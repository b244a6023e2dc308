/* The batch writer's memory: the sagas of its shards, the recent idempotency keys, what the
 * batch being decided will send (command batches per worker, answers, status events,
 * notifications), and the engine's hooks that fill them. No I/O but loading a saga missing from
 * memory (saga_store_load): the loop, the transaction and the sending are saga-writer.c's. */
#include "saga-writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "metrics.h"
#include "notification-message.h"

static const char *const worker_names[WRITER_WORKERS - 1] = {"store", "delivery", "coupon", "notification"};

static Metric *m_commands;

void writer_memory_metrics_init(void) {
        m_commands = metrics_counter("food_commands_sent_total", "Commands sent to workers, re-sends included");
}

/* ---- sagas in memory ---------------------------------------------------------- */

static size_t bucket_of(const char *order_id) {
        uint64_t h = 1469598103934665603ULL;
        for (const char *c = order_id; *c; c++)
                h = (h ^ (unsigned char)*c) * 1099511628211ULL;
        return (size_t)(h % WRITER_BUCKETS);
}

SagaRow *writer_table_find(Writer *w, const char *order_id) {
        for (SagaRow *r = w->table[bucket_of(order_id)]; r; r = r->next)
                if (strcmp(r->order_id, order_id) == 0)
                        return r;
        return NULL;
}

void writer_table_add(Writer *w, SagaRow *row) {
        size_t b = bucket_of(row->order_id);
        row->next = w->table[b];
        w->table[b] = row;
        w->n_sagas++;
}

void writer_table_remove(Writer *w, SagaRow *row) {
        for (SagaRow **p = &w->table[bucket_of(row->order_id)]; *p; p = &(*p)->next)
                if (*p == row) {
                        *p = row->next;
                        w->n_sagas--;
                        return;
                }
}

void writer_saga_free(SagaRow *row) {
        saga_row_clear(row);
        free(row);
}

bool writer_push_ptr(void ***items, size_t *n, size_t *cap, void *p) {
        if (*n == *cap) {
                size_t c = *cap ? *cap * 2 : 64;
                void **a = realloc(*items, c * sizeof(*a));
                if (!a)
                        return false;
                *items = a;
                *cap = c;
        }
        (*items)[(*n)++] = p;
        return true;
}

static void visit(Writer *w, SagaRow *row) {
        for (size_t i = w->n_visited; i-- > 0;)
                if (w->visited[i] == row)
                        return;
        (void)writer_push_ptr((void ***)&w->visited, &w->n_visited, &w->cap_visited, row);
}

void writer_touch(Writer *w, SagaRow *row) {
        visit(w, row);
        row->dirty = w->batch_no;
        row->updated_ms = w->now_ms;
}

int writer_batch_rows(Writer *w) {
        for (size_t i = 0; i < w->n_visited; i++) {
                SagaRow *row = w->visited[i];
                if (row->dirty != w->batch_no)
                        continue;
                row->settled = saga_row_done(row);
                /* No charge can come any more: the card token has no business staying. */
                if (row->state != SAGA_PAYMENT_PENDING && row->state != SAGA_PAID && row->state != SAGA_ACCEPTED)
                        row->card_token[0] = 0;
                int r = saga_batch_saga(&w->batch, row);
                if (r < 0)
                        return r;
        }
        for (int s = 0; s < IDS_SHARDS; s++)
                if (writer_owns(w, s) && w->published[s] > w->persisted[s])
                        saga_batch_published(&w->batch, s, w->published[s]);
        return 0;
}

void writer_batch_kept(Writer *w) {
        for (size_t i = 0; i < w->n_visited; i++) {
                SagaRow *row = w->visited[i];
                row->is_new = false;
                if (row->settled || (row->dirty != w->batch_no && saga_row_done(row))) {
                        writer_table_remove(w, row);
                        writer_saga_free(row);
                }
        }
        w->n_visited = 0;
}

size_t writer_batch_forget(Writer *w, char (*ids)[sizeof(((SagaRow *)0)->order_id)]) {
        size_t n_ids = 0;
        for (size_t i = 0; i < w->n_visited; i++) {
                SagaRow *row = w->visited[i];
                if (ids && !row->is_new)
                        memcpy(ids[n_ids++], row->order_id, sizeof(ids[0]));
                writer_table_remove(w, row);
                writer_saga_free(row);
        }
        w->n_visited = 0;
        for (size_t i = 0; i < w->n_events; i++)
                if (w->seq[w->events[i].shard] >= w->events[i].seq)
                        w->seq[w->events[i].shard] = w->events[i].seq - 1;
        return n_ids;
}

SagaRow *writer_saga(Writer *w, const char *order_id, int *err) {
        SagaRow *row = writer_table_find(w, order_id);
        int shard = ids_shard(order_id);
        *err = 0;
        if (row) {
                visit(w, row);
                return row;
        }
        if (!writer_owns(w, shard))
                return NULL;
        row = calloc(1, sizeof(*row));
        if (!row) {
                *err = -ENOMEM;
                return NULL;
        }
        int r = saga_store_load(w->pg, order_id, row);
        if (r != 0 || row->shard != shard) {
                if (r < 0)
                        *err = r;
                writer_saga_free(row);
                return NULL;
        }
        writer_table_add(w, row);
        visit(w, row);
        return row;
}

int writer_reload(Writer *w, const char *order_id) {
        SagaRow *row = calloc(1, sizeof(*row));
        int r;
        if (!row)
                return -ENOMEM;
        r = saga_store_load(w->pg, order_id, row);
        if (r != 0 || row->settled || writer_table_find(w, order_id)) {
                writer_saga_free(row);
                return r < 0 ? r : 0;
        }
        writer_table_add(w, row);
        return 0;
}

bool writer_has_saga(Writer *w, const char *order_id) {
        return writer_table_find(w, order_id) != NULL;
}

SagaRow *writer_new_saga(Writer *w, const char *order_id) {
        SagaRow *row = calloc(1, sizeof(*row));
        if (!row)
                return NULL;
        snprintf(row->order_id, sizeof(row->order_id), "%s", order_id);
        row->shard = ids_shard(order_id);
        row->is_new = true;
        row->created_ms = w->now_ms;
        writer_table_add(w, row);
        writer_touch(w, row);
        return row;
}

void writer_each_saga(Writer *w, void (*fn)(Writer *w, SagaRow *row, void *ud), void *ud) {
        for (size_t b = 0; b < WRITER_BUCKETS; b++)
                for (SagaRow *r = w->table[b], *next; r; r = next) {
                        next = r->next;
                        fn(w, r, ud);
                }
}

/* ---- recent idempotency keys ---------------------------------------------------- */

/* FNV-1a over customer, NUL, key: every slot is used whatever the keys look like (a retried request
 * that misses here costs a failed batch and a look-up). */
static size_t key_slot(const char *customer, const char *key) {
        uint32_t h = 2166136261u;
        for (const char *c = customer; *c; c++)
                h = (h ^ (uint8_t)*c) * 16777619u;
        h *= 16777619u;
        for (const char *c = key; *c; c++)
                h = (h ^ (uint8_t)*c) * 16777619u;
        return h % WRITER_KEYS;
}

const KeySlot *writer_key_find(Writer *w, const char *customer, const char *key) {
        const KeySlot *s = &w->keys[key_slot(customer, key)];
        return s->customer && strcmp(s->customer, customer) == 0 && strcmp(s->key, key) == 0 ? s : NULL;
}

static void key_clear(KeySlot *s) {
        free(s->customer);
        *s = (KeySlot){0};
}

void writer_key_note(Writer *w, const char *customer, const char *key, const char *order_id, const char *hash) {
        KeySlot *s = &w->keys[key_slot(customer, key)];
        size_t lc = strlen(customer) + 1, lk = strlen(key) + 1, lo = strlen(order_id) + 1, lh = strlen(hash) + 1;
        char *text = malloc(lc + lk + lo + lh);
        if (text) { /* copied before the slot's own strings are freed: they may be the arguments */
                memcpy(text, customer, lc);
                memcpy(text + lc, key, lk);
                memcpy(text + lc + lk, order_id, lo);
                memcpy(text + lc + lk + lo, hash, lh);
        }
        key_clear(s); /* out of memory: the key is only not remembered (a retry looks it up) */
        if (!text)
                return;
        *s = (KeySlot){.customer = text, .key = text + lc, .order_id = text + lc + lk, .hash = text + lc + lk + lo};
}

void writer_keys_forget(Writer *w, int shard) {
        for (size_t i = 0; i < WRITER_KEYS; i++)
                if (w->keys[i].customer && (shard < 0 || ids_shard(w->keys[i].order_id) == shard))
                        key_clear(&w->keys[i]);
}

/* ---- what a batch sends ------------------------------------------------------------ */

int writer_part_add(PartBuf *b, const uint8_t *data, size_t len, int field) {
        if (b->len + len + 11 > b->cap) {
                size_t c = b->cap ? b->cap * 2 : 1024;
                while (c < b->len + len + 11)
                        c *= 2;
                uint8_t *d = realloc(b->data, c);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->cap = c;
        }
        size_t v = len;
        b->data[b->len++] = (uint8_t)(field << 3 | 2);
        do {
                b->data[b->len++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
                v >>= 7;
        } while (v);
        memcpy(b->data + b->len, data, len);
        b->len += len;
        b->n++;
        return 0;
}

static int worker_index(const char *worker) {
        for (int i = 0; i < WRITER_WORKERS - 1; i++)
                if (strcmp(worker_names[i], worker) == 0)
                        return i;
        return -1;
}

/* A packed Command for `worker`: into its batch message, or (payment) a message of its own, sent over core
 * NATS when `direct`. An `urgent` one takes the worker's message out at once (see worker_due). */
static int writer_send_command(Writer *w, const char *worker, const uint8_t *data, size_t len, bool urgent,
                               bool direct) {
        int k = worker_index(worker);
        metric_add(m_commands, 1);
        if (k >= 0) {
                w->workers[k].urgent |= urgent;
                return writer_part_add(&w->workers[k], data, len, 1);
        }
        if (w->n_payments == w->cap_payments) {
                size_t c = w->cap_payments ? w->cap_payments * 2 : 16;
                PartBuf *p = realloc(w->payments, c * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                memset(p + w->cap_payments, 0, (c - w->cap_payments) * sizeof(*p));
                w->payments = p;
                w->cap_payments = c;
        }
        w->payments[w->n_payments].direct = direct;
        return writer_part_add(&w->payments[w->n_payments++], data, len, 1);
}

/* Whether the first try of `step` goes over core NATS: a request waits on it, its worker takes direct
 * commands (lib/topology.c; a worker with a message of its own per command), nats-server did not say
 * lately that nobody listens there, and JetStream confirmed this writer's publishes lately (what follows
 * the charge goes there: a lone order on an idle platform takes JetStream's way). */
static bool writer_direct(const Writer *w, const SagaStep *step) {
        const TopoConsumer *c = step->awaited ? topo_consumer(step->worker) : NULL;
        return c && c->direct && worker_index(step->worker) < 0 && w->now_ms >= w->direct_off_until_ms &&
               w->js_confirmed_ms && w->now_ms - w->js_confirmed_ms <= WRITER_DIRECT_FRESH_MS;
}

void writer_answer(Writer *w, const char *inbox, const uint8_t *data, size_t len) {
        Outgoing *o;
        if (!inbox || !*inbox || !data)
                return;
        if (w->n_outgoing == w->cap_outgoing) {
                size_t c = w->cap_outgoing ? w->cap_outgoing * 2 : 64;
                Outgoing *p = realloc(w->outgoing, c * sizeof(*p));
                if (!p)
                        return;
                w->outgoing = p;
                w->cap_outgoing = c;
        }
        o = &w->outgoing[w->n_outgoing];
        o->data = malloc(len ? len : 1);
        if (!o->data)
                return;
        memcpy(o->data, data, len);
        o->len = len;
        snprintf(o->inbox, sizeof(o->inbox), "%s", inbox);
        w->n_outgoing++;
}

int writer_loose_send(Writer *w, const char *worker, const char *id, const uint8_t *command, size_t len) {
        int r;
        /* Only a batch worker's message can carry it (no loose payment), under a key its row can be found by. */
        if (worker_index(worker) < 0 || strlen(id) >= sizeof(w->loose[0]))
                return -EINVAL;
        if (w->n_loose == w->cap_loose) {
                size_t c = w->cap_loose ? w->cap_loose * 2 : 8;
                char(*p)[WRITER_LOOSE_ID_MAX + 1] = realloc(w->loose, c * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                w->loose = p;
                w->cap_loose = c;
        }
        /* Urgent: it leaves right after the commit, not with a later batch's commands. Its id is settled (its
         * row deleted) only once it is in a message. */
        r = writer_send_command(w, worker, command, len, true, false);
        if (r == 0)
                snprintf(w->loose[w->n_loose++], sizeof(w->loose[0]), "%s", id);
        return r;
}

int writer_loose_command(Writer *w, const char *worker, const char *id, int shard, const Food__V1__Command *c) {
        uint8_t *data = NULL;
        size_t len = 0;
        int r = codec_pack(&c->base, &data, &len);
        /* No saga keeps it to send it again: PostgreSQL does, until JetStream has it. */
        if (r == 0) {
                saga_batch_loose(&w->batch, id, shard, worker, data, len);
                r = writer_loose_send(w, worker, id, data, len);
        }
        free(data);
        return r;
}

int writer_notification(Writer *w, const char *key, const char *customer_id, const char *order_id,
                        const char *status, const char *message, int64_t at_ms) {
        Food__V1__Notification n = FOOD__V1__NOTIFICATION__INIT;
        char msg_id[96];
        uint8_t *data = NULL;
        size_t len = 0;
        int r = key ? (snprintf(msg_id, sizeof(msg_id), "%s", key) < (int)sizeof(msg_id) ? 0 : -EINVAL)
                    : ids_uuid7(msg_id, sizeof(msg_id));
        if (r < 0)
                return r;
        saga_batch_notification(&w->batch, msg_id, customer_id, order_id, status, message, at_ms);
        n.msg_id = msg_id;
        n.customer_id = (char *)customer_id;
        n.order_id = (char *)(order_id ? order_id : "");
        n.status = (char *)status;
        n.message = (char *)message;
        n.at_ms = at_ms;
        r = codec_pack(&n.base, &data, &len);
        if (r == 0)
                r = writer_part_add(&w->workers[worker_index("notification")], data, len, 2);
        free(data);
        return r;
}

/* ---- the engine's hooks ----------------------------------------------------------------- */

static int hook_command(void *ud, SagaRow *row, const SagaStep *step, StepCommand *c) {
        Writer *w = ud;
        uint8_t *data = NULL;
        size_t len = 0;
        SagaPending *p = saga_row_add_command(row, step, c->corr.version, NULL, 0);
        int r;
        if (!p)
                return -ENOMEM;
        p->attempt = 1;
        p->budget = 1;
        p->next_try_ms = w->now_ms + saga_step_delay_ms(step, 1);
        p->sent_ms = w->now_ms;
        p->direct = writer_direct(w, step);
        c->corr.command_id = p->command_id;
        c->corr.attempt = 1;
        r = codec_pack(&c->command.base, &data, &len);
        if (r == 0 && !step->build) {
                /* Kept as sent: re-sends repeat it exactly (its provider key above all). */
                p->stored = data;
                p->stored_len = len;
                data = NULL;
                r = writer_send_command(w, step->worker, p->stored, p->stored_len, step->awaited, p->direct);
        } else if (r == 0)
                r = writer_send_command(w, step->worker, data, len, step->awaited, p->direct);
        free(data);
        saga_row_log(row, LOG_COMMAND, codec_command_message(&c->command)->descriptor, step, 1, p->command_id, LOG_SENT,
                     w->now_ms);
        writer_touch(w, row);
        return r;
}

static int hook_status(void *ud, SagaRow *row, const Food__V1__Order *o, const char *previous) {
        Writer *w = ud;
        Food__V1__OrderStatusChanged ev = FOOD__V1__ORDER_STATUS_CHANGED__INIT;
        char text[NOTIFICATION_MESSAGE_MAX];
        SagaEvent *e;
        int r;

        if (w->n_events == w->cap_events) {
                size_t c = w->cap_events ? w->cap_events * 2 : 64;
                SagaEvent *p = realloc(w->events, c * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                w->events = p;
                w->cap_events = c;
        }
        e = &w->events[w->n_events];
        memset(e, 0, sizeof(*e));
        ev.order = (Food__V1__Order *)o;
        ev.previous_status = (char *)previous;
        ev.at_ms = o->updated_at_ms;
        r = codec_pack(&ev.base, &e->payload, &e->len);
        if (r < 0)
                return r;
        r = ids_uuid7(e->msg_id, sizeof(e->msg_id));
        if (r < 0) {
                free(e->payload);
                return r;
        }
        e->shard = row->shard;
        e->seq = ++w->seq[row->shard];
        snprintf(e->order_id, sizeof(e->order_id), "%s", o->id);
        w->n_events++;
        saga_batch_event(&w->batch, e->shard, e->seq, e->order_id, e->msg_id, e->payload, e->len);
        saga_row_log(row, LOG_EVENT, &food__v1__order_status_changed__descriptor, NULL, 0, 0, LOG_PUBLISHED,
                     w->now_ms);
        writer_touch(w, row);
        /* Every status change tells the customer. */
        if (notification_message(o->status, previous, o->amount_refunded, text, sizeof(text)) < 0)
                return 0; /* no text for it (an unknown status): nothing to say */
        return writer_notification(w, NULL, o->customer_id, o->id, o->status, text, o->updated_at_ms);
}

static int hook_notice(void *ud, SagaRow *row, const char *kind, const char *message) {
        Writer *w = ud;
        writer_touch(w, row);
        return writer_notification(w, NULL, row->order->customer_id, row->order_id, kind, message, w->now_ms);
}

static int hook_saga(void *ud, SagaRow *row, const Food__V1__Order *order, int64_t deadline_ms) {
        Writer *w = ud;
        if (order != row->order) {
                uint8_t *data = NULL;
                size_t len = 0;
                ProtobufCMessage *copy = NULL;
                int r = codec_pack(&order->base, &data, &len);
                if (r == 0)
                        r = codec_unpack(&food__v1__order__descriptor, data, len, &copy);
                free(data);
                if (r < 0)
                        return r;
                /* The old snapshot may still be borrowed by the decision in progress: freed after the batch. */
                if (row->order && !writer_push_ptr((void ***)&w->retired, &w->n_retired, &w->cap_retired, row->order)) {
                        codec_free(copy);
                        return -ENOMEM;
                }
                row->order = (Food__V1__Order *)copy;
        }
        row->version = row->order->version;
        if (deadline_ms != ENGINE_KEEP_DEADLINE)
                row->deadline_ms = deadline_ms;
        writer_touch(w, row);
        return 0;
}


int writer_resend(Writer *w, SagaRow *row, SagaPending *p, bool counted) {
        ProtobufCMessage *m = NULL;
        StepCommand c;
        uint8_t *data = NULL;
        size_t len = 0;
        int r;

        visit(w, row); /* a batch that does not commit reloads it: the try was not sent */
        p->attempt++;
        if (counted)
                p->budget++;
        p->next_try_ms = w->now_ms + saga_step_delay_ms(p->step, (int)p->budget);
        p->sent_ms = w->now_ms;
        p->direct = false; /* a try again goes where it is kept until a worker takes it */
        if (p->stored) {
                /* The command as first sent, with its try number. */
                r = codec_unpack(&food__v1__command__descriptor, p->stored, p->stored_len, &m);
                Food__V1__Correlation *corr = r == 0 ? codec_correlation(codec_command_message((Food__V1__Command *)m)) : NULL;
                if (corr)
                        corr->attempt = p->attempt;
                if (r == 0)
                        r = codec_pack(m, &data, &len);
                codec_free(m);
        } else {
                /* Built again from the order as it stands, at the version that sent it. */
                r = saga_step_command(p->step, row->order, p->version, w->o->engine.cooked_coupon_discount, &c);
                c.corr.command_id = p->command_id;
                c.corr.attempt = p->attempt;
                if (r == 0)
                        r = codec_pack(&c.command.base, &data, &len);
        }
        if (r == 0)
                r = writer_send_command(w, p->step->worker, data, len, p->step->awaited, false);
        free(data);
        return r;
}


const char *writer_worker_name(int i) {
        return i >= 0 && i < WRITER_WORKERS - 1 ? worker_names[i] : NULL;
}

EngineOut writer_engine_hooks(Writer *w) {
        return (EngineOut){.ud = w, .command = hook_command, .status = hook_status, .notice = hook_notice,
                           .saga = hook_saga};
}
