/* NATS/JetStream adapter and the system's stream/consumer topology. */
#include "bus.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ids.h"
#include "log.h"
#include "topology.h"

/* A thread's own reply inbox for bus_request: a synchronous subscription on <inbox>.*, each
 * request answered on <inbox>.<n>. The answer wakes the waiting thread straight from the
 * connection's reader, instead of going through the library's shared reply subscription and its
 * delivery thread (two more thread switches and one contended lock per request). */
typedef struct ReplyInbox {
        natsSubscription *sub;
        char prefix[TOPO_SUBJECT_MAX + 32]; /* <inbox prefix>.<22-character NUID> */
        uint64_t seq;
        struct ReplyInbox *next;
} ReplyInbox;

struct Bus {
        natsConnection *nc;
        jsCtx *js; /* for topology calls only */
        pthread_mutex_t inbox_lock;
        ReplyInbox *inboxes; /* every thread's, freed with the Bus */
        pthread_key_t inbox_key;
        char inbox_prefix[TOPO_SUBJECT_MAX]; /* _INBOX_<user> (lib/topology.h), or nats.c's _INBOX */
};

/* Set while a connection is being closed on purpose. Process-wide, not in the
 * Bus: nats.c may deliver the disconnected callback after the Bus is freed. */
static atomic_bool bus_closing;

/* A pull consumer spoken to directly (not nats.c's pull subscription, whose Fetch writes past its array when an
 * earlier, expired request's messages are waiting: it asks for the batch minus those and counts up to that smaller
 * number): pull requests go to the consumer's NEXT subject
 * with this consumer's own inbox as the reply, and every message and status of every request lands there. */
struct BusConsumer {
        natsConnection *nc;
        natsSubscription *sub;
        char next_subject[TOPO_SUBJECT_MAX * 2 + 32]; /* $JS.API.CONSUMER.MSG.NEXT.<stream>.<durable> */
        char inbox[TOPO_SUBJECT_MAX + 32];          /* <inbox prefix>.<NUID>; request n answers on <inbox>.<n> */
        char reply[TOPO_SUBJECT_MAX + 56];          /* the latest request's */
        uint64_t seq;
        int64_t open_until;                         /* nats_Now() time until which a request left open may send */
        char durable[64];
};

#define BUS_PUB_MAX_PENDING 4096
#define BUS_PUB_WINDOW (4 * BUS_PUB_MAX_PENDING) /* message numbers a publisher tells apart at once */
#define BUS_PUB_RETIRED 4                         /* inboxes given up and not yet freed, at most */

/* A JetStream publisher of one thread: each message names its own reply subject on the publisher's
 * inbox, where the stream puts its PubAck, and bus_publisher_flush reads them on the calling thread
 * (nats.c's asynchronous publishing reads them on a thread of its own, woken at every PubAck: a
 * handoff more per burst). */
struct BusPublisher {
        Bus *bus;
        natsConnection *nc;
        natsSubscription *sub;                /* <inbox>.* */
        char inbox[TOPO_SUBJECT_MAX + 32];
        uint64_t seq;                         /* the last message's number (its reply subject's last token) */
        uint64_t abandoned;                   /* PubAcks of messages up to this number are no longer awaited */
        size_t pending;                       /* published, PubAck awaited */
        int failed;                           /* since the last flush */
        /* Which message numbers await their PubAck (bit n % BUS_PUB_WINDOW): a PubAck settles its own message
         * once, so that one answered twice (two stream leaders for a moment) cannot stand for another that was
         * never confirmed. */
        uint8_t awaited[BUS_PUB_WINDOW / 8];
        /* Inboxes given up (bus_pub_abandon): unsubscribed at once, freed once the current inbox received
         * something. nats.c 3.4's reader looks a subscription up, lets go of the lock that guards the lookup and
         * only then locks the subscription: one freed in between is locked after its free (a SEGV in
         * e2e-nats-cluster). Whatever the current inbox receives answers a message published after the
         * unsubscription, and the reader reads in order, so it is done with the old ones by then. */
        natsSubscription *retired[BUS_PUB_RETIRED];
        int n_retired;
};

/* Consumer settings. AckWait outlasts the slowest handler (a payment provider call with its 2 s
 * deadline) so that work in progress is not delivered twice; a crashed consumer's messages come
 * back after it. No BackOff list: nats-server 2.9 adds BackOff[n] - AckWait to every NAK delay,
 * which turned bus_nak's 1, 2, 4 s into 1, 12, 29 s. */
#define BUS_ACK_WAIT_NS (10LL * 1000000000LL)
#define BUS_MAX_DELIVER 20
#define BUS_MAX_ACK_PENDING 20000
#define BUS_MAX_WAITING 512

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
        case NATS_SLOW_CONSUMER:
                return -ENOBUFS; /* messages were dropped for a subscription that fell behind */
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
#define BUS_FETCH_QUIET_MS 5 /* after a message, how long a fetch waits for its request's end */
#define BUS_NAK_FIRST_MS 1000
#define BUS_NAK_MAX_MS 30000
#define BUS_MAX_PINGS_OUT 2

static void sleep_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

/* The library's locks block at once instead of spinning 2000 times first (its default): on a
 * machine with few cores the spinning thread only keeps the lock's holder from running (a tenth
 * of the gateway's CPU went there). */
/* NATS_URL is one server or a comma-separated list (a cluster's nodes): the client connects to any of them
 * and reconnects to the others. nats.c's SetURL takes one URL; a list goes through SetServers. */
#define BUS_MAX_SERVERS 16
static natsStatus bus_set_servers(natsOptions *o, const char *url) {
        char *copy, *save = NULL;
        const char *servers[BUS_MAX_SERVERS];
        int n = 0;
        natsStatus s;

        if (!strchr(url, ','))
                return natsOptions_SetURL(o, url);
        copy = strdup(url);
        if (!copy)
                return NATS_NO_MEMORY;
        for (char *tok = strtok_r(copy, ", ", &save); tok && n < BUS_MAX_SERVERS; tok = strtok_r(NULL, ", ", &save))
                servers[n++] = tok;
        s = n ? natsOptions_SetServers(o, servers, n) : NATS_INVALID_ARG;
        free(copy);
        return s;
}

/* nats.c 3.4 frees every message it created through its collector thread: natsMsg_Destroy queues it and wakes
 * that thread (a futex wake and two thread switches per message, about a sixth of the orchestrator's CPU and a
 * tenth of the gateway's). A message whose collector callback is cleared is freed at once by natsMsg_Destroy, on
 * the calling thread. The callback is the second word of the message (its first member, the collector's list
 * item {next, freeCb}); bus_gc_probe checks that layout on this library before anything relies on it, and when
 * the check fails messages simply keep the collector. */
typedef struct {
        void *next;
        void (*free_cb)(void *);
} BusGcItem;
static bool bus_gc_inline;

static void bus_gc_probe(void) {
        natsMsg *a = NULL, *b = NULL;
        if (natsMsg_Create(&a, "probe", NULL, "x", 1) == NATS_OK && natsMsg_Create(&b, "probe", NULL, "x", 1) == NATS_OK) {
                const BusGcItem *ga = (const void *)a, *gb = (const void *)b;
                const char *subject = natsMsg_GetSubject(a);
                uintptr_t cb = (uintptr_t)ga->free_cb, lo = (uintptr_t)a;
                bus_gc_inline = ga->next == NULL && gb->next == NULL && ga->free_cb && ga->free_cb == gb->free_cb &&
                                (cb < lo || cb > lo + 512) && subject && (const char *)subject > (const char *)a &&
                                (const char *)subject < (const char *)a + 512 && strcmp(subject, "probe") == 0;
        }
        natsMsg_Destroy(a);
        natsMsg_Destroy(b);
}

/* Every message that enters or leaves through this wrapper passes here, so any later natsMsg_Destroy frees it. */
static void bus_msg_inline(natsMsg *m) {
        if (m && bus_gc_inline)
                ((BusGcItem *)(void *)m)->free_cb = NULL;
}

/* nats.c draws its NUID prefix (the random part of inbox names and message ids) with OpenSSL's RAND_bytes, and
 * that first call starts OpenSSL's whole provider and DRBG machinery, about 2 MB of every service's resident
 * memory, for a few bytes. Every process that links this wrapper defines RAND_bytes itself, from getrandom(2),
 * the kernel generator OpenSSL seeds from: libnats.so asks for the symbol, so the link exports the executable's
 * definition and symbol lookup finds it before libcrypto's. libpq's SCRAM nonce comes here too; OpenSSL's own
 * TLS code draws with RAND_bytes_ex and RAND_priv_bytes_ex, which stay OpenSSL's. */
int RAND_bytes(unsigned char *buf, int num) {
        if (num < 0)
                return 0;
        for (int got = 0; got < num;) {
                ssize_t k = getrandom(buf + got, (size_t)(num - got), 0);
                if (k < 0 && errno != EINTR)
                        return 0;
                got += k > 0 ? (int)k : 0;
        }
        return 1;
}

static pthread_once_t bus_opened = PTHREAD_ONCE_INIT;

static void bus_open_library(void) {
        (void)nats_Open(0);
        bus_gc_probe();
}

bool bus_frees_inline(void) {
        pthread_once(&bus_opened, bus_open_library);
        return bus_gc_inline;
}

int bus_connect(Bus **ret, const NatsConfig *cfg, const char *name, const volatile bool *stop) {
        natsOptions *o = NULL;
        Bus *b = calloc(1, sizeof(*b));
        natsStatus s;
        int r;

        if (!b)
                return -ENOMEM;
        if (pthread_key_create(&b->inbox_key, NULL) != 0) {
                free(b);
                return -EAGAIN;
        }
        pthread_mutex_init(&b->inbox_lock, NULL);
        pthread_once(&bus_opened, bus_open_library);
        s = natsOptions_Create(&o);
        if (s == NATS_OK)
                s = bus_set_servers(o, cfg->url);
        if (s == NATS_OK && cfg->user && *cfg->user)
                s = natsOptions_SetUserInfo(o, cfg->user, cfg->password);
        /* Replies to this user come only on its own inboxes, which no other user may read or answer. */
        snprintf(b->inbox_prefix, sizeof(b->inbox_prefix), "_INBOX");
        if (s == NATS_OK && cfg->user && *cfg->user) {
                if (topo_inbox_prefix(b->inbox_prefix, sizeof(b->inbox_prefix), cfg->user) < 0) {
                        r = log_error_errno(-EINVAL, "NATS_USER %s cannot name an inbox (a subject token)", cfg->user);
                        goto fail;
                }
                s = natsOptions_SetCustomInboxPrefix(o, b->inbox_prefix);
        }
        if (s == NATS_OK && cfg->tls_ca && *cfg->tls_ca) {
                /* TLS required, the server's certificate checked against these authorities and its name. */
                s = natsOptions_SetSecure(o, true);
                if (s == NATS_OK && (s = natsOptions_LoadCATrustedCertificates(o, cfg->tls_ca)) != NATS_OK)
                        log_error("config: NATS_TLS_CA=%s cannot be loaded: %s", cfg->tls_ca, nats_GetLastError(NULL));
                if (s == NATS_OK && cfg->tls_cert && *cfg->tls_cert &&
                    (s = natsOptions_LoadCertificatesChain(o, cfg->tls_cert, cfg->tls_key)) != NATS_OK)
                        log_error("config: NATS_TLS_CERT=%s / NATS_TLS_KEY=%s cannot be loaded: %s", cfg->tls_cert,
                                  cfg->tls_key, nats_GetLastError(NULL));
                if (s != NATS_OK) {
                        r = -EINVAL;
                        goto fail;
                }
        }
        if (s == NATS_OK)
                s = natsOptions_SetName(o, name);
        /* nats.c's default writes from a flusher thread that waits a millisecond for more: ~1 ms added to every
         * request. Each message is written as it is published instead. */
        if (s == NATS_OK)
                s = natsOptions_SetSendAsap(o, true);
        /* Asynchronous subscriptions share one delivery thread instead of one thread each (the
         * orchestrator subscribes per shard; its handlers only queue the message). */
        if (s == NATS_OK)
                s = natsOptions_UseGlobalMessageDelivery(o, true);
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
        for (ReplyInbox *in = b->inboxes; in; in = in->next)
                natsSubscription_Unsubscribe(in->sub);
        if (b->inboxes && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED)
                (void)natsConnection_FlushTimeout(b->nc, 1000); /* see bus_sub_close */
        for (ReplyInbox *in = b->inboxes, *next; in; in = next) {
                next = in->next;
                natsSubscription_Destroy(in->sub);
                free(in);
        }
        if (b->nc) {
                natsConnection_DrainTimeout(b->nc, 5000);
                for (int i = 0; i < 100 && !natsConnection_IsClosed(b->nc); i++)
                        sleep_ms(50);
                natsConnection_Destroy(b->nc);
        }
        jsCtx_Destroy(b->js);
        pthread_key_delete(b->inbox_key);
        pthread_mutex_destroy(&b->inbox_lock);
        free(b);
}

natsConnection *bus_conn(Bus *b) {
        return b->nc;
}

bool bus_connected(Bus *b) {
        return b && b->nc && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

static int bus_ensure_stream(Bus *b, const TopoStream *d, const TopoStreamLimits *lim) {
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
        cfg.MaxAge = (lim && lim->max_age_s > 0 ? lim->max_age_s : d->max_age_s) * 1000000000LL;
        cfg.MaxBytes = lim ? lim->max_bytes : -1;
        cfg.Replicas = lim && lim->replicas > 0 ? lim->replicas : 1;
        cfg.Duplicates = 120LL * 1000000000LL; /* Nats-Msg-Id window: a first filter only */
        cfg.Discard = js_DiscardOld;

        /* Processes start together: when another one created the stream between our look-up and our
         * create, nats-server 2.9 answers "subjects overlap" (or "name in use"); look again and update. */
        for (int attempt = 0; attempt < 2; attempt++) {
                jerr = 0;
                s = js_GetStreamInfo(&si, b->js, d->name, NULL, &jerr);
                if (s == NATS_NOT_FOUND)
                        s = js_AddStream(&si, b->js, &cfg, NULL, &jerr);
                else if (s == NATS_OK) {
                        jsStreamInfo_Destroy(si);
                        si = NULL;
                        s = js_UpdateStream(&si, b->js, &cfg, NULL, &jerr);
                }
                jsStreamInfo_Destroy(si);
                si = NULL;
                if (s == NATS_OK || (jerr != JSStreamSubjectOverlapErr && jerr != JSStreamNameExistErr))
                        break;
        }
        if (s != NATS_OK)
                return log_error_errno(bus_errno(s), "nats: stream %s: %s (js error %d)", d->name,
                                       nats_GetLastError(NULL), (int)jerr);
        return 0;
}

static void bus_consumer_config(jsConsumerConfig *cc, const TopoConsumer *d) {
        jsConsumerConfig_Init(cc);
        cc->Durable = d->durable;
        cc->FilterSubject = d->filter;
        cc->AckPolicy = js_AckExplicit;
        cc->DeliverPolicy = js_DeliverAll;
        cc->AckWait = BUS_ACK_WAIT_NS;
        cc->MaxDeliver = BUS_MAX_DELIVER;
        cc->MaxAckPending = BUS_MAX_ACK_PENDING;
        cc->MaxWaiting = BUS_MAX_WAITING;
}

/* Whether an existing consumer's settings are the topology's. */
static bool bus_consumer_current(const jsConsumerConfig *have, const jsConsumerConfig *want) {
        return have->FilterSubject && strcmp(have->FilterSubject, want->FilterSubject) == 0 &&
               have->AckWait == want->AckWait && have->BackOffLen == 0 && have->MaxDeliver == want->MaxDeliver &&
               have->MaxAckPending == want->MaxAckPending;
}

/* Creates the durable, or brings an existing one to the topology's settings: updated in place
 * (its position kept), or created anew when its filter changed (an update cannot change it). */
static int bus_ensure_consumer(Bus *b, const TopoConsumer *d) {
        jsConsumerConfig cc;
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        natsStatus s;

        bus_consumer_config(&cc, d);
        s = js_GetConsumerInfo(&ci, b->js, d->stream, d->durable, NULL, &jerr);
        if (s == NATS_OK) {
                bool current = bus_consumer_current(ci->Config, &cc);
                bool same_filter = ci->Config->FilterSubject && strcmp(ci->Config->FilterSubject, cc.FilterSubject) == 0;
                jsConsumerInfo_Destroy(ci);
                ci = NULL;
                if (current)
                        return 0;
                if (same_filter) {
                        s = js_UpdateConsumer(&ci, b->js, d->stream, &cc, NULL, &jerr);
                        jsConsumerInfo_Destroy(ci);
                        if (s == NATS_OK)
                                log_info("nats: consumer %s updated to the topology's settings", d->durable);
                        else
                                log_warn("nats: consumer %s: update failed: %s (js error %d)", d->durable,
                                         nats_GetLastError(NULL), (int)jerr);
                        return s == NATS_OK ? 0 : bus_errno(s);
                }
                log_info("nats: consumer %s filters another subject: created anew on %s", d->durable, d->filter);
                (void)js_DeleteConsumer(b->js, d->stream, d->durable, NULL, &jerr);
        } else if (s != NATS_NOT_FOUND)
                return log_error_errno(bus_errno(s), "nats: consumer %s: %s", d->durable, nats_GetLastError(NULL));
        s = js_AddConsumer(&ci, b->js, d->stream, &cc, NULL, &jerr);
        jsConsumerInfo_Destroy(ci);
        if (s != NATS_OK && jerr != JSConsumerNameExistErr && jerr != JSConsumerExistingActiveErr)
                return log_error_errno(bus_errno(s), "nats: add consumer %s: %s (js error %d)", d->durable,
                                       nats_GetLastError(NULL), (int)jerr);
        return 0;
}

int bus_setup_topology(Bus *b, const TopoStreamLimits *limits) {
        const TopoStream *st;
        const TopoConsumer *c;
        int r;
        for (size_t i = 0; (st = topo_stream_at(i)); i++)
                if ((r = bus_ensure_stream(b, st, limits ? &limits[i] : NULL)) < 0)
                        return r;
        for (size_t i = 0; (c = topo_consumer_at(i)); i++)
                if ((r = bus_ensure_consumer(b, c)) < 0)
                        return r;
        return 0;
}

/* Whether every stream and the durable `durable` (when it is one of the topology's) exist: 1, 0 with
 * *missing naming the first that does not, or a negative errno when NATS did not answer. */
static int bus_topology_present(Bus *b, const char *durable, const char **missing) {
        const TopoConsumer *d = topo_consumer(durable);
        const TopoStream *st;
        jsErrCode jerr = 0;
        natsStatus s;

        for (size_t i = 0; (st = topo_stream_at(i)); i++) {
                jsStreamInfo *si = NULL;
                s = js_GetStreamInfo(&si, b->js, st->name, NULL, &jerr);
                jsStreamInfo_Destroy(si);
                if (s == NATS_NOT_FOUND) {
                        *missing = st->name;
                        return 0;
                }
                if (s != NATS_OK)
                        return bus_errno(s);
        }
        if (!d)
                return 1;
        jsConsumerInfo *ci = NULL;
        s = js_GetConsumerInfo(&ci, b->js, d->stream, d->durable, NULL, &jerr);
        if (s == NATS_OK) {
                jsConsumerConfig want;
                bus_consumer_config(&want, d);
                if (!bus_consumer_current(ci->Config, &want))
                        log_warn("nats: consumer %s differs from this version's topology: run food-setup", d->durable);
        }
        jsConsumerInfo_Destroy(ci);
        if (s == NATS_NOT_FOUND) {
                *missing = d->durable;
                return 0;
        }
        return s == NATS_OK ? 1 : bus_errno(s);
}

int bus_await_topology(Bus *b, const char *durable, const volatile bool *stop) {
        for (int tries = 0;; tries++) {
                const char *missing = NULL;
                int r = bus_topology_present(b, durable, &missing);
                if (r > 0)
                        return 0;
                if (tries % 40 == 0)
                        log_warn("nats: %s%s: waiting for the operators' set-up step (food-setup) to create it",
                                 missing ? missing : "the topology", missing ? " does not exist" : " cannot be read");
                if (stop && *stop)
                        return -ECANCELED;
                sleep_ms(250);
        }
}

/* "<inbox prefix>.<NUID>" into buf: a fresh inbox under this connection's own prefix. 0 or negative errno. */
static int bus_inbox_name(Bus *b, char *buf, size_t cap) {
        natsInbox *name = NULL;
        if (natsInbox_Create(&name) != NATS_OK)
                return -ENOMEM;
        const char *nuid = strchr((const char *)name, '.'); /* "_INBOX.<nuid>" */
        int n = snprintf(buf, cap, "%s.%s", b->inbox_prefix, nuid ? nuid + 1 : (const char *)name);
        natsInbox_Destroy(name);
        return (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

int bus_consumer_open(Bus *b, const char *durable, BusConsumer **ret) {
        const TopoConsumer *d = topo_consumer(durable);
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        BusConsumer *c;
        natsStatus s;

        if (!d)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->nc = b->nc;
        snprintf(c->durable, sizeof(c->durable), "%s", durable);
        if ((size_t)snprintf(c->next_subject, sizeof(c->next_subject), "$JS.API.CONSUMER.MSG.NEXT.%s.%s", d->stream,
                             d->durable) >= sizeof(c->next_subject)) {
                free(c);
                return -ENAMETOOLONG;
        }
        /* Bind: the consumer must exist; it is never created or altered from here. */
        s = js_GetConsumerInfo(&ci, b->js, d->stream, d->durable, NULL, &jerr);
        jsConsumerInfo_Destroy(ci);
        if (s == NATS_OK && bus_inbox_name(b, c->inbox, sizeof(c->inbox)) < 0)
                s = NATS_INSUFFICIENT_BUFFER;
        if (s == NATS_OK) {
                char filter[sizeof(c->inbox) + 2];
                snprintf(filter, sizeof(filter), "%s.*", c->inbox);
                s = natsConnection_SubscribeSync(&c->sub, b->nc, filter);
        }
        if (s == NATS_OK)
                s = natsSubscription_SetPendingLimits(c->sub, 65536, 256 * 1024 * 1024);
        if (s != NATS_OK) {
                int r = log_error_errno(bus_errno(s), "nats: pull consumer %s: %s", durable, nats_GetLastError(NULL));
                bus_consumer_close(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* Unsubscribes `sub` and frees it once nats.c's reader thread is past every message it had read for it:
 * nats.c 3.4.1 looks a subscription up and then locks it without holding a reference, so freeing it while
 * a message for it is being parsed is a use after free. The PONG of a PING sent after the UNSUB is read
 * after all of those. */
static void bus_sub_close(natsConnection *nc, natsSubscription *sub) {
        if (!sub)
                return;
        natsSubscription_Unsubscribe(sub);
        if (nc && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED)
                (void)natsConnection_FlushTimeout(nc, 1000);
        natsSubscription_Destroy(sub);
}

void bus_consumer_close(BusConsumer *c) {
        if (!c)
                return;
        bus_sub_close(c->nc, c->sub);
        free(c);
}

/* Sends a pull request (expires_ms 0: none) with a reply subject of its own, <inbox>.<n>. */
static int bus_pull_request(BusConsumer *c, int batch, int64_t expires_ms, bool no_wait) {
        char req[128];
        int n = snprintf(req, sizeof(req), "{\"batch\":%d", batch);
        if (expires_ms > 0)
                n += snprintf(req + n, sizeof(req) - (size_t)n, ",\"expires\":%" PRId64, expires_ms * (int64_t)1000000);
        n += snprintf(req + n, sizeof(req) - (size_t)n, "%s}", no_wait ? ",\"no_wait\":true" : "");
        snprintf(c->reply, sizeof(c->reply), "%s.%" PRIu64, c->inbox, ++c->seq);
        return bus_errno(natsConnection_PublishRequest(c->nc, c->next_subject, c->reply, req, n));
}

int bus_consumer_pull(BusConsumer *c, int batch, int64_t expires_ms, bool no_wait) {
        int r = bus_pull_request(c, batch, expires_ms, no_wait);
        if (r == 0 && expires_ms > 0 && nats_Now() + expires_ms > c->open_until)
                c->open_until = nats_Now() + expires_ms;
        return r;
}

/* A pull request's status: no payload, no reply subject (a message has its ack subject), a Status header.
 * 100 idle heartbeat, 404 nothing there (no_wait), 408 request expired or ended, 409 request refused or ended
 * otherwise (MaxWaiting exceeded, consumer deleted, leader change), 400 a request the server refused. Returns
 * the status code, 0 for a message. */
static int bus_pull_status(natsMsg *m) {
        const char *v = NULL, *reply = natsMsg_GetReply(m);
        if (natsMsg_GetDataLength(m) > 0 || (reply && *reply) || natsMsgHeader_Get(m, "Status", &v) != NATS_OK ||
            !v)
                return 0;
        long code = strtol(v, NULL, 10);
        return code > 0 && code < 1000 ? (int)code : 0;
}

/* Takes messages from the inbox, up to `max` in all (statuses dropped): what is already in (`until` 0), or
 * what arrives until `until` (nats_Now() time), e.g. from a request left open. */
static int bus_take(BusConsumer *c, natsMsg **msgs, int count, int max, int64_t until) {
        while (count < max) {
                int pending = 0, bytes = 0;
                int64_t left = until ? until - nats_Now() : 0;
                natsMsg *m = NULL;
                if (until ? left <= 0
                          : natsSubscription_GetPending(c->sub, &pending, &bytes) != NATS_OK || pending == 0)
                        break;
                if (natsSubscription_NextMsg(&m, c->sub, left) != NATS_OK)
                        break;
                bus_msg_inline(m);
                if (bus_pull_status(m) == 0)
                        msgs[count++] = m;
                else
                        natsMsg_Destroy(m); /* an earlier request's end */
        }
        return count;
}

int bus_fetch(BusConsumer *c, natsMsgList *list, int max, int64_t timeout_ms, bool last) {
        natsMsg **msgs;
        natsStatus s = NATS_OK;
        bool plain = false, ended = false;
        int count, err = 0;

        memset(list, 0, sizeof(*list));
        if (max > BUS_FETCH_MAX)
                max = BUS_FETCH_MAX;
        if (max < 1)
                max = 1;
        msgs = calloc((size_t)max, sizeof(*msgs));
        if (!msgs)
                return -ENOMEM;
        /* What earlier requests still brought in (after a pause, or a request that outlived its fetch) comes
         * first, without asking for more: never more than `max` taken, the rest waits for the next call. */
        count = bus_take(c, msgs, 0, max, 0);
        /* Closing: a request this consumer left open is waited out (briefly), so that what it still sends is
         * handled here rather than after AckWait by someone else. */
        if (last && count == 0 && c->open_until > nats_Now())
                count = bus_take(c, msgs, 0, max,
                                 c->open_until < nats_Now() + timeout_ms ? c->open_until : nats_Now() + timeout_ms);
        if (count == 0) {
                /* One request that the server answers with what is there (up to `max`) and ends, or, when
                 * nothing is, ends after the first messages to arrive, or expires: a little before we stop
                 * waiting (as nats.c does), so its end arrives here rather than messages after we left.
                 * `last`: a short one. */
                int64_t deadline = nats_Now() + timeout_ms;
                int64_t expires = timeout_ms >= 20 ? timeout_ms - 10 : timeout_ms;
                if (last && expires > 100)
                        expires = 100; /* without one, a no-wait request finding messages owed elsewhere stays */
                int r = bus_pull_request(c, max, expires, true);
                if (r < 0) {
                        free(msgs);
                        return r;
                }
                int64_t quiet_until = deadline;
                while (count < max) {
                        natsMsg *m = NULL;
                        const char *why = NULL;
                        int64_t now = nats_Now(), left = deadline - now;
                        int64_t wait = (quiet_until < deadline ? quiet_until : deadline) - now;
                        s = wait > 0 ? natsSubscription_NextMsg(&m, c->sub, wait) : NATS_TIMEOUT;
                        if (s != NATS_OK)
                                break; /* NATS_NO_RESPONDERS: JetStream has no such consumer now (-EHOSTUNREACH) */
                        bus_msg_inline(m);
                        int status = bus_pull_status(m);
                        if (status == 0) {
                                /* A message keeps its own subject: which request brought it is not known. Our
                                 * no-wait request ends by itself after what is there; the plain one does not:
                                 * after its first message, take what is in and go. */
                                msgs[count++] = m;
                                if (plain) {
                                        count = bus_take(c, msgs, count, max, 0);
                                        break;
                                }
                                /* Our request ends right after what the server had for it; a message that an
                                 * earlier request left open brought does not end ours, which would then hold
                                 * it until it expires (a second): once messages stop coming, go with them. */
                                quiet_until = nats_Now() + BUS_FETCH_QUIET_MS;
                                continue;
                        }
                        /* Statuses come on the request's own reply subject. */
                        bool ours = strcmp(natsMsg_GetSubject(m), c->reply) == 0;
                        bool ahead = status == 408 && natsMsgHeader_Get(m, "Description", &why) == NATS_OK && why &&
                                     strcmp(why, "Requests Pending") == 0;
                        natsMsg_Destroy(m);
                        if (!ours || status == 100)
                                continue; /* a heartbeat, or an earlier request's end */
                        ended = true;
                        if (ahead && count == 0 && !last && !plain && left > 20) {
                                /* Other requests are owed what is there: wait with a plain request for the batch.
                                 * It stays open after its first message and what it brings meanwhile is the next
                                 * call's (a request for one made every fetch one message: 15 % more commits per
                                 * order); a closing fetch waits it out (open_until). */
                                if ((r = bus_pull_request(c, max, left - 10, false)) < 0) {
                                        err = r;
                                        break;
                                }
                                plain = true;
                                ended = false;
                                continue;
                        }
                        if (status != 404 && status != 408) {
                                /* Refused or cut (409, 400): not idle, something to wait out. */
                                log_warn("nats: pull request on %s ended with status %d", c->durable, status);
                                err = -EIO;
                        }
                        break;
                }
                if (count == max && !plain)
                        ended = true; /* our request's batch was filled: the server let it go */
                /* Left while the server may still hold our request: its messages are taken by the next call. */
                if (!ended && !last) {
                        int64_t until = plain ? deadline : nats_Now() + expires;
                        if (until > c->open_until)
                                c->open_until = until;
                }
        }
        if (count > 0) {
                list->Msgs = msgs;
                list->Count = count;
                return 0;
        }
        free(msgs);
        if (err < 0)
                return err;
        if (s == NATS_OK || s == NATS_TIMEOUT)
                return -ETIMEDOUT;
        return bus_errno(s);
}

const char *bus_header(natsMsg *msg, const char *key) {
        const char *v = NULL;
        if (natsMsgHeader_Get(msg, key, &v) != NATS_OK)
                return NULL;
        return v;
}

/* Acknowledgements are plain publishes to the message's ack subject (what natsMsg_Ack sends without
 * JetStream options: nothing waits for the server). */
static void bus_ack_send(BusConsumer *c, natsMsg *msg, const char *body) {
        const char *reply = natsMsg_GetReply(msg);
        if (reply && *reply)
                (void)natsConnection_PublishString(c->nc, reply, body);
}

void bus_ack(BusConsumer *c, natsMsg *msg) {
        bus_ack_send(c, msg, "+ACK");
}

int64_t bus_nak_delay_ms(uint64_t delivered) {
        if (delivered <= 1)
                return BUS_NAK_FIRST_MS;
        if (delivered > 6)
                return BUS_NAK_MAX_MS;
        int64_t d = BUS_NAK_FIRST_MS << (delivered - 1);
        return d < BUS_NAK_MAX_MS ? d : BUS_NAK_MAX_MS;
}

void bus_nak(BusConsumer *c, natsMsg *msg) {
        jsMsgMetaData *meta = NULL;
        uint64_t delivered = 1;
        char body[64];
        if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
                delivered = meta->NumDelivered;
                jsMsgMetaData_Destroy(meta);
        }
        /* A plain -NAK redelivers at once. */
        snprintf(body, sizeof(body), "-NAK {\"delay\":%" PRId64 "}", bus_nak_delay_ms(delivered) * (int64_t)1000000);
        bus_ack_send(c, msg, body);
}

void bus_nak_now(BusConsumer *c, natsMsg *msg) {
        bus_ack_send(c, msg, "-NAK");
}

void bus_term(BusConsumer *c, natsMsg *msg) {
        bus_ack_send(c, msg, "+TERM");
}

/* A new inbox for p's PubAcks: `inbox` gets its name, `sub` its subscription (<inbox>.*). 0 or negative errno. */
static int bus_pub_inbox(BusPublisher *p, char inbox[TOPO_SUBJECT_MAX + 32], natsSubscription **sub) {
        char filter[TOPO_SUBJECT_MAX + 34];
        natsStatus s;
        int r = bus_inbox_name(p->bus, inbox, TOPO_SUBJECT_MAX + 32);
        if (r < 0)
                return r;
        snprintf(filter, sizeof(filter), "%s.*", inbox);
        s = natsConnection_SubscribeSync(sub, p->nc, filter);
        if (s == NATS_OK)
                s = natsSubscription_SetPendingLimits(*sub, -1, -1);
        if (s != NATS_OK) {
                natsSubscription_Destroy(*sub);
                *sub = NULL;
        }
        return bus_errno(s);
}

int bus_publisher_new(Bus *b, BusPublisher **ret) {
        BusPublisher *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return -ENOMEM;
        p->bus = b;
        p->nc = b->nc;
        r = bus_pub_inbox(p, p->inbox, &p->sub);
        if (r < 0) {
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

/* The inboxes given up are freed: the current one received something, so nats.c's reader is done with them. */
static void bus_pub_free_retired(BusPublisher *p) {
        for (int i = 0; i < p->n_retired; i++)
                natsSubscription_Destroy(p->retired[i]);
        p->n_retired = 0;
}

void bus_publisher_free(BusPublisher *p) {
        if (!p)
                return;
        bus_sub_close(p->nc, p->sub); /* its flush: the reader is done with the retired inboxes too */
        bus_pub_free_retired(p);
        free(p);
}

static natsStatus bus_msg_new(natsMsg **ret, const char *subject, const char *reply, const char *type,
                              const void *data, size_t len) {
        natsStatus s = natsMsg_Create(ret, subject, reply, data, (int)len);
        bus_msg_inline(*ret);
        if (s == NATS_OK)
                s = natsMsgHeader_Set(*ret, "Content-Type", "application/protobuf");
        if (s == NATS_OK && type)
                s = natsMsgHeader_Set(*ret, BUS_HDR_TYPE, type);
        return s;
}

/* Message `n`'s bit in p->awaited. */
static uint8_t *bus_pub_byte(BusPublisher *p, uint64_t n, uint8_t *bit) {
        *bit = (uint8_t)(1u << (n % 8));
        return &p->awaited[(n % BUS_PUB_WINDOW) / 8];
}

/* Whether message `n` awaits its PubAck. */
static bool bus_pub_awaited(BusPublisher *p, uint64_t n) {
        uint8_t bit, *byte = bus_pub_byte(p, n, &bit);
        return *byte & bit;
}

/* Marks message `n` as awaiting its PubAck or not. */
static void bus_pub_await(BusPublisher *p, uint64_t n, bool on) {
        uint8_t bit, *byte = bus_pub_byte(p, n, &bit);
        *byte = on ? (uint8_t)(*byte | bit) : (uint8_t)(*byte & ~bit);
}

/* Every PubAck awaited is given up: the caller counts them failed. What still comes for them goes to an inbox
 * nobody reads any more: a stream without a leader answers each of thousands of re-sent events "no responders",
 * which does not say which message it answers, and read later each such answer failed a later flush (13 s of
 * failed batches after a FOOD_ORDER leader came back in e2e-nats-cluster). */
static void bus_pub_abandon(BusPublisher *p) {
        char inbox[sizeof(p->inbox)];
        natsSubscription *sub = NULL;

        memset(p->awaited, 0, sizeof(p->awaited));
        p->pending = 0;
        p->abandoned = p->seq;
        /* Without a free slot (nothing received since the last ones) or a new inbox, the old inbox stays: its late
         * answers only fail a flush more. */
        if (p->n_retired == BUS_PUB_RETIRED || bus_pub_inbox(p, inbox, &sub) < 0)
                return;
        natsSubscription_Unsubscribe(p->sub);
        p->retired[p->n_retired++] = p->sub;
        p->sub = sub;
        memcpy(p->inbox, inbox, sizeof(inbox));
}

/* Takes the PubAck `m` (destroyed) of one of p's messages. */
static void bus_pub_settle(BusPublisher *p, natsMsg *m) {
        const char *dot = strrchr(natsMsg_GetSubject(m), '.'), *data = natsMsg_GetData(m);
        uint64_t n = dot ? strtoull(dot + 1, NULL, 10) : 0;
        int len = natsMsg_GetDataLength(m);
        if (n > p->abandoned && n <= p->seq && bus_pub_awaited(p, n)) {
                bus_pub_await(p, n, false);
                p->pending--;
                /* {"stream":..,"seq":..[,"duplicate":true]}, or {"error":{"code":..,"description":..}} */
                if (!data || len <= 0 || memmem(data, (size_t)len, "\"error\"", 7)) {
                        p->failed++;
                        log_warn("nats: a JetStream publish failed: %.*s", len > 0 && len < 300 ? len : 0,
                                 data ? data : "");
                }
        }
        natsMsg_Destroy(m);
}

/* Reads PubAcks until at most `left` messages await theirs, or `timeout_ms`: 0, or -EIO (what was still
 * awaited is given up and counted failed: the caller sends it again, with its Nats-Msg-Id). */
static int bus_pub_wait(BusPublisher *p, size_t left, int64_t timeout_ms) {
        int64_t deadline = nats_Now() + timeout_ms;
        while (p->pending > left) {
                natsMsg *m = NULL;
                int64_t wait = deadline - nats_Now();
                natsStatus s = wait > 0 ? natsSubscription_NextMsg(&m, p->sub, wait) : NATS_TIMEOUT;
                if ((s == NATS_OK || s == NATS_NO_RESPONDERS) && p->n_retired)
                        bus_pub_free_retired(p);
                if (s == NATS_OK) {
                        bus_msg_inline(m);
                        bus_pub_settle(p, m);
                        continue;
                }
                /* Timed out, or no stream for a subject (no responders: which message is not said). */
                log_warn("nats: %zu JetStream publish(es) not confirmed: %s", p->pending, natsStatus_GetText(s));
                p->failed += (int)p->pending;
                bus_pub_abandon(p);
                return -EIO;
        }
        return 0;
}

/* Publishes `m` (owned; NULL is fine) when building it went well (`s`), and counts a failure for
 * bus_publisher_flush. Past BUS_PUB_MAX_PENDING awaited PubAcks, waits (200 ms at most) for room. */
static int bus_publish_acked(BusPublisher *p, natsMsg *m, natsStatus s) {
        if (s == NATS_OK && p->pending >= BUS_PUB_MAX_PENDING) {
                if (bus_pub_wait(p, BUS_PUB_MAX_PENDING / 2, 200) < 0)
                        s = NATS_TIMEOUT;
        }
        /* This number's bit still set: a message a whole window earlier awaits its PubAck. All of them first. */
        if (s == NATS_OK && bus_pub_awaited(p, p->seq) && bus_pub_wait(p, 0, 200) < 0)
                s = NATS_TIMEOUT;
        if (s == NATS_OK && p->seq <= p->abandoned)
                s = NATS_TIMEOUT; /* its number was given up meanwhile: it would never be confirmed */
        if (s == NATS_OK)
                s = natsConnection_PublishMsg(p->nc, m);
        natsMsg_Destroy(m);
        if (s == NATS_OK) {
                p->pending++;
                bus_pub_await(p, p->seq, true);
        } else
                p->failed++;
        return bus_errno(s);
}

/* The reply subject of p's next message. */
static const char *bus_pub_reply(BusPublisher *p, char *buf, size_t cap) {
        snprintf(buf, cap, "%s.%" PRIu64, p->inbox, ++p->seq);
        return buf;
}

/* A message with Content-Type and the headers of `h` (NULL: none more), to `reply` unless NULL. */
static natsStatus bus_msg_with(natsMsg **ret, const char *subject, const char *reply, const BusHeaders *h,
                               const void *data, size_t len) {
        natsStatus s = bus_msg_new(ret, subject, reply, h ? h->type : NULL, data, len);
        if (!h)
                return s;
        if (s == NATS_OK && h->msg_id)
                s = natsMsgHeader_Set(*ret, "Nats-Msg-Id", h->msg_id);
        if (s == NATS_OK && h->traceparent && *h->traceparent)
                s = natsMsgHeader_Set(*ret, BUS_HDR_TRACE, h->traceparent);
        if (s == NATS_OK && h->answer_to)
                s = natsMsgHeader_Set(*ret, BUS_HDR_ANSWER_TO, h->answer_to);
        if (s == NATS_OK && h->answer_form)
                s = natsMsgHeader_Set(*ret, BUS_HDR_ANSWER_FORM, h->answer_form);
        return s;
}

int bus_publish(BusPublisher *p, const char *subject, const BusHeaders *h, const void *data, size_t len) {
        char reply[sizeof(p->inbox) + 24];
        natsMsg *m = NULL;
        natsStatus s = bus_msg_with(&m, subject, bus_pub_reply(p, reply, sizeof(reply)), h, data, len);
        return bus_publish_acked(p, m, s);
}

int bus_dead_letter(BusPublisher *p, const char *durable, natsMsg *msg, const ProtobufCMessage *cmd, int k,
                    const char *why) {
        char subject[TOPO_SUBJECT_MAX], msg_id[256];
        const char *type = cmd ? cmd->descriptor->name : bus_header(msg, BUS_HDR_TYPE);
        jsMsgMetaData *meta = NULL;
        natsMsg *m = NULL;
        uint8_t *packed = NULL;
        size_t len = 0;
        char reply[sizeof(p->inbox) + 24];
        natsStatus s;
        int n;

        if (topo_dlq_subject(subject, sizeof(subject), durable) < 0)
                return -EINVAL;
        (void)bus_pub_reply(p, reply, sizeof(reply));
        /* The Food-Type of a poison message is untrusted text: only a printable one is copied. */
        if (type && (strlen(type) > 128 || strpbrk(type, "\r\n")))
                type = NULL;
        if (cmd) {
                len = protobuf_c_message_get_packed_size(cmd);
                packed = malloc(len ? len : 1);
                if (!packed)
                        return -ENOMEM;
                protobuf_c_message_pack(cmd, packed);
                s = bus_msg_new(&m, subject, reply, type, packed, len);
                free(packed);
        } else
                s = bus_msg_new(&m, subject, reply, type, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
        /* The dead letter's own id: the message's place in its stream (and the command's in its
         * batch), so that a retry after a lost PubAck (the message is handed back, then
         * dead-lettered again) stores one dead letter. */
        if (s == NATS_OK && natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
                n = snprintf(msg_id, sizeof(msg_id), "dlq.%s.%s.%" PRIu64 ".%d", durable, meta->Stream,
                             meta->Sequence.Stream, cmd ? k : -1);
                jsMsgMetaData_Destroy(meta);
                if (n > 0 && (size_t)n < sizeof(msg_id))
                        s = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
        }
        if (s == NATS_OK)
                s = natsMsgHeader_Set(m, BUS_HDR_DLQ_SUBJECT, natsMsg_GetSubject(msg));
        if (s == NATS_OK)
                s = natsMsgHeader_Set(m, BUS_HDR_DLQ_REASON, why);
        return bus_publish_acked(p, m, s);
}

int bus_publisher_flush(BusPublisher *p, int64_t timeout_ms) {
        int r = bus_pub_wait(p, 0, timeout_ms);
        int failed = p->failed;
        p->failed = 0;
        return r < 0 || failed > 0 ? -EIO : 0;
}

struct BusSubscription {
        natsSubscription *sub;
        BusHandler fn;
        void *closure;
};

/* The subscription is closed and its handler has returned for the last time. */
static void bus_on_sub_complete(void *closure) {
        free(closure);
}

static void bus_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        BusSubscription *s = closure;
        (void)nc;
        (void)sub;
        bus_msg_inline(msg);
        s->fn(s->closure, msg);
}

int bus_subscribe(Bus *b, const char *subject, const char *queue, BusHandler fn, void *closure,
                  BusSubscription **ret) {
        BusSubscription *s = calloc(1, sizeof(*s));
        natsStatus st;
        if (!s)
                return -ENOMEM;
        s->fn = fn;
        s->closure = closure;
        if (queue)
                st = natsConnection_QueueSubscribe(&s->sub, b->nc, subject, queue, bus_on_msg, s);
        else
                st = natsConnection_Subscribe(&s->sub, b->nc, subject, bus_on_msg, s);
        if (st == NATS_OK)
                st = natsSubscription_SetPendingLimits(s->sub, 65536, 256 * 1024 * 1024);
        if (st == NATS_OK)
                st = natsSubscription_SetOnCompleteCB(s->sub, bus_on_sub_complete, s);
        if (st != NATS_OK) {
                if (s->sub)
                        natsSubscription_Unsubscribe(s->sub);
                natsSubscription_Destroy(s->sub);
                free(s); /* not set as the completion closure, or never delivered to */
                return bus_errno(st);
        }
        *ret = s;
        return 0;
}

void bus_unsubscribe(BusSubscription *s) {
        if (!s)
                return;
        /* A delivery in progress may still run its handler: `s` is freed by the completion callback
         * once it returned (the handler's closure must outlive it: a process-long queue). */
        natsSubscription *sub = s->sub;
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
}

bool bus_drain(BusSubscription **subs, size_t n, int64_t timeout_ms) {
        natsSubscription *held[64];
        size_t k = 0;
        bool done = true;
        int64_t deadline = nats_Now() + timeout_ms;
        /* What the server already sent is still handed to the handlers; `subs` are freed by their
         * completion callbacks, so only the library's handles (still referenced) are waited on. */
        for (size_t i = 0; i < n && k < 64; i++) {
                if (!subs[i])
                        continue;
                held[k] = subs[i]->sub;
                if (natsSubscription_Drain(held[k]) != NATS_OK)
                        natsSubscription_Unsubscribe(held[k]);
                subs[i] = NULL;
                k++;
        }
        for (size_t i = 0; i < k; i++) {
                int64_t left = deadline - nats_Now();
                if (natsSubscription_WaitForDrainCompletion(held[i], left > 0 ? left : 1) != NATS_OK)
                        done = false;
                natsSubscription_Destroy(held[i]);
        }
        return done;
}

struct BusInbox {
        natsConnection *nc;
        natsSubscription *sub;
        pthread_mutex_t turn; /* held by the one thread waiting in bus_inbox_next: the next message goes to the
                               * first free thread, not to a busy one's queue */
        atomic_bool draining; /* drained once, whichever of the threads sharing it stops first */
};

int bus_inbox_open(Bus *b, const char *subject, const char *queue, int max_pending, BusInbox **ret) {
        BusInbox *in = calloc(1, sizeof(*in));
        natsStatus s;
        if (!in)
                return -ENOMEM;
        in->nc = b->nc;
        pthread_mutex_init(&in->turn, NULL);
        s = queue ? natsConnection_QueueSubscribeSync(&in->sub, b->nc, subject, queue)
                  : natsConnection_SubscribeSync(&in->sub, b->nc, subject);
        if (s == NATS_OK)
                s = natsSubscription_SetPendingLimits(in->sub, max_pending, 16 * 1024 * 1024);
        if (s != NATS_OK) {
                bus_inbox_close(in);
                return bus_errno(s);
        }
        *ret = in;
        return 0;
}

int bus_inbox_next(BusInbox *in, int64_t timeout_ms, natsMsg **ret) {
        /* Waiting for the turn counts against the timeout too: a stopping thread is not held behind the others. */
        int64_t until = nats_Now() + timeout_ms;
        struct timespec turn = ids_deadline(CLOCK_REALTIME, timeout_ms);
        if (pthread_mutex_timedlock(&in->turn, &turn) != 0)
                return -ETIMEDOUT;
        int64_t left = until - nats_Now();
        natsStatus s = natsSubscription_NextMsg(ret, in->sub, left > 0 ? left : 1);
        pthread_mutex_unlock(&in->turn);
        if (s == NATS_OK)
                bus_msg_inline(*ret);
        return s == NATS_TIMEOUT ? -ETIMEDOUT : bus_errno(s);
}

void bus_inbox_drain(BusInbox *in) {
        if (in && in->sub && !atomic_exchange(&in->draining, true))
                (void)natsSubscription_Drain(in->sub);
}

void bus_inbox_finish(BusInbox *in, int64_t within_ms, int (*next)(void *ud, int64_t timeout_ms), void *ud) {
        bus_inbox_drain(in);
        for (int64_t until = nats_Now() + within_ms; nats_Now() < until;) {
                int r = next(ud, 50);
                if (r < 0 && r != -ETIMEDOUT && r != -ENOBUFS)
                        break; /* drained */
        }
}

void bus_inbox_close(BusInbox *in) {
        if (!in)
                return;
        bus_sub_close(in->nc, in->sub);
        pthread_mutex_destroy(&in->turn);
        free(in);
}

int bus_send(Bus *b, const char *subject, const char *reply, const BusHeaders *h, const void *data, size_t len) {
        natsMsg *m = NULL;
        natsStatus s = bus_msg_with(&m, subject, reply, h, data, len);
        if (s == NATS_OK)
                s = natsConnection_PublishMsg(b->nc, m);
        natsMsg_Destroy(m);
        return bus_errno(s);
}

int bus_publish_core(Bus *b, const char *subject, const char *type, const void *data, size_t len) {
        BusHeaders h = {.type = type};
        return bus_send(b, subject, NULL, &h, data, len);
}

int64_t bus_max_payload(Bus *b) {
        int64_t max = natsConnection_GetMaxPayload(b->nc);
        return max > 0 ? max : 0;
}

bool bus_no_responders(natsMsg *msg) {
        return natsMsg_IsNoResponders(msg);
}

static ReplyInbox *bus_reply_inbox(Bus *b) {
        ReplyInbox *in = pthread_getspecific(b->inbox_key);
        char filter[sizeof(in->prefix) + 2];
        if (in)
                return in;
        in = calloc(1, sizeof(*in));
        if (!in || bus_inbox_name(b, in->prefix, sizeof(in->prefix)) < 0) {
                free(in);
                return NULL;
        }
        snprintf(filter, sizeof(filter), "%s.*", in->prefix);
        if (natsConnection_SubscribeSync(&in->sub, b->nc, filter) != NATS_OK) {
                free(in);
                return NULL;
        }
        pthread_mutex_lock(&b->inbox_lock);
        in->next = b->inboxes;
        b->inboxes = in;
        pthread_mutex_unlock(&b->inbox_lock);
        pthread_setspecific(b->inbox_key, in);
        return in;
}

int bus_request(Bus *b, const char *subject, const BusHeaders *h, const void *data, size_t len, int64_t timeout_ms,
                natsMsg **ret) {
        ReplyInbox *in = bus_reply_inbox(b);
        char reply_to[sizeof(in->prefix) + 24];
        int64_t deadline = nats_Now() + timeout_ms;
        natsMsg *m = NULL;
        natsStatus s;

        if (!in)
                return -ENOMEM;
        snprintf(reply_to, sizeof(reply_to), "%s.%" PRIu64, in->prefix, ++in->seq);
        s = bus_msg_with(&m, subject, reply_to, h, data, len);
        if (s == NATS_OK)
                s = natsConnection_PublishMsg(b->nc, m);
        natsMsg_Destroy(m);
        while (s == NATS_OK) {
                natsMsg *r = NULL;
                int64_t left = deadline - nats_Now();
                s = left > 0 ? natsSubscription_NextMsg(&r, in->sub, left) : NATS_TIMEOUT;
                if (s != NATS_OK)
                        break;
                bus_msg_inline(r);
                if (strcmp(natsMsg_GetSubject(r), reply_to) != 0) {
                        natsMsg_Destroy(r); /* the late answer of an earlier request that timed out */
                        continue;
                }
                *ret = r; /* "no responders" comes as NextMsg's own status (-EHOSTUNREACH below) */
                return 0;
        }
        return bus_errno(s);
}
