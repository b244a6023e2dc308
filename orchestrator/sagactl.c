/* sagactl: operators' command line for sagas, over the orchestrators' RPCs
 * (NATS_URL, NATS_USER/NATS_PASSWORD): one saga's queries go to the owner of
 * its shard (food.rpc.orders.<shard>.saga), the stuck list to any orchestrator
 * (food.rpc.sagas.stuck):
 *   sagactl show ORDER_ID [--json]          step history of one order
 *   sagactl stuck [--older-than S] [--json] sagas not advancing (default: the orchestrator's
 *                                           STUCK_AFTER_S), or whose compensation failed
 *   sagactl redrive ORDER_ID                re-send what a saga still waits for, with fresh tries
 *   sagactl redrive --all [--older-than S]  the same for every stuck saga */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "codec.h"
#include "config.h"
#include "ids.h"
#include "log.h"
#include "order-json.h"

static int usage(void) {
        fprintf(stderr, "usage: sagactl show ORDER_ID [--json]\n"
                        "       sagactl stuck [--older-than SECONDS] [--json]\n"
                        "       sagactl redrive ORDER_ID | --all [--older-than SECONDS]\n");
        return 2;
}

static int parse_seconds(const char *s, int64_t *ret) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < 0 || v > 365LL * 86400)
                return -EINVAL;
        *ret = v;
        return 0;
}

static void print_saga(const Food__V1__SagaHistory *h, bool json) {
        if (json) {
                json_t *v = order_json_saga(h);
                char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
                printf("%s\n", text ? text : "{}");
                free(text);
                json_decref(v);
                return;
        }
        char updated[40], deadline[40], at[40];
        order_json_time(h->updated_ms, updated, sizeof(updated));
        order_json_time(h->deadline_ms, deadline, sizeof(deadline));
        printf("%s  %s%s  step=%s attempt=%u version=%lld definition=%d updated=%s%s%s\n", h->order_id, h->state,
               h->compensation_failed ? " COMPENSATION_FAILED" : "", *h->step ? h->step : "-", h->attempt,
               (long long)h->version, h->definition_version, updated, h->deadline_ms ? " timer=" : "",
               h->deadline_ms ? deadline : "");
        for (size_t i = 0; i < h->n_steps; i++) {
                const Food__V1__SagaStep *s = h->steps[i];
                order_json_time(s->at_ms, at, sizeof(at));
                printf("  %s  %-12s %-28s %-18s try %-3u %s\n", at, s->kind, s->type, s->step, s->attempt, s->detail);
        }
}

/* Asks `q` of the owner of its order's shard, or (stuck) of any orchestrator: the answer, or NULL
 * after saying why on stderr. */
static Food__V1__RpcReply *ask(Bus *bus, const Food__V1__SagaQuery *q) {
        char subject[CODEC_SUBJECT_MAX];
        natsMsg *reply = NULL;
        ProtobufCMessage *m = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        int r = *q->order_id ? topo_rpc_subject(subject, sizeof(subject), ids_shard(q->order_id), "saga")
                             : (snprintf(subject, sizeof(subject), "%s", TOPO_RPC_STUCK), 0);
        if (r == 0)
                r = codec_pack(&q->base, &buf, &len);
        if (r == 0)
                r = bus_request(bus, subject,
                                &(const BusHeaders){.type = q->base.descriptor->name, .answer_form = BUS_ANSWER_VIEW}, buf,
                                len, 5000, &reply);
        free(buf);
        if (r < 0) {
                fprintf(stderr, "sagactl: the orchestrator did not answer (%s)\n",
                        r == -EHOSTUNREACH ? "no orchestrator is running" : strerror(-r));
                return NULL;
        }
        r = codec_unpack(&food__v1__rpc_reply__descriptor, natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply),
                         &m);
        natsMsg_Destroy(reply);
        if (r < 0) {
                fprintf(stderr, "sagactl: undecodable answer\n");
                return NULL;
        }
        Food__V1__RpcReply *a = (Food__V1__RpcReply *)m;
        if (a->http_status != 200) {
                fprintf(stderr, "sagactl: %s: %s\n", a->title, a->detail);
                codec_free(m);
                return NULL;
        }
        return a;
}

static int query(Bus *bus, const Food__V1__SagaQuery *q, bool json) {
        Food__V1__RpcReply *a = ask(bus, q);
        if (!a)
                return 1;
        if (strcmp(q->query, "redrive") == 0)
                printf("%d saga(s) redriven\n", a->affected);
        else {
                for (size_t i = 0; i < a->n_sagas; i++)
                        print_saga(a->sagas[i], json);
                if (strcmp(q->query, "stuck") == 0 && !json)
                        printf("%zu stuck saga(s)\n", a->n_sagas);
        }
        codec_free(&a->base);
        return 0;
}

/* Every stuck saga, each redriven by its owner. */
static int redrive_all(Bus *bus, int64_t older_than_ms) {
        Food__V1__SagaQuery stuck = FOOD__V1__SAGA_QUERY__INIT;
        int affected = 0, rc = 0;
        stuck.query = "stuck";
        stuck.older_than_ms = older_than_ms;
        Food__V1__RpcReply *list = ask(bus, &stuck);
        if (!list)
                return 1;
        for (size_t i = 0; i < list->n_sagas; i++) {
                Food__V1__SagaQuery one = FOOD__V1__SAGA_QUERY__INIT;
                one.query = "redrive";
                one.order_id = list->sagas[i]->order_id;
                Food__V1__RpcReply *a = ask(bus, &one);
                if (a)
                        affected += a->affected;
                else
                        rc = 1;
                codec_free(a ? &a->base : NULL);
        }
        codec_free(&list->base);
        printf("%d saga(s) redriven\n", affected);
        return rc;
}

int main(int argc, char **argv) {
        Food__V1__SagaQuery q = FOOD__V1__SAGA_QUERY__INIT;
        NatsConfig nats;
        bool json = false, older_given = false;
        int64_t older_s = 0;
        Bus *bus = NULL;
        int r, rc = 1;

        log_setup("sagactl", LOG_WARN);
        if (argc < 2)
                return usage();
        q.query = argv[1];
        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0)
                        json = true;
                else if (strcmp(argv[i], "--all") == 0)
                        q.all = true;
                else if (strcmp(argv[i], "--older-than") == 0 && i + 1 < argc) {
                        if (parse_seconds(argv[++i], &older_s) < 0)
                                return usage();
                        older_given = true;
                } else if (argv[i][0] != '-' && !*q.order_id) /* protobuf-c strings start as "" */
                        q.order_id = argv[i];
                else
                        return usage();
        }
        /* 0 in the query means "the orchestrator's default": an explicit 0 s asks for 1 ms. */
        q.older_than_ms = older_s > 0 ? older_s * 1000 : (older_given ? 1 : 0);
        if ((strcmp(q.query, "show") == 0 && !*q.order_id) ||
            (strcmp(q.query, "redrive") == 0 && !*q.order_id == !q.all) ||
            (strcmp(q.query, "show") && strcmp(q.query, "stuck") && strcmp(q.query, "redrive")))
                return usage();
        if (config_nats(&nats) < 0)
                return 2;
        volatile bool give_up = true; /* one connection attempt: a CLI should not wait forever */
        r = bus_connect(&bus, &nats, "sagactl", &give_up);
        if (r < 0) {
                fprintf(stderr, "sagactl: cannot connect to NATS at %s\n", nats.url);
                return 1;
        }
        if (strcmp(q.query, "redrive") == 0 && q.all)
                rc = redrive_all(bus, q.older_than_ms);
        else
                rc = query(bus, &q, json);
        bus_free(bus);
        return rc;
}
