/* NATS/JetStream adapter and the system's stream/consumer topology. */
#include "bus.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct Bus {
        natsConnection *nc;
        jsCtx *js; /* for topology calls only */
};

/* Set while a connection is being closed on purpose. Process-wide, not in the
 * Bus: nats.c may deliver the disconnected callback after the Bus is freed. */
static atomic_bool bus_closing;

struct BusConsumer {
        natsSubscription *sub;
        char durable[64];
};

struct BusPublisher {
        jsCtx *js;
        atomic_int failed;
};

/* ---- topology: every stream and consumer, defined once ------------------- */

typedef struct {
        const char *name;
        const char *subjects[2]; /* the second may be NULL */
        int64_t max_age_s;
} StreamDef;

typedef struct {
        const char *stream;
        const char *durable;
        const char *filter;
} ConsumerDef;

/* Limits retention (not WorkQueue): consumers dedupe in PostgreSQL, and a
 * re-sent message must not be swallowed because another consumer acked it. */
static const StreamDef bus_streams[] = {
        {"FOOD_CMD", {"food.cmd.>"}, 7 * 86400},
        {"FOOD_EVT", {"food.evt.>"}, 7 * 86400},
        {"FOOD_ORDER", {"food.order.>"}, 365 * 86400}, /* also the analytics archive */
        {"FOOD_DLQ", {"food.dlq.>"}, 30 * 86400},
        /* nats-server's notices that a consumer gave a message up after MaxDeliver tries, or
         * that a message was terminated: it only emits advisories, kept here so that operators
         * (and the crash suite: terminated = dead-lettered) see them. */
        {"FOOD_ADVISORY",
         {"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>", "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>"},
         30 * 86400},
};

static const ConsumerDef bus_consumers[] = {
        {"FOOD_EVT", "orchestrator", "food.evt.>"},
        {"FOOD_CMD", "payment", "food.cmd.payment.>"},
        {"FOOD_CMD", "store", "food.cmd.store.>"},
        {"FOOD_CMD", "delivery", "food.cmd.delivery.>"},
        {"FOOD_CMD", "coupon", "food.cmd.coupon.>"},
        {"FOOD_CMD", "notification-cmd", "food.cmd.notification.>"},
        {"FOOD_ORDER", "notification", "food.order.>"},
        {"FOOD_ORDER", "projector", "food.order.>"},
};

int bus_errno(natsStatus s) {
        switch (s) {
        case NATS_OK:
                return 0;
        case NATS_TIMEOUT:
                return -ETIMEDOUT;
        case NATS_NO_RESPONDERS:
                return -EHOSTUNREACH;
        case NATS_NOT_FOUND:
                return -ENOENT;
        case NATS_NO_MEMORY:
                return -ENOMEM;
        case NATS_INVALID_ARG:
        case NATS_INVALID_SUBJECT:
                return -EINVAL;
        case NATS_CONNECTION_CLOSED:
        case NATS_CONNECTION_DISCONNECTED:
        case NATS_NO_SERVER:
        case NATS_NOT_YET_CONNECTED:
                return -ENOTCONN;
        default:
                return -EIO;
        }
}

static void bus_on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure) {
        (void)nc;
        (void)sub;
        (void)closure;
        log_warn("nats: async error: %s", natsStatus_GetText(err));
}

static void bus_on_disconnected(natsConnection *nc, void *closure) {
        (void)nc;
        (void)closure;
        if (!atomic_load(&bus_closing))
                log_warn("nats: disconnected, reconnecting");
}

static void bus_on_reconnected(natsConnection *nc, void *closure) {
        (void)nc;
        (void)closure;
        log_info("nats: reconnected");
}

#define BUS_PING_MS 5000
#define BUS_NAK_FIRST_MS 1000
#define BUS_NAK_MAX_MS 30000
#define BUS_MAX_PINGS_OUT 2

static void sleep_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

int bus_connect(Bus **ret, const NatsConfig *cfg, const char *name, const volatile bool *stop) {
        natsOptions *o = NULL;
        Bus *b = calloc(1, sizeof(*b));
        natsStatus s;
        int r;

        if (!b)
                return -ENOMEM;
        s = natsOptions_Create(&o);
        if (s == NATS_OK)
                s = natsOptions_SetURL(o, cfg->url);
        if (s == NATS_OK && cfg->user && *cfg->user)
                s = natsOptions_SetUserInfo(o, cfg->user, cfg->password);
        if (s == NATS_OK)
                s = natsOptions_SetName(o, name);
        if (s == NATS_OK)
                s = natsOptions_SetSendAsap(o, true); /* default adds ~1 ms to every request */
        if (s == NATS_OK)
                s = natsOptions_SetMaxReconnect(o, -1);
        if (s == NATS_OK)
                s = natsOptions_SetReconnectWait(o, 250);
        if (s == NATS_OK)
                s = natsOptions_SetReconnectBufSize(o, 64 * 1024 * 1024);
        /* A server that went silent (network partition, paused host) is noticed
         * within BUS_PING_MS * (BUS_MAX_PINGS_OUT + 1) instead of nats.c's default
         * 2 minutes x 2: the connection is then dropped and re-established, and
         * /readyz says 503 meanwhile. */
        if (s == NATS_OK)
                s = natsOptions_SetPingInterval(o, BUS_PING_MS);
        if (s == NATS_OK)
                s = natsOptions_SetMaxPingsOut(o, BUS_MAX_PINGS_OUT);
        if (s == NATS_OK)
                s = natsOptions_SetErrorHandler(o, bus_on_error, NULL);
        if (s == NATS_OK)
                s = natsOptions_SetDisconnectedCB(o, bus_on_disconnected, NULL);
        if (s == NATS_OK)
                s = natsOptions_SetReconnectedCB(o, bus_on_reconnected, NULL);
        if (s != NATS_OK) {
                r = bus_errno(s);
                goto fail;
        }
        for (int tries = 0;; tries++) {
                s = natsConnection_Connect(&b->nc, o);
                if (s == NATS_OK)
                        break;
                if (tries % 20 == 0)
                        log_warn("nats: cannot connect to %s%s%s (%s), retrying", cfg->url, *cfg->user ? " as " : "",
                                 cfg->user, natsStatus_GetText(s));
                if (stop && *stop) {
                        r = -ECANCELED;
                        goto fail;
                }
                sleep_ms(250);
        }
        s = natsConnection_JetStream(&b->js, b->nc, NULL);
        if (s != NATS_OK) {
                r = bus_errno(s);
                goto fail;
        }
        natsOptions_Destroy(o);
        *ret = b;
        return 0;
fail:
        natsOptions_Destroy(o);
        bus_free(b);
        return r;
}

void bus_free(Bus *b) {
        if (!b)
                return;
        atomic_store(&bus_closing, true);
        if (b->nc) {
                natsConnection_DrainTimeout(b->nc, 5000);
                for (int i = 0; i < 100 && !natsConnection_IsClosed(b->nc); i++)
                        sleep_ms(50);
                natsConnection_Destroy(b->nc);
        }
        jsCtx_Destroy(b->js);
        free(b);
}

natsConnection *bus_conn(Bus *b) {
        return b->nc;
}

bool bus_connected(Bus *b) {
        return b && b->nc && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

static int bus_ensure_stream(Bus *b, const StreamDef *d) {
        jsStreamConfig cfg;
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        natsStatus s;

        jsStreamConfig_Init(&cfg);
        cfg.Name = d->name;
        cfg.Subjects = (const char **)d->subjects;
        cfg.SubjectsLen = d->subjects[1] ? 2 : 1;
        cfg.Retention = js_LimitsPolicy;
        cfg.Storage = js_FileStorage;
        cfg.MaxAge = d->max_age_s * 1000000000LL;
        cfg.Duplicates = 120LL * 1000000000LL; /* Nats-Msg-Id window: a first filter only */
        cfg.Discard = js_DiscardOld;

        s = js_GetStreamInfo(&si, b->js, d->name, NULL, &jerr);
        if (s == NATS_NOT_FOUND)
                s = js_AddStream(&si, b->js, &cfg, NULL, &jerr);
        else if (s == NATS_OK) {
                jsStreamInfo_Destroy(si);
                si = NULL;
                s = js_UpdateStream(&si, b->js, &cfg, NULL, &jerr);
        }
        jsStreamInfo_Destroy(si);
        if (s != NATS_OK)
                return log_error_errno(bus_errno(s), "nats: stream %s: %s (js error %d)", d->name,
                                       nats_GetLastError(NULL), (int)jerr);
        return 0;
}

static int bus_ensure_consumer(Bus *b, const ConsumerDef *d) {
        jsConsumerConfig cc;
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        /* Redelivery back-off for unacked messages (a crashed consumer). The
         * first wait outlasts the slowest handler (a payment provider call with
         * its 2 s deadline) so work in progress is not delivered twice. */
        int64_t backoff[] = {5000000000LL, 15000000000LL, 30000000000LL, 60000000000LL};
        natsStatus s;

        s = js_GetConsumerInfo(&ci, b->js, d->stream, d->durable, NULL, &jerr);
        if (s == NATS_OK) {
                /* Never AddConsumer over an existing durable: nats.c would silently overwrite it. */
                jsConsumerInfo_Destroy(ci);
                return 0;
        }
        if (s != NATS_NOT_FOUND)
                return log_error_errno(bus_errno(s), "nats: consumer %s: %s", d->durable, nats_GetLastError(NULL));

        jsConsumerConfig_Init(&cc);
        cc.Durable = d->durable;
        cc.FilterSubject = d->filter;
        cc.AckPolicy = js_AckExplicit;
        cc.DeliverPolicy = js_DeliverAll;
        cc.AckWait = backoff[0];
        cc.BackOff = backoff;
        cc.BackOffLen = 4;
        cc.MaxDeliver = 20;
        cc.MaxAckPending = 20000;
        cc.MaxWaiting = 512;
        s = js_AddConsumer(&ci, b->js, d->stream, &cc, NULL, &jerr);
        jsConsumerInfo_Destroy(ci);
        if (s != NATS_OK && jerr != JSConsumerNameExistErr && jerr != JSConsumerExistingActiveErr)
                return log_error_errno(bus_errno(s), "nats: add consumer %s: %s (js error %d)", d->durable,
                                       nats_GetLastError(NULL), (int)jerr);
        return 0;
}

int bus_setup_topology(Bus *b) {
        int r;
        for (size_t i = 0; i < sizeof(bus_streams) / sizeof(bus_streams[0]); i++)
                if ((r = bus_ensure_stream(b, &bus_streams[i])) < 0)
                        return r;
        for (size_t i = 0; i < sizeof(bus_consumers) / sizeof(bus_consumers[0]); i++)
                if ((r = bus_ensure_consumer(b, &bus_consumers[i])) < 0)
                        return r;
        return 0;
}

int bus_consumer_open(Bus *b, const char *durable, BusConsumer **ret) {
        const ConsumerDef *d = NULL;
        jsSubOptions so;
        jsErrCode jerr = 0;
        BusConsumer *c;
        natsStatus s;

        for (size_t i = 0; i < sizeof(bus_consumers) / sizeof(bus_consumers[0]); i++)
                if (strcmp(bus_consumers[i].durable, durable) == 0)
                        d = &bus_consumers[i];
        if (!d)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        snprintf(c->durable, sizeof(c->durable), "%s", durable);
        jsSubOptions_Init(&so);
        so.Stream = d->stream;
        so.Consumer = d->durable; /* bind: never create or alter it from here */
        s = js_PullSubscribe(&c->sub, b->js, d->filter, d->durable, NULL, &so, &jerr);
        if (s != NATS_OK) {
                free(c);
                return log_error_errno(bus_errno(s), "nats: pull subscribe %s: %s", durable, nats_GetLastError(NULL));
        }
        *ret = c;
        return 0;
}

void bus_consumer_close(BusConsumer *c) {
        if (!c)
                return;
        natsSubscription_Unsubscribe(c->sub);
        natsSubscription_Destroy(c->sub);
        free(c);
}

int bus_fetch(BusConsumer *c, natsMsgList *list, int max, int64_t timeout_ms) {
        jsErrCode jerr = 0;
        natsStatus s;

        if (max > BUS_FETCH_MAX)
                max = BUS_FETCH_MAX;
        memset(list, 0, sizeof(*list));
        s = natsSubscription_Fetch(list, c->sub, max, timeout_ms, &jerr);
        if (s == NATS_OK && list->Count > 0)
                return 0;
        if (s == NATS_OK || s == NATS_TIMEOUT) {
                natsMsgList_Destroy(list);
                return -ETIMEDOUT;
        }
        natsMsgList_Destroy(list);
        return bus_errno(s);
}

const char *bus_header(natsMsg *msg, const char *key) {
        const char *v = NULL;
        if (natsMsgHeader_Get(msg, key, &v) != NATS_OK)
                return NULL;
        return v;
}

void bus_ack(natsMsg *msg) {
        natsMsg_Ack(msg, NULL);
}

int64_t bus_nak_delay_ms(uint64_t delivered) {
        if (delivered <= 1)
                return BUS_NAK_FIRST_MS;
        if (delivered > 6)
                return BUS_NAK_MAX_MS;
        int64_t d = BUS_NAK_FIRST_MS << (delivered - 1);
        return d < BUS_NAK_MAX_MS ? d : BUS_NAK_MAX_MS;
}

void bus_nak(natsMsg *msg) {
        jsMsgMetaData *meta = NULL;
        uint64_t delivered = 1;
        if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
                delivered = meta->NumDelivered;
                jsMsgMetaData_Destroy(meta);
        }
        natsMsg_NakWithDelay(msg, bus_nak_delay_ms(delivered), NULL); /* plain Nak redelivers at once */
}

void bus_term(natsMsg *msg) {
        natsMsg_Term(msg, NULL);
}

static void bus_on_pub_error(jsCtx *js, jsPubAckErr *pae, void *closure) {
        BusPublisher *p = closure;
        (void)js;
        atomic_fetch_add(&p->failed, 1);
        log_warn("nats: async publish to %s failed: %s", natsMsg_GetSubject(pae->Msg),
                 pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
}

int bus_publisher_new(Bus *b, BusPublisher **ret) {
        jsOptions o;
        BusPublisher *p = calloc(1, sizeof(*p));
        natsStatus s;

        if (!p)
                return -ENOMEM;
        jsOptions_Init(&o);
        o.PublishAsync.ErrHandler = bus_on_pub_error;
        o.PublishAsync.ErrHandlerClosure = p;
        o.PublishAsync.MaxPending = 4096;
        s = natsConnection_JetStream(&p->js, b->nc, &o);
        if (s != NATS_OK) {
                free(p);
                return bus_errno(s);
        }
        *ret = p;
        return 0;
}

void bus_publisher_free(BusPublisher *p) {
        if (!p)
                return;
        jsCtx_Destroy(p->js);
        free(p);
}

static natsStatus bus_msg_new(natsMsg **ret, const char *subject, const char *type, const void *data, size_t len) {
        natsStatus s = natsMsg_Create(ret, subject, NULL, data, (int)len);
        if (s == NATS_OK)
                s = natsMsgHeader_Set(*ret, "Content-Type", "application/protobuf");
        if (s == NATS_OK && type)
                s = natsMsgHeader_Set(*ret, BUS_HDR_TYPE, type);
        return s;
}

/* Publishes `m` (owned; NULL is fine) when building it went well (`s`), and
 * counts a failure for bus_publisher_flush. */
static int bus_publish_async(BusPublisher *p, natsMsg *m, natsStatus s) {
        if (s == NATS_OK)
                s = js_PublishMsgAsync(p->js, &m, NULL); /* takes ownership of m on success */
        natsMsg_Destroy(m);
        if (s != NATS_OK)
                atomic_fetch_add(&p->failed, 1);
        return bus_errno(s);
}

int bus_publish(BusPublisher *p, const char *subject, const char *msg_id, const char *type, const void *data,
                size_t len, const char *traceparent) {
        natsMsg *m = NULL;
        natsStatus s = bus_msg_new(&m, subject, type, data, len);

        if (s == NATS_OK && msg_id)
                s = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
        if (s == NATS_OK && traceparent && *traceparent)
                s = natsMsgHeader_Set(m, BUS_HDR_TRACE, traceparent);
        return bus_publish_async(p, m, s);
}

int bus_dead_letter(BusPublisher *p, const char *durable, natsMsg *msg, const char *why) {
        char subject[160], msg_id[256];
        const char *type = bus_header(msg, BUS_HDR_TYPE);
        jsMsgMetaData *meta = NULL;
        natsMsg *m = NULL;
        natsStatus s;
        int n = snprintf(subject, sizeof(subject), "food.dlq.%s", durable);

        if (n < 0 || (size_t)n >= sizeof(subject))
                return -EINVAL;
        /* The Food-Type of a poison message is untrusted text: only a printable one is copied. */
        if (type && (strlen(type) > 128 || strpbrk(type, "\r\n")))
                type = NULL;
        s = bus_msg_new(&m, subject, type, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
        /* The dead letter's own id: the message's place in its stream, so that a retry after a lost
         * PubAck (the message is handed back, then dead-lettered again) stores one dead letter. */
        if (s == NATS_OK && natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
                n = snprintf(msg_id, sizeof(msg_id), "dlq.%s.%s.%" PRIu64, durable, meta->Stream, meta->Sequence.Stream);
                jsMsgMetaData_Destroy(meta);
                if (n > 0 && (size_t)n < sizeof(msg_id))
                        s = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
        }
        if (s == NATS_OK)
                s = natsMsgHeader_Set(m, BUS_HDR_DLQ_SUBJECT, natsMsg_GetSubject(msg));
        if (s == NATS_OK)
                s = natsMsgHeader_Set(m, BUS_HDR_DLQ_REASON, why);
        return bus_publish_async(p, m, s);
}

int bus_publisher_flush(BusPublisher *p, int64_t timeout_ms) {
        jsPubOptions po;
        natsStatus s;

        jsPubOptions_Init(&po);
        po.MaxWait = timeout_ms;
        s = js_PublishAsyncComplete(p->js, &po);
        if (s != NATS_OK) {
                natsMsgList pending = {0};
                /* Drop what is still pending: PostgreSQL still has it and the caller re-sends. */
                if (js_PublishAsyncGetPendingList(&pending, p->js) == NATS_OK)
                        natsMsgList_Destroy(&pending);
                atomic_store(&p->failed, 0);
                return -EIO;
        }
        return atomic_exchange(&p->failed, 0) > 0 ? -EIO : 0;
}

int bus_publish_core(Bus *b, const char *subject, const char *type, const void *data, size_t len) {
        natsMsg *m = NULL;
        natsStatus s = bus_msg_new(&m, subject, type, data, len);
        if (s == NATS_OK)
                s = natsConnection_PublishMsg(b->nc, m);
        natsMsg_Destroy(m);
        return bus_errno(s);
}

int bus_request(Bus *b, const char *subject, const char *type, const void *data, size_t len, int64_t timeout_ms,
                const char *traceparent, natsMsg **ret) {
        natsMsg *m = NULL, *reply = NULL;
        natsStatus s = bus_msg_new(&m, subject, type, data, len);
        if (s == NATS_OK && traceparent && *traceparent)
                s = natsMsgHeader_Set(m, BUS_HDR_TRACE, traceparent);
        if (s == NATS_OK)
                s = natsConnection_RequestMsg(&reply, b->nc, m, timeout_ms);
        natsMsg_Destroy(m);
        if (s != NATS_OK)
                return bus_errno(s);
        *ret = reply;
        return 0;
}
