/* Batched JetStream consumer loop shared by every worker, and for a worker that takes direct commands
 * (lib/topology.c) its loops over core NATS: the same handling, one message at a time, nothing to ack. */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "topology.h"

#define WORKER_COMMANDS_MAX 4096 /* commands of one fetch (64 messages of one orchestrator batch each) */
/* Direct messages waiting for a free loop at most (then nats.c drops them). One subscription for the process's
 * direct loops, not one each: NATS hands a queue group's messages out at random, not by load, so the two or three
 * charges a batch of the orchestrator sends at once often met in one loop's queue, one waiting for the other's
 * provider call while other loops were idle. */
#define WORKER_DIRECT_PENDING 1024
#define WORKER_DRAIN_MS 500       /* stopping: what reached a direct loop is handled within this */

struct WorkerOut {
        uint8_t *data; /* the packed food.v1.Reply, or NULL */
        size_t len;
};

/* One command of a fetched batch. */
typedef struct {
        int msg;                     /* index of its message in the fetch */
        int k;                       /* index of the command in its batch */
        const ProtobufCMessage *cmd; /* borrowed from the decoded batch */
        const char *dead;            /* why it is dead-lettered (static text), or NULL */
        WorkerOut out;
} Item;

/* One fetched message: a decoded CommandBatch, or a whole message to dead-letter. */
typedef struct {
        natsMsg *msg;
        Food__V1__CommandBatch *batch; /* NULL when it does not decode */
        const char *dead;              /* the whole message is dead-lettered: why */
        bool retry;                    /* a command asked for a later redelivery */
        bool later;                    /* did not fit in this fetch: handed back for the next one */
} Msg;

/* The batch handler's arguments for one fetch (WORKER_COMMANDS_MAX each). */
typedef struct {
        const ProtobufCMessage **cmds;
        WorkerOut **outs;
        int *res, *idx;
} BatchArgs;

typedef struct {
        Service *svc;
        const WorkerDef *def;
        BusConsumer *consumer; /* a fetch loop's */
        BusInbox *inbox;       /* a direct loop's: the process's, shared by its direct loops */
        BusPublisher *pub;
        Pg *pg;
        Item *items;
        BatchArgs batch;
} Loop;

static Metric *m_handled, *m_failed;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void worker_register_metrics(void) {
        m_handled = metrics_counter("food_commands_handled_total", "Commands applied by this worker");
        m_failed = metrics_counter("food_messages_failed_total", "Messages whose handling failed and will be retried");
        worker_poison_init();
}

/* ---- poison accounting -------------------------------------------------- */

#define POISON_SERIES_MAX 64

typedef struct {
        const char *subject; /* a subject or pattern; NULL for the "other" series */
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

        for (size_t i = 0; subject && i < n_poison_series; i++)
                if (poison_series[i].subject && strcmp(poison_series[i].subject, subject) == 0)
                        return;
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

/* The workers' command subjects one by one, then every pattern a message type travels on. */
static void poison_register_all(void) {
        const TopoConsumer *c;
        const CodecType *t;
        for (size_t i = 0; (c = topo_consumer_at(i)); i++)
                poison_register(c->filter);
        for (size_t i = 0; (t = codec_type_at(i)); i++)
                for (int k = 0; k < 2; k++)
                        if (t->subjects[k])
                                poison_register(t->subjects[k]);
        poison_register(NULL);
}

void worker_poison_init(void) {
        pthread_once(&poison_once, poison_register_all);
}

void worker_poison_count(const char *subject) {
        Metric *other = NULL;
        worker_poison_init();
        for (size_t i = 0; i < n_poison_series; i++) {
                const char *s = poison_series[i].subject;
                if (!s)
                        other = poison_series[i].metric;
                else if (subject && topo_subject_matches(s, subject)) {
                        metric_add(poison_series[i].metric, 1);
                        return;
                }
        }
        if (other)
                metric_add(other, 1);
}

/* ---- answers ------------------------------------------------------------- */

int worker_answer(WorkerOut *out, const ProtobufCMessage *reply) {
        Food__V1__Reply r;
        if (out->data)
                return -EEXIST;
        if (codec_reply_wrap(&r, reply) < 0)
                return -EINVAL;
        return codec_pack(&r.base, &out->data, &out->len);
}

/* Appends a protobuf length-delimited field 1 holding `len` bytes (a repeated message). */
static size_t put_field1(uint8_t *buf, const uint8_t *data, size_t len) {
        size_t pos = 0, v = len;
        buf[pos++] = 0x0a; /* field 1, wire type 2 */
        do {
                buf[pos++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
                v >>= 7;
        } while (v);
        memcpy(buf + pos, data, len);
        return pos + len;
}

/* Sends the answers of message `index`'s commands to its sender (header Food-Answer-To) in one
 * ReplyBatch, written field by field from the packed replies. Core NATS: an answer lost is a
 * command the orchestrator sends again. */
static void worker_send_answers(Loop *l, const Msg *m, const Item *items, int n_items, int index) {
        const char *to = bus_header(m->msg, BUS_HDR_ANSWER_TO);
        size_t total = 0, pos = 0;
        uint8_t *buf;

        if (!to || !*to || strpbrk(to, " *>\r\n"))
                return;
        for (int i = 0; i < n_items; i++)
                if (items[i].msg == index && items[i].out.data)
                        total += items[i].out.len + 11; /* tag + at most 10 bytes of length */
        if (total == 0 || !(buf = malloc(total)))
                return;
        for (int i = 0; i < n_items; i++)
                if (items[i].msg == index && items[i].out.data)
                        pos += put_field1(buf + pos, items[i].out.data, items[i].out.len);
        (void)bus_publish_core(l->svc->bus, to, food__v1__reply_batch__descriptor.name, buf, pos);
        free(buf);
}

/* ---- one fetch ----------------------------------------------------------- */

/* Decodes a message's batch by its Food-Type header; sets m->dead when it is not one that fits
 * its subject. */
static void worker_decode(const Loop *l, Msg *m) {
        const char *type_name = bus_header(m->msg, BUS_HDR_TYPE);
        ProtobufCMessage *b = NULL;

        if (!type_name || strcmp(type_name, food__v1__command_batch__descriptor.name) != 0 ||
            codec_unpack(&food__v1__command_batch__descriptor, natsMsg_GetData(m->msg),
                         (size_t)natsMsg_GetDataLength(m->msg), &b) < 0) {
                m->dead = "unknown Food-Type, or a payload that is not a message of it";
                return;
        }
        m->batch = (Food__V1__CommandBatch *)b;
        if (!codec_subject_fits(b, natsMsg_GetSubject(m->msg)))
                m->dead = "a command of another worker, or Food-Type does not match the subject";
        else if (m->batch->n_notifications > 0 && !l->def->rows)
                m->dead = "notification rows for a worker that sends none";
}

/* Takes a command's outcome `r`: sets it->dead for a poison one. Returns a negative errno only
 * when the fetch's transaction is lost (-EBADMSG: PostgreSQL refused this command's data). */
static int worker_outcome(Loop *l, Msg *m, Item *it, int r) {
        if (r == WORKER_POISON) {
                it->dead = "the worker rejected its content";
                free(it->out.data);
                it->out.data = NULL;
                return 0;
        }
        if (r == WORKER_RETRY) {
                m->retry = true;
                return 0;
        }
        if (r == 0)
                metric_add(m_handled, 1);
        else if (r != -EBADMSG)
                log_warn("%s: a command of order %s failed: %s", l->def->durable, codec_order_id(it->cmd),
                         l->pg ? pg_error(l->pg) : strerror(-r));
        return r;
}

/* Applies the live items of [from, to) with the batch handler; 0, or the transaction's failure. */
static int worker_batch(Loop *l, Msg *msgs, Item *items, int from, int to) {
        BatchArgs *a = &l->batch;
        int n = 0, r;

        for (int i = from; i < to; i++)
                if (!msgs[items[i].msg].dead) {
                        a->idx[n] = i;
                        a->cmds[n] = items[i].cmd;
                        a->outs[n] = &items[i].out;
                        a->res[n] = 0;
                        n++;
                }
        r = n ? l->def->handle_batch(l->def->ctx, l->pg, a->cmds, a->res, a->outs, n) : 0;
        for (int k = 0; k < n && r == 0; k++)
                r = worker_outcome(l, &msgs[items[a->idx[k]].msg], &items[a->idx[k]], a->res[k]);
        return r;
}

/* Runs items [from, to) in one transaction (or none); 0, or the first failure. */
static int worker_apply(Loop *l, Msg *msgs, Item *items, int from, int to) {
        int r = 0;
        for (int i = from; i < to; i++) {
                free(items[i].out.data);
                items[i].out.data = NULL;
                items[i].dead = NULL;
        }
        if (l->def->transactional) {
                r = pg_ensure(l->pg);
                if (r == 0)
                        r = pg_begin(l->pg);
        }
        if (r == 0 && l->def->handle_batch && to - from > 1)
                r = worker_batch(l, msgs, items, from, to);
        else
                for (int i = from; i < to && r == 0; i++)
                        if (!msgs[items[i].msg].dead)
                                r = worker_outcome(l, &msgs[items[i].msg], &items[i],
                                                   l->def->handle(l->def->ctx, l->pg, items[i].cmd, &items[i].out));
        if (l->def->transactional) {
                if (r == 0)
                        r = pg_commit(l->pg);
                if (r < 0)
                        pg_rollback(l->pg);
        }
        return r;
}

/* Dead-letters a whole message (cmd NULL) or its command number `k`. */
static void worker_dead_letter(Loop *l, natsMsg *msg, const ProtobufCMessage *cmd, int k, const char *why) {
        const char *type = cmd ? cmd->descriptor->name : bus_header(msg, BUS_HDR_TYPE);
        worker_poison_count(natsMsg_GetSubject(msg));
        log_warn("%s: dead-lettering %s on %s (type %.128s, order %s): %s", l->def->durable,
                 cmd ? "a command" : "a message", natsMsg_GetSubject(msg), type ? type : "none",
                 cmd ? codec_order_id(cmd) : "?", why);
        (void)bus_dead_letter(l->pub, l->def->durable, msg, cmd, k, why);
}

/* The order a command is about ("" when none). */
static const char *item_order(const Item *it) {
        const Food__V1__Correlation *c = it->cmd ? codec_correlation(it->cmd) : NULL;
        return c && c->order_id ? c->order_id : "";
}

/* Row locks taken in one order whatever the batches: two replicas applying fetches that share
 * orders take their rows in the same order instead of deadlocking (and handing both fetches
 * back). Stable: an order's own commands keep their order. */
static void items_by_order(Item *items, int n) {
        for (int i = 1; i < n; i++) {
                Item it = items[i];
                const char *key = item_order(&it);
                int j = i - 1;
                while (j >= 0 && strcmp(item_order(&items[j]), key) > 0) {
                        items[j + 1] = items[j];
                        j--;
                }
                items[j + 1] = it;
        }
}

static void worker_fetch(Loop *l, natsMsgList *list) {
        Msg msgs[BUS_FETCH_MAX];
        Item *items = l->items;
        int n = list->Count, n_items = 0, r = 0;
        bool failed = false;

        memset(msgs, 0, sizeof(msgs));
        for (int i = 0; i < n; i++) {
                Msg *m = &msgs[i];
                m->msg = list->Msgs[i];
                if (i > 0 && msgs[i - 1].later) {
                        m->later = true;
                        continue;
                }
                worker_decode(l, m);
                if (!m->dead && n_items + m->batch->n_commands > WORKER_COMMANDS_MAX) {
                        if (n_items > 0) {
                                /* Healthy, it only does not fit: it and the rest come back at once. */
                                m->later = true;
                                continue;
                        }
                        m->dead = "more commands than a fetch may hold";
                }
                for (size_t k = 0; !m->dead && k < m->batch->n_commands; k++) {
                        items[n_items] = (Item){.msg = i, .k = (int)k,
                                                .cmd = codec_command_message(m->batch->commands[k])};
                        n_items++;
                }
        }
        if (n_items > 1 && l->def->transactional)
                items_by_order(items, n_items);
        if (n_items > 0) {
                r = worker_apply(l, msgs, items, 0, n_items);
                /* A deadlock with another loop or replica (PostgreSQL chose this transaction to end), or
                 * a row another one inserted first under a unique key the upsert does not arbitrate: the
                 * other one goes on, so applying the fetch again right away finds its rows. */
                for (int tries = 0; (r == -EAGAIN || r == -EEXIST) && l->def->transactional && tries < 3; tries++) {
                        log_info("%s: a fetch of %d messages met a concurrent one (%s); applying it again",
                                 l->def->durable, n, pg_error(l->pg));
                        r = worker_apply(l, msgs, items, 0, n_items);
                }
                if (r == -EBADMSG && l->def->transactional) {
                        /* PostgreSQL refused some command's own data: apply one command per
                         * transaction, so that only that one is dead-lettered. */
                        log_warn("%s: a batch of %d commands refused by the database (%s); one by one",
                                 l->def->durable, n_items, pg_error(l->pg));
                        r = 0;
                        for (int i = 0; i < n_items && r == 0; i++) {
                                int ri = worker_apply(l, msgs, items, i, i + 1);
                                if (ri == -EBADMSG)
                                        items[i].dead = "the database refused its content";
                                else
                                        r = ri;
                        }
                }
                if (r < 0) {
                        failed = true;
                        metric_add(m_failed, n);
                        log_warn("%s: a fetch of %d messages not applied: %s %s", l->def->durable, n, strerror(-r),
                                 l->pg ? pg_error(l->pg) : "");
                }
        }
        /* Notification rows go to the sender once the commands (none for it) are done. */
        for (int i = 0; i < n && !failed && l->def->rows; i++)
                if (!msgs[i].dead && !msgs[i].later && msgs[i].batch->n_notifications > 0 &&
                    l->def->rows(l->def->ctx, msgs[i].batch->notifications, msgs[i].batch->n_notifications) < 0)
                        msgs[i].retry = true;
        /* Dead letters stand whether or not the rest was applied (their content decided them);
         * answers only for what was. */
        for (int i = 0; i < n; i++)
                if (msgs[i].dead)
                        worker_dead_letter(l, msgs[i].msg, NULL, 0, msgs[i].dead);
        for (int i = 0; i < n_items; i++)
                if (items[i].dead)
                        worker_dead_letter(l, msgs[items[i].msg].msg, items[i].cmd, items[i].k, items[i].dead);
        for (int i = 0; i < n && !failed; i++)
                if (!msgs[i].dead && !msgs[i].later)
                        worker_send_answers(l, &msgs[i], items, n_items, i);
        /* A message is terminated only once its dead letter is stored; acked once its commands are
         * applied (a dead-lettered command's letter stored too); anything else comes back. A direct
         * message has nothing to ack (its reply subject is its sender's): one not answered is sent
         * again through JetStream. */
        r = bus_publisher_flush(l->pub, 5000);
        for (int i = 0; i < n; i++) {
                Msg *m = &msgs[i];
                if (l->consumer) {
                        if (m->later)
                                bus_nak_now(l->consumer, m->msg);
                        else if (m->dead && r == 0)
                                bus_term(l->consumer, m->msg);
                        else if (!m->dead && !failed && !m->retry && r == 0)
                                bus_ack(l->consumer, m->msg);
                        else
                                bus_nak(l->consumer, m->msg);
                }
                codec_free(m->batch ? &m->batch->base : NULL);
        }
        for (int i = 0; i < n_items; i++)
                free(items[i].out.data);
}

/* ---- loops ----------------------------------------------------------------- */

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
        for (bool last = false; !last;) {
                natsMsgList list;
                /* Stopping: the last fetch takes what is in and what a request it left open still brings,
                 * and asks for nothing that would outlive it (lib/bus.c): no message is left to AckWait. */
                last = service_stopping;
                int r = bus_fetch(l->consumer, &list, l->def->batch, last ? 500 : 1000, last);
                if (r == -ETIMEDOUT)
                        continue;
                if (r < 0) {
                        struct timespec ts = {0, 200000000L};
                        if (!last)
                                nanosleep(&ts, NULL); /* disconnected: the connection reconnects by itself */
                        continue;
                }
                worker_fetch(l, &list);
                natsMsgList_Destroy(&list);
        }
        return NULL;
}

/* Handles the direct message that came within `timeout_ms`: 0, -ETIMEDOUT, or the subscription's error. */
static int worker_direct_next(void *ud, int64_t timeout_ms) {
        Loop *l = ud;
        natsMsg *msg = NULL;
        int r = bus_inbox_next(l->inbox, timeout_ms, &msg);
        if (r == 0) {
                natsMsgList list = {.Msgs = &msg, .Count = 1};
                worker_fetch(l, &list);
                natsMsg_Destroy(msg);
        } else if (r == -ENOBUFS)
                log_warn("%s: direct commands dropped (too many waiting); they come again through JetStream",
                         l->def->durable);
        return r;
}

static void *worker_direct_loop(void *arg) {
        Loop *l = arg;
        while (!service_stopping) {
                int r = worker_direct_next(l, 500);
                if (r < 0 && r != -ETIMEDOUT && r != -ENOBUFS) {
                        struct timespec ts = {0, 200000000L};
                        nanosleep(&ts, NULL); /* disconnected: the connection reconnects by itself */
                }
        }
        /* Stopping: nothing more comes here (another replica takes them); what already came is handled. */
        bus_inbox_finish(l->inbox, WORKER_DRAIN_MS, worker_direct_next, l);
        return NULL;
}

int worker_run(Service *svc, const WorkerDef *def) {
        const TopoConsumer *topo = topo_consumer(def->durable);
        char direct[TOPO_SUBJECT_MAX];
        int fetchers = def->threads > 0 ? def->threads : 1;
        /* As many direct loops as fetch loops, for a worker that takes direct commands. */
        int threads = topo && topo->direct ? 2 * fetchers : fetchers;
        Loop *loops = calloc((size_t)threads, sizeof(Loop));
        pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
        BusInbox *inbox = NULL;
        int r = 0, started = 0;

        if (!loops || !tids) {
                free(loops);
                free(tids);
                return -ENOMEM;
        }
        pthread_once(&metrics_once, worker_register_metrics);
        if (threads > fetchers) {
                r = topo_direct_subject(direct, sizeof(direct), def->durable);
                if (r == 0)
                        r = bus_inbox_open(svc->bus, direct, def->durable, WORKER_DIRECT_PENDING, &inbox);
        }
        for (int i = 0; i < threads && r == 0; i++) {
                Loop *l = &loops[i];
                l->svc = svc;
                l->def = def;
                l->items = calloc(WORKER_COMMANDS_MAX, sizeof(Item));
                l->batch.cmds = calloc(WORKER_COMMANDS_MAX, sizeof(*l->batch.cmds));
                l->batch.outs = calloc(WORKER_COMMANDS_MAX, sizeof(*l->batch.outs));
                l->batch.res = calloc(WORKER_COMMANDS_MAX, sizeof(int));
                l->batch.idx = calloc(WORKER_COMMANDS_MAX, sizeof(int));
                bool is_direct = i >= fetchers;
                r = l->items && l->batch.cmds && l->batch.outs && l->batch.res && l->batch.idx ? 0 : -ENOMEM;
                if (r == 0 && is_direct)
                        l->inbox = inbox;
                else if (r == 0)
                        r = bus_consumer_open(svc->bus, def->durable, &l->consumer);
                if (r == 0)
                        r = bus_publisher_new(svc->bus, &l->pub);
                if (r == 0 && def->transactional)
                        r = service_pg(svc, &l->pg);
                if (r == 0)
                        r = -pthread_create(&tids[i], NULL, is_direct ? worker_direct_loop : worker_loop, l);
                if (r < 0)
                        break;
                started++;
        }
        if (r < 0)
                service_stopping = true;
        else if (threads > fetchers)
                log_info("%s: consuming with %d loop(s), and %s with %d", def->durable, fetchers, direct,
                         threads - fetchers);
        else
                log_info("%s: consuming with %d loop(s)", def->durable, threads);
        for (int i = 0; i < started; i++)
                pthread_join(tids[i], NULL);
        for (int i = 0; i < threads; i++) {
                bus_consumer_close(loops[i].consumer);
                bus_publisher_free(loops[i].pub);
                pg_free(loops[i].pg);
                free(loops[i].items);
                free(loops[i].batch.cmds);
                free(loops[i].batch.outs);
                free(loops[i].batch.res);
                free(loops[i].batch.idx);
        }
        bus_inbox_close(inbox); /* after the last direct loop */
        free(loops);
        free(tids);
        return r;
}
