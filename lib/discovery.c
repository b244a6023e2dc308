/* NATS service discovery (ADR-32) by hand: $SRV.PING|INFO|STATS answered with prebuilt JSON bodies. */
#include "discovery.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "topology.h"

#define DISCOVERY_ID_LEN 22    /* like a NUID: 22 characters of [0-9A-Za-z] */
#define DISCOVERY_BODY_MAX 8192 /* one answer body; ours are well under 2 KiB */
#define DISCOVERY_SUBS 9        /* 3 verbs x ($SRV.V, $SRV.V.name, $SRV.V.name.id) */

/* The orchestrator's request-reply endpoints (lib/topology.h): the shards' RPCs, which each owner
 * subscribes to shard by shard, and the stuck query (queue group orchestrator). Workers announce
 * their durable consumer from the topology's table, with the durable as its queue group (every
 * replica shares it, as a queue group's members share requests). */
static const struct {
        const char *name, *subject, *queue_group;
} orchestrator_rpcs[] = {
        {"orders", TOPO_PREFIX ".rpc.orders.*.*", ""}, /* no queue group: one owner per shard */
        {"stuck", TOPO_RPC_STUCK, TOPO_RPC_QUEUE},
};

typedef enum { VERB_PING, VERB_INFO, VERB_STATS, VERB_COUNT } DiscoveryVerb;

static const char *const verb_subject[VERB_COUNT] = {"$SRV.PING", "$SRV.INFO", "$SRV.STATS"};
static const char *const verb_type[VERB_COUNT] = {"io.nats.micro.v1.ping_response", "io.nats.micro.v1.info_response",
                                                  "io.nats.micro.v1.stats_response"};

/* The one announcement of this process. The bodies are static so that a callback still running during
 * discovery_stop never reads freed memory; `lock` orders their rewrite against the callbacks' reads. */
static struct {
        pthread_mutex_t lock;
        natsSubscription *subs[DISCOVERY_SUBS];
        char body[VERB_COUNT][DISCOVERY_BODY_MAX];
} discovery = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Fills `id` (DISCOVERY_ID_LEN + 1 bytes) with random alphanumerics. 0 or negative errno. */
static int discovery_new_id(char *id) {
        static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        unsigned char raw[DISCOVERY_ID_LEN];

        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
                return -EIO; /* a short read or a failure: either way no id */
        for (size_t i = 0; i < DISCOVERY_ID_LEN; i++)
                id[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
        id[DISCOVERY_ID_LEN] = '\0';
        return 0;
}

static json_t *discovery_endpoint_json(bool stats, const char *name, const char *subject, const char *queue_group,
                                       const char *stream) {
        if (stats)
                /* Per-instance counts live in /metrics; the protocol's fields are required, so zero. */
                return json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:i, s:i}", "name", name, "subject", subject,
                                 "queue_group", queue_group, "num_requests", 0, "num_errors", 0, "last_error", "",
                                 "processing_time", 0, "average_processing_time", 0);
        return json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "name", name, "subject", subject, "queue_group", queue_group,
                         "metadata", "kind", stream ? "jetstream-durable" : "request-reply", "stream",
                         stream ? stream : "");
}

/* The endpoint list of `name` for INFO (stats == false) or STATS (stats == true): a new reference. */
static json_t *discovery_endpoints_json(const char *name, bool stats) {
        json_t *list = json_array();
        bool ok = list != NULL;

        if (ok && strcmp(name, "orchestrator") == 0)
                for (size_t i = 0; ok && i < sizeof(orchestrator_rpcs) / sizeof(orchestrator_rpcs[0]); i++)
                        ok = json_array_append_new(list, discovery_endpoint_json(stats, orchestrator_rpcs[i].name,
                                                                                 orchestrator_rpcs[i].subject,
                                                                                 orchestrator_rpcs[i].queue_group,
                                                                                 NULL)) == 0;
        const TopoConsumer *c = topo_consumer(name);
        if (ok && c)
                ok = json_array_append_new(list, discovery_endpoint_json(stats, c->durable, c->filter, c->durable,
                                                                         c->stream)) == 0;
        char direct[TOPO_SUBJECT_MAX];
        if (ok && c && c->direct && topo_direct_subject(direct, sizeof(direct), c->durable) == 0)
                ok = json_array_append_new(list, discovery_endpoint_json(stats, "direct", direct, c->durable, NULL)) == 0;
        if (!ok) {
                json_decref(list);
                return NULL;
        }
        return list;
}

/* Writes the three answer bodies of (name, id) into discovery.body (lock held). 0 or -ENOMEM/-E2BIG. */
static int discovery_build(const char *name, const char *id) {
        char host[256] = "";
        char started[64];
        struct timespec now;
        struct tm tm;
        int r = 0;

        (void)gethostname(host, sizeof(host) - 1); /* the pod's name in Kubernetes; empty when unknown */
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        if (strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;

        for (int v = 0; v < VERB_COUNT && r == 0; v++) {
                json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "type", verb_type[v], "name", name,
                                      "id", id, "version", DISCOVERY_VERSION, "metadata", "hostname", host,
                                      "platform", "food-saga");
                char *text;

                if (o && v == VERB_INFO &&
                    (json_object_set_new(o, "description", json_string("food-saga process")) < 0 ||
                     json_object_set_new(o, "endpoints", discovery_endpoints_json(name, false)) < 0))
                        r = -ENOMEM;
                if (o && v == VERB_STATS &&
                    (json_object_set_new(o, "started", json_string(started)) < 0 ||
                     json_object_set_new(o, "endpoints", discovery_endpoints_json(name, true)) < 0))
                        r = -ENOMEM;
                text = o && r == 0 ? json_dumps(o, JSON_COMPACT) : NULL;
                if (!text)
                        r = r < 0 ? r : -ENOMEM;
                else if (strlen(text) >= DISCOVERY_BODY_MAX)
                        r = -E2BIG;
                else
                        memcpy(discovery.body[v], text, strlen(text) + 1);
                free(text);
                json_decref(o);
        }
        return r;
}

/* nats.c callback: answers a discovery request with the prebuilt body of its verb (`closure`). */
static void discovery_on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        const char *reply = natsMsg_GetReply(msg);
        const char *body = closure;

        (void)sub;
        if (reply && reply[0]) {
                pthread_mutex_lock(&discovery.lock);
                (void)natsConnection_PublishString(nc, reply, body); /* a lost answer only hides us once */
                pthread_mutex_unlock(&discovery.lock);
        }
        natsMsg_Destroy(msg);
}

/* Unsubscribes everything (lock held). */
static void discovery_unsubscribe(void) {
        for (int i = 0; i < DISCOVERY_SUBS; i++) {
                if (!discovery.subs[i])
                        continue;
                (void)natsSubscription_Unsubscribe(discovery.subs[i]);
                natsSubscription_Destroy(discovery.subs[i]);
                discovery.subs[i] = NULL;
        }
}

void discovery_start(Bus *bus, const char *name) {
        natsConnection *nc = bus ? bus_conn(bus) : NULL;
        char id[DISCOVERY_ID_LEN + 1];
        char subject[256];
        int n = 0;
        int r;

        if (!nc || !name)
                return;
        r = discovery_new_id(id);
        if (r < 0) {
                log_warn("discovery: no random id (%s); %s is not announced", strerror(-r), name);
                return;
        }
        pthread_mutex_lock(&discovery.lock);
        discovery_unsubscribe();
        r = discovery_build(name, id);
        for (int v = 0; r == 0 && v < VERB_COUNT; v++) {
                for (int depth = 0; r == 0 && depth < 3; depth++) {
                        int len = depth == 0   ? snprintf(subject, sizeof(subject), "%s", verb_subject[v])
                                  : depth == 1 ? snprintf(subject, sizeof(subject), "%s.%s", verb_subject[v], name)
                                               : snprintf(subject, sizeof(subject), "%s.%s.%s", verb_subject[v],
                                                          name, id);
                        natsStatus s;

                        if (len < 0 || (size_t)len >= sizeof(subject)) {
                                r = -ENAMETOOLONG;
                                break;
                        }
                        s = natsConnection_Subscribe(&discovery.subs[n], nc, subject, discovery_on_request,
                                                     discovery.body[v]);
                        if (s != NATS_OK)
                                r = bus_errno(s);
                        else
                                n++;
                }
        }
        if (r < 0)
                discovery_unsubscribe();
        pthread_mutex_unlock(&discovery.lock);
        if (r < 0)
                log_warn("discovery: %s is not announced: %s", name, strerror(-r));
        else
                log_info("discovery: announced %s (id %s) on $SRV.PING|INFO|STATS", name, id);
}

void discovery_stop(void) {
        pthread_mutex_lock(&discovery.lock);
        discovery_unsubscribe();
        pthread_mutex_unlock(&discovery.lock);
}
