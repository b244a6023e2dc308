/* Gateway -> orchestrator request/reply and the mapping of RpcReply onto HTTP. */
#include "gateway-rpc.h"
#include "ids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "log.h"
#include "metrics.h"
#include "gateway-rpc-answer.h"

static Metric *m_rpc_ok, *m_rpc_timeout, *m_rpc_unavailable, *m_rpc_bad_reply;

void rpc_metrics_init(void) {
        m_rpc_ok = metrics_counter("gateway_rpc_total{outcome=\"reply\"}", "Orchestrator RPCs by outcome");
        m_rpc_timeout = metrics_counter("gateway_rpc_total{outcome=\"timeout\"}", "Orchestrator RPCs by outcome");
        m_rpc_unavailable =
                metrics_counter("gateway_rpc_total{outcome=\"unavailable\"}", "Orchestrator RPCs by outcome");
        m_rpc_bad_reply = metrics_counter("gateway_rpc_total{outcome=\"bad_reply\"}", "Orchestrator RPCs by outcome");
}

static void rpc_answer_reply(Request *rq, const Food__V1__RpcReply *reply) {
        RpcAnswer a;

        rpc_answer_plan(reply, &a);
        if (a.body)
                http_send_json_text(rq->x, a.status, a.body, a.body_len, a.headers);
        else
                http_problem(rq->x, a.status, a.title, a.headers, "%s", a.detail);
        rpc_answer_clear(&a);
}

/* The subject of `msg` for the shard of `route_id`. 0 or -EINVAL. */
static int rpc_subject(const ProtobufCMessage *msg, const char *route_id, char *buf, size_t cap) {
        const CodecType *t = codec_type_by_desc(msg->descriptor);
        if (!t || !t->verb)
                return -EINVAL;
        if (!route_id)
                return t->subjects[1] ? (snprintf(buf, cap, "%s", t->subjects[1]) < (int)cap ? 0 : -EINVAL) : -EINVAL;
        return topo_rpc_subject(buf, cap, ids_shard(route_id), t->verb);
}

static void sleep_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

int rpc_call(Request *rq, const ProtobufCMessage *msg, const char *route_id, Food__V1__RpcReply **ret) {
        char subject[CODEC_SUBJECT_MAX];
        ProtobufCMessage *unpacked = NULL;
        natsMsg *reply = NULL;
        uint8_t *data = NULL;
        size_t len = 0;
        int64_t deadline = ids_now_ms() + rq->gw->cfg.rpc_timeout_ms;
        int r;

        /* Disconnected, a request would only wait for the deadline: say so now. */
        if (!bus_connected(rq->gw->svc.bus)) {
                metric_add(m_rpc_unavailable, 1);
                http_problem(rq->x, 503, NULL, "Retry-After: 1\r\n", "the message bus is unavailable; retry shortly");
                return -1;
        }
        r = rpc_subject(msg, route_id, subject, sizeof(subject));
        if (r == 0)
                r = codec_pack(msg, &data, &len);
        if (r < 0) {
                http_problem(rq->x, 500, NULL, NULL, "could not encode the request");
                return -1;
        }
        /* The caller's W3C trace context, or a new one: it follows the order
         * through the orchestrator and every worker (NATS header traceparent). */
        const char *incoming = http_header(rq->x, "traceparent");
        char trace[IDS_TRACEPARENT_LEN + 1] = "";
        if (ids_traceparent_valid(incoming))
                snprintf(trace, sizeof(trace), "%s", incoming);
        else
                (void)ids_traceparent(trace, sizeof(trace));
        const BusHeaders h = {.type = msg->descriptor->name, .traceparent = trace, .answer_form = BUS_ANSWER_VIEW};
        for (;;) {
                int64_t left = deadline - ids_now_ms();
                r = left > 0 ? bus_request(rq->gw->svc.bus, subject, &h, data, len, left, &reply)
                             : -ETIMEDOUT;
                /* Nobody serves the shard right now: its owner is changing (a replica took over, or
                 * is about to). Asking again shortly is what the client would do. */
                if (r != -EHOSTUNREACH || deadline - ids_now_ms() < 100)
                        break;
                sleep_ms(50);
        }
        free(data);
        if (r == -ETIMEDOUT) {
                metric_add(m_rpc_timeout, 1);
                log_warn("rpc: %s timed out after %lld ms", subject, (long long)rq->gw->cfg.rpc_timeout_ms);
                http_problem(rq->x, 504, NULL, NULL, "the order service did not answer within %lld ms; retry later",
                             (long long)rq->gw->cfg.rpc_timeout_ms);
                return -1;
        }
        if (r < 0) {
                metric_add(m_rpc_unavailable, 1);
                log_warn("rpc: %s failed: %s", subject, strerror(-r));
                http_problem(rq->x, 503, NULL, "Retry-After: 1\r\n", "%s",
                             r == -EHOSTUNREACH ? "the order service is not running; retry shortly"
                                                : "the message bus is unavailable; retry shortly");
                return -1;
        }
        r = codec_unpack(&food__v1__rpc_reply__descriptor, natsMsg_GetData(reply),
                         (size_t)natsMsg_GetDataLength(reply), &unpacked);
        natsMsg_Destroy(reply);
        if (r < 0) {
                metric_add(m_rpc_bad_reply, 1);
                log_error("rpc: %s: unreadable RpcReply", subject);
                http_problem(rq->x, 502, NULL, NULL, "the order service sent an unreadable reply");
                return -1;
        }
        metric_add(m_rpc_ok, 1);
        *ret = (Food__V1__RpcReply *)unpacked;
        return 0;
}

void rpc_answer(Request *rq, const ProtobufCMessage *msg, const char *route_id) {
        Food__V1__RpcReply *reply = NULL;
        if (rpc_call(rq, msg, route_id, &reply) < 0)
                return;
        rpc_answer_reply(rq, reply);
        codec_free(&reply->base);
}
