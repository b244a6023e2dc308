/* Batched, deduplicating JetStream consumer loop shared by every worker. */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "config.h"
#include "log.h"
#include "metrics.h"

struct WorkerOut {
        const ProtobufCMessageDescriptor *desc;
        uint8_t *data;
        size_t len;
};

typedef struct {
        natsMsg *msg;
        const char *msg_id;
        ProtobufCMessage *m;  /* decoded payload, NULL when undecodable */
        const char *order_id; /* sort key: rows are locked in order-id order */
        int index;
        /* What becomes of the message: handed back unless the batch says otherwise. DEAD is
         * terminated only after its dead letter (`dead`) is confirmed stored. */
        enum { ITEM_NAK, ITEM_ACK, ITEM_DEAD } fate;
        const char *dead; /* why it is dead-lettered (static text) */
        WorkerOut out;       /* reply to publish, if any */
        char reply_subject[CODEC_SUBJECT_MAX];
} Item;

typedef struct {
        Service *svc;
        const WorkerDef *def;
        BusConsumer *consumer;
        BusPublisher *pub;
        Pg *pg;
} Loop;

static Metric *m_handled, *m_duplicates, *m_failed;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void worker_register_metrics(void) {
        m_handled = metrics_counter("food_messages_handled_total", "Messages handled by this worker");
        m_duplicates = metrics_counter("food_messages_duplicate_total", "Redelivered or duplicate messages skipped");
        m_failed = metrics_counter("food_messages_failed_total", "Messages whose handling failed and will be retried");
        worker_poison_init();
}

/* ---- poison accounting -------------------------------------------------- */

#define POISON_ORDER_SUBJECT FOOD_PREFIX ".order.*.status"
#define POISON_SERIES_MAX 64

typedef struct {
        const char *subject; /* NULL for the "other" series */
        Metric *metric;
} PoisonSeries;

static PoisonSeries poison_series[POISON_SERIES_MAX];
static size_t n_poison_series;
static pthread_once_t poison_once = PTHREAD_ONCE_INIT;

static void poison_register(const char *subject) {
        static const char help[] = "Poison messages (undecodable, of another type than their subject, impossible "
                                   "content) by subject: dead-lettered to FOOD_DLQ, or refused on RPC subjects";
        char name[CODEC_SUBJECT_MAX + 48];
        char *copy;

        if (n_poison_series == POISON_SERIES_MAX)
                return;
        snprintf(name, sizeof(name), "food_messages_poison_total{subject=\"%s\"}", subject ? subject : "other");
        copy = strdup(name); /* lives as long as the process, as the registry requires */
        if (!copy)
                return;
        poison_series[n_poison_series].subject = subject;
        poison_series[n_poison_series].metric = metrics_counter(copy, help);
        n_poison_series++;
}

static void poison_register_all(void) {
        for (size_t i = 0;; i++) {
                const CodecType *t = codec_type_at(i);
                if (!t)
                        break;
                if (t->subject)
                        poison_register(t->subject);
        }
        poison_register(POISON_ORDER_SUBJECT);
        poison_register(NULL);
}

void worker_poison_init(void) {
        pthread_once(&poison_once, poison_register_all);
}

/* food.order.<one token>.status */
static bool poison_is_order_subject(const char *subject) {
        static const char prefix[] = FOOD_PREFIX ".order.";
        const char *id, *dot;
        if (strncmp(subject, prefix, sizeof(prefix) - 1) != 0)
                return false;
        id = subject + sizeof(prefix) - 1;
        dot = strchr(id, '.');
        return dot && dot > id && strcmp(dot, ".status") == 0;
}

void worker_poison_count(const char *subject) {
        Metric *other = NULL;
        worker_poison_init();
        if (!subject)
                subject = "";
        for (size_t i = 0; i < n_poison_series; i++) {
                const char *s = poison_series[i].subject;
                if (!s)
                        other = poison_series[i].metric;
                else if (strcmp(s, subject) == 0 ||
                         (strcmp(s, POISON_ORDER_SUBJECT) == 0 && poison_is_order_subject(subject))) {
                        metric_add(poison_series[i].metric, 1);
                        return;
                }
        }
        if (other)
                metric_add(other, 1);
}

bool worker_subject_fits(const ProtobufCMessage *m, const char *subject) {
        char want[CODEC_SUBJECT_MAX];
        return m && subject && codec_subject(m->descriptor, codec_order_id(m), want, sizeof(want)) == 0 &&
               strcmp(want, subject) == 0;
}

static const PgStmt st_claim = {"worker_claim",
                                "INSERT INTO processed(msg_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1"};
static const PgStmt st_stored_reply = {"worker_stored_reply",
                                       "SELECT reply_subject, reply_type, reply FROM processed WHERE msg_id = $1"};
static const PgStmt st_store_reply = {
        "worker_store_reply", "UPDATE processed SET reply_subject = $2, reply_type = $3, reply = $4 WHERE msg_id = $1"};

int worker_reply(WorkerOut *out, const ProtobufCMessage *reply) {
        if (out->data)
                return -EEXIST;
        int r = codec_pack(reply, &out->data, &out->len);
        if (r == 0)
                out->desc = reply->descriptor;
        return r;
}

/* Marks a message for the dead-letter stream (published and confirmed after the batch). */
static void worker_dead_letter(Item *it, const char *why) {
        it->fate = ITEM_DEAD;
        it->dead = why;
}

/* Publishes the dead letter of `it` for operators (`nats stream view FOOD_DLQ`). */
static void worker_publish_dead_letter(Loop *l, Item *it) {
        const char *type = bus_header(it->msg, BUS_HDR_TYPE);
        worker_poison_count(natsMsg_GetSubject(it->msg));
        log_warn("%s: dead-lettering message on %s (type %.128s, %d bytes): %s", l->def->durable,
                 natsMsg_GetSubject(it->msg), type ? type : "none", natsMsg_GetDataLength(it->msg), it->dead);
        (void)bus_dead_letter(l->pub, l->def->durable, it->msg, it->dead);
}

/* Handles one message inside the open transaction; sets it->fate (left NAK
 * when anything fails). Returns a negative errno only when the whole
 * transaction is lost. */
static int worker_one(Loop *l, Item *it) {
        ProtobufCMessage *m = it->m;
        PGresult *res = NULL;
        const char *vals[4];
        int lens[4], fmts[4] = {0, 0, 0, 1};
        int r;

        it->fate = ITEM_NAK;
        if (!it->msg_id || !*it->msg_id) {
                worker_dead_letter(it, "no Nats-Msg-Id header");
                return 0;
        }
        if (!m) {
                worker_dead_letter(it, "unknown Food-Type, or a payload that is not a message of it");
                return 0;
        }
        if (!worker_subject_fits(m, natsMsg_GetSubject(it->msg))) {
                worker_dead_letter(it, "Food-Type does not match the subject");
                return 0;
        }
        r = pg_exec(l->pg, "SAVEPOINT msg");
        if (r < 0)
                goto out;
        vals[0] = it->msg_id;
        r = pg_run(l->pg, &st_claim, 1, vals, NULL, NULL, &res);
        if (r == -EBADMSG) {
                /* The Nats-Msg-Id itself is refused (not UTF-8): it can never be claimed. */
                log_warn("%s: a message id refused by the database: %s", l->def->durable, pg_error(l->pg));
                worker_dead_letter(it, "the database refused its Nats-Msg-Id");
                r = pg_exec(l->pg, "ROLLBACK TO SAVEPOINT msg");
                goto out;
        }
        if (r < 0)
                goto out;
        if (PQntuples(res) == 0) {
                /* Seen before: re-send the stored reply, which may never have left. */
                PQclear(res);
                res = NULL;
                metric_add(m_duplicates, 1);
                r = pg_run(l->pg, &st_stored_reply, 1, vals, NULL, NULL, &res);
                if (r < 0)
                        goto out;
                if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
                        const CodecType *rt = codec_type_by_name(PQgetvalue(res, 0, 1));
                        size_t n = 0;
                        unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 2), &n);
                        if (rt && raw) {
                                it->out.desc = rt->desc;
                                it->out.data = malloc(n ? n : 1);
                                if (it->out.data) {
                                        memcpy(it->out.data, raw, n);
                                        it->out.len = n;
                                }
                        }
                        PQfreemem(raw);
                }
                it->fate = ITEM_ACK;
                r = pg_exec(l->pg, "RELEASE SAVEPOINT msg");
                goto out;
        }
        PQclear(res);
        res = NULL;
        r = l->def->handle(l->def->ctx, l->pg, m, it->msg_id, &it->out);
        if (r == 0 && it->out.data) {
                const CodecType *rt = codec_type_by_desc(it->out.desc);
                vals[1] = rt && rt->subject ? rt->subject : "";
                vals[2] = it->out.desc->name;
                vals[3] = (const char *)it->out.data;
                lens[0] = lens[1] = lens[2] = 0;
                lens[3] = (int)it->out.len;
                r = pg_run(l->pg, &st_store_reply, 4, vals, lens, fmts, NULL);
        }
        if (r == 0) {
                metric_add(m_handled, 1);
                it->fate = ITEM_ACK;
                r = pg_exec(l->pg, "RELEASE SAVEPOINT msg");
        } else if (r > 0) {
                if (r == WORKER_POISON)
                        worker_dead_letter(it, "handler rejected its content");
                free(it->out.data);
                it->out.data = NULL;
                r = pg_exec(l->pg, "ROLLBACK TO SAVEPOINT msg");
        } else if (r == -EBADMSG) {
                /* PostgreSQL refused the message's own data (not UTF-8, out of
                 * range...): it would fail the same way on every redelivery. */
                log_warn("%s: %s refused by the database: %s", l->def->durable, it->msg_id, pg_error(l->pg));
                worker_dead_letter(it, "the database refused its content");
                free(it->out.data);
                it->out.data = NULL;
                r = pg_exec(l->pg, "ROLLBACK TO SAVEPOINT msg");
        } else {
                metric_add(m_failed, 1);
                log_warn("%s: handling %s failed: %s", l->def->durable, it->msg_id, pg_error(l->pg));
                it->fate = ITEM_NAK;
                free(it->out.data);
                it->out.data = NULL;
                int r2 = pg_exec(l->pg, "ROLLBACK TO SAVEPOINT msg");
                r = r == -ENOTCONN ? r : r2;
        }
out:
        PQclear(res);
        return r;
}

/* Decodes a message's payload by its Food-Type header (NULL if it cannot). */
static ProtobufCMessage *worker_decode(natsMsg *msg) {
        const char *type_name = bus_header(msg, BUS_HDR_TYPE);
        const CodecType *type = type_name ? codec_type_by_name(type_name) : NULL;
        ProtobufCMessage *m = NULL;
        if (type)
                (void)codec_unpack(type->desc, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &m);
        return m;
}

static int item_cmp(const void *a, const void *b) {
        const Item *x = a, *y = b;
        int c = strcmp(x->order_id, y->order_id);
        return c ? c : x->index - y->index; /* keep delivery order within an order */
}

static void worker_batch(Loop *l, natsMsgList *list) {
        Item items[BUS_FETCH_MAX];
        int n = list->Count, r;
        bool committed;

        memset(items, 0, sizeof(items));
        for (int i = 0; i < n; i++) {
                items[i].msg = list->Msgs[i];
                items[i].msg_id = bus_header(list->Msgs[i], "Nats-Msg-Id");
                items[i].m = worker_decode(list->Msgs[i]);
                items[i].order_id = codec_order_id(items[i].m);
                items[i].index = i;
        }
        /* Two loops taking batches that touch the same orders lock their rows in
         * the same order, so they wait for each other instead of deadlocking. */
        qsort(items, (size_t)n, sizeof(items[0]), item_cmp);
        r = pg_ensure(l->pg);
        if (r == 0)
                r = pg_begin(l->pg);
        for (int i = 0; i < n && r == 0; i++)
                r = worker_one(l, &items[i]);
        committed = r == 0 && pg_commit(l->pg) == 0;
        if (!committed) {
                pg_rollback(l->pg);
                log_warn("%s: batch of %d not committed: %s", l->def->durable, n, pg_error(l->pg));
        }
        /* Dead letters stand whether or not the batch committed (their content decided them);
         * replies only for what was committed. */
        for (int i = 0; i < n; i++) {
                Item *it = &items[i];
                if (it->fate == ITEM_DEAD)
                        worker_publish_dead_letter(l, it);
                if (!committed || it->fate != ITEM_ACK || !it->out.data)
                        continue;
                char reply_id[200];
                const CodecType *rt = codec_type_by_desc(it->out.desc);
                snprintf(reply_id, sizeof(reply_id), "r.%s", it->msg_id);
                if (rt && rt->subject)
                        (void)bus_publish(l->pub, rt->subject, reply_id, it->out.desc->name, it->out.data,
                                          it->out.len, bus_header(it->msg, BUS_HDR_TRACE));
        }
        /* Ack only what is durable: if a reply was not stored by the stream,
         * redelivery finds the processed row and re-sends the stored reply; a
         * message is terminated only once its dead letter is stored. Anything
         * else goes back for redelivery. */
        r = bus_publisher_flush(l->pub, 5000);
        for (int i = 0; i < n; i++) {
                Item *it = &items[i];
                if (r == 0 && it->fate == ITEM_DEAD)
                        bus_term(it->msg);
                else if (r == 0 && committed && it->fate == ITEM_ACK)
                        bus_ack(it->msg);
                else
                        bus_nak(it->msg);
                free(it->out.data);
                codec_free(it->m);
        }
}

/* The dedupe table of every consumer, created under the schema's migration
 * lock so that replicas starting together never race on it. */
static int worker_create_inbox(Pg *pg, const char *schema) {
        static const PgStmt st_lock = {"worker_lock", "SELECT pg_advisory_xact_lock(hashtext($1))"};
        const char *vals[] = {schema};
        int r = pg_begin(pg);
        if (r == 0)
                r = pg_run(pg, &st_lock, 1, vals, NULL, NULL, NULL);
        if (r == 0)
                r = pg_exec(pg, "CREATE TABLE IF NOT EXISTS processed (msg_id text PRIMARY KEY, reply_subject text,"
                                " reply_type text, reply bytea, at timestamptz NOT NULL DEFAULT now())");
        if (r == 0)
                r = pg_commit(pg);
        if (r < 0) {
                log_error("cannot create the processed table in %s: %s", schema, pg_error(pg));
                pg_rollback(pg);
        }
        return r;
}

int worker_config(WorkerDef *def, int default_threads, int default_batch) {
        int64_t threads, batch;
        int r = config_int("WORKER_THREADS", default_threads, 1, 256, &threads);
        if (r == 0)
                r = config_int("WORKER_BATCH", default_batch, 1, BUS_FETCH_MAX, &batch);
        if (r == 0) {
                def->threads = (int)threads;
                def->batch = (int)batch;
        }
        return r;
}

static void *worker_loop(void *arg) {
        Loop *l = arg;
        while (!service_stopping) {
                natsMsgList list;
                int r = bus_fetch(l->consumer, &list, l->def->batch, 1000);
                if (r == -ETIMEDOUT)
                        continue;
                if (r < 0) {
                        struct timespec ts = {0, 200000000L};
                        nanosleep(&ts, NULL); /* disconnected: the connection reconnects by itself */
                        continue;
                }
                worker_batch(l, &list);
                natsMsgList_Destroy(&list);
        }
        return NULL;
}

int worker_run(Service *svc, const WorkerDef *def) {
        int threads = def->threads > 0 ? def->threads : 1;
        Loop *loops = calloc((size_t)threads, sizeof(Loop));
        pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
        int r = 0, started = 0;

        if (!loops || !tids) {
                free(loops);
                free(tids);
                return -ENOMEM;
        }
        pthread_once(&metrics_once, worker_register_metrics);
        for (int i = 0; i < threads; i++) {
                Loop *l = &loops[i];
                l->svc = svc;
                l->def = def;
                r = bus_consumer_open(svc->bus, def->durable, &l->consumer);
                if (r == 0)
                        r = bus_publisher_new(svc->bus, &l->pub);
                if (r == 0)
                        r = service_pg(svc, &l->pg);
                if (r == 0 && i == 0)
                        r = worker_create_inbox(l->pg, svc->schema);
                if (r == 0)
                        r = -pthread_create(&tids[i], NULL, worker_loop, l);
                if (r < 0)
                        break;
                started++;
        }
        if (r < 0)
                service_stopping = true;
        else
                log_info("%s: consuming with %d loop(s)", def->durable, threads);
        for (int i = 0; i < started; i++)
                pthread_join(tids[i], NULL);
        for (int i = 0; i < threads; i++) {
                bus_consumer_close(loops[i].consumer);
                bus_publisher_free(loops[i].pub);
                pg_free(loops[i].pg);
        }
        free(loops);
        free(tids);
        return r;
}
