/* Live order status over Server-Sent Events: read-model catch-up, then core NATS subscription. */
#include "gateway-events.h"
#include "gateway-live.h"

#include <civetweb.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "codec.h"
#include "config.h"
#include "gateway-sse.h"
#include "gateway-streamcap.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "order-json.h"

#define EVENTS_TICK_MS 500        /* shutdown is noticed within this */
#define EVENTS_PENDING_MSGS 1024  /* one order's status events buffered per stream */

typedef struct {
        int64_t max_streams;
        int64_t max_per_customer;
        int64_t max_seconds;
        int64_t heartbeat_s;
        int64_t refund_wait_s;
} EventsConfig;

static EventsConfig events_cfg;
static StreamCap *events_cap;
static Metric *m_open, *m_refused_customer;

int events_setup(void) {
        int r = config_int("SSE_MAX_STREAMS", 64, 1, 100000, &events_cfg.max_streams);
        if (r == 0)
                r = config_int("SSE_MAX_PER_CUSTOMER", 16, 1, 100000, &events_cfg.max_per_customer);
        /* Never above the gateway's own cap: SSE_MAX_STREAMS=2 alone stays a valid setting. */
        if (r == 0 && events_cfg.max_per_customer > events_cfg.max_streams)
                events_cfg.max_per_customer = events_cfg.max_streams;
        if (r == 0)
                r = config_int("SSE_MAX_SECONDS", 600, 1, 86400, &events_cfg.max_seconds);
        if (r == 0)
                r = config_int("SSE_HEARTBEAT_S", 15, 1, 3600, &events_cfg.heartbeat_s);
        if (r == 0)
                r = config_int("SSE_REFUND_WAIT_S", 60, 0, 3600, &events_cfg.refund_wait_s);
        if (r == 0 &&
            streamcap_new(&events_cap, (size_t)events_cfg.max_streams, (size_t)events_cfg.max_per_customer) < 0)
                r = -ENOMEM;
        m_open = metrics_gauge("gateway_sse_open_streams", "Live order event streams open");
        m_refused_customer =
                metrics_counter("gateway_sse_refused_per_customer_total",
                                "Live event streams refused with 429: the subject had SSE_MAX_PER_CUSTOMER open");
        return r;
}

void events_teardown(void) {
        streamcap_free(events_cap);
        events_cap = NULL;
}

/* One chunk on the wire: 0, or -EPIPE when the client is gone. */
static int events_write(Request *rq, const char *data, size_t len) {
        return mg_send_chunk(rq->x->conn, data, (unsigned)len) < 0 ? -EPIPE : 0;
}

static int events_send(Request *rq, int64_t version, const char *json) {
        char *frame = NULL;
        size_t len = 0;
        int r = sse_frame(version, json, &frame, &len);
        if (r == 0)
                r = events_write(rq, frame, len);
        free(frame);
        return r;
}

/* A live message: 1 with *ret (codec_free it) when it is this order's status event, else 0. */
static int events_decode(natsMsg *m, const char *order_id, Food__V1__OrderStatusChanged **ret) {
        const char *type = bus_header(m, BUS_HDR_TYPE);
        int r = live_status_event(type, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), order_id, ret);
        if (r == 0 && !(type && strcmp(type, food__v1__order_status_changed__descriptor.name) == 0))
                log_warn("events: a message on %s is not a status event (%s)", natsMsg_GetSubject(m),
                         type ? type : "no Food-Type");
        return r;
}

typedef struct {
        int64_t last_sent;     /* highest version sent (or the client's Last-Event-ID) */
        int64_t refund_until;  /* monotonic ms: end of the wait for a refund event, 0 when none */
        bool done;
} EventsStream;

/* Applies what an order's state means for the stream's end. */
static void events_track(EventsStream *st, const char *status, int64_t paid, int64_t refunded, int64_t wait_s) {
        switch (sse_state(status, paid, refunded)) {
        case SSE_DONE:
                st->done = true;
                break;
        case SSE_REFUND_DUE:
                if (st->refund_until == 0)
                        st->refund_until = ids_monotonic_ms() + wait_s * 1000;
                break;
        case SSE_MORE:
                break;
        }
}

/* Sends the live events until the order is done, the client leaves, the time is up or the
 * gateway stops. */
static void events_live(Request *rq, BusInbox *sub, const char *order_id, EventsStream *st) {
        int64_t start = ids_monotonic_ms();
        int64_t end = start + events_cfg.max_seconds * 1000;
        int64_t next_beat = start + events_cfg.heartbeat_s * 1000;
        static const char beat[] = ": keep-alive\n\n";

        while (!st->done && !service_stopping) {
                int64_t now = ids_monotonic_ms(), wait = EVENTS_TICK_MS;
                natsMsg *m = NULL;
                int r;

                if (now >= end || (st->refund_until && now >= st->refund_until))
                        return;
                if (now >= next_beat) {
                        if (events_write(rq, beat, sizeof(beat) - 1) < 0)
                                return;
                        next_beat = now + events_cfg.heartbeat_s * 1000;
                }
                if (next_beat - now < wait)
                        wait = next_beat - now;
                r = bus_inbox_next(sub, wait, &m);
                if (r == -ETIMEDOUT)
                        continue;
                if (r < 0) {
                        log_warn("events: subscription of %s failed: %s", order_id, strerror(-r));
                        return;
                }
                Food__V1__OrderStatusChanged *ev = NULL;
                if (events_decode(m, order_id, &ev) == 1) {
                        const Food__V1__Order *o = ev->order;
                        /* Older or already sent (the read model's snapshot, a redelivery): skip. */
                        char *frame = NULL;
                        size_t len = 0;
                        r = live_frame(o, st->last_sent, &frame, &len);
                        bool sent = r == 1;
                        if (sent) {
                                r = events_write(rq, frame, len);
                                free(frame);
                        }
                        if (r < 0) {
                                codec_free(&ev->base);
                                natsMsg_Destroy(m);
                                return;
                        }
                        if (sent) {
                                st->last_sent = o->version;
                                events_track(st, o->status, o->amount_paid, o->amount_refunded,
                                             events_cfg.refund_wait_s);
                        }
                        codec_free(&ev->base);
                }
                natsMsg_Destroy(m);
        }
}

void events_order_stream(Request *rq) {
        const char *id = rq->arg[0];
        const char *last_text = http_header(rq->x, "Last-Event-ID");
        char subject[CODEC_SUBJECT_MAX], query[32];
        BusInbox *sub = NULL;
        EventsStream st = {0};
        ReadOrder o = {0};
        json_t *view;
        int64_t paid, refunded;
        bool reserved = false;
        int r;

        /* EventSource sends Last-Event-ID as a header; ?last_event_id= serves clients that cannot. */
        if ((!last_text || !*last_text) && http_query(rq->x, "last_event_id", query, sizeof(query)) == 1)
                last_text = query;
        if (sse_parse_last_id(last_text, &st.last_sent) < 0) {
                http_problem(rq->x, 400, NULL, NULL, "Last-Event-ID must be an event id sent earlier (a version)");
                return;
        }
        /* The gateway's cap first (503: any client may retry elsewhere or later), then the token
         * subject's own (429: this client holds its share already). */
        r = streamcap_acquire(events_cap, rq->auth.sub);
        if (r == STREAMCAP_TOTAL_FULL) {
                http_problem(rq->x, 503, NULL, "Retry-After: 5\r\n",
                             "too many live event streams on this gateway (%lld); retry shortly",
                             (long long)events_cfg.max_streams);
                return;
        }
        if (r == STREAMCAP_KEY_FULL) {
                metric_add(m_refused_customer, 1);
                http_problem(rq->x, 429, NULL, "Retry-After: 5\r\n",
                             "this client has %lld live event streams open already (the most per client); close one "
                             "first",
                             (long long)events_cfg.max_per_customer);
                return;
        }
        if (r != 0) { /* a verified subject always fits a key */
                http_problem(rq->x, 500, NULL, NULL, "cannot count this stream");
                return;
        }
        metric_add(m_open, 1);
        reserved = true;
        /* Subscribe before reading the snapshot: a change between the two is then not lost. */
        if (topo_status_subject(subject, sizeof(subject), id) < 0) {
                http_problem(rq->x, 404, NULL, NULL, "no order %s", id);
                goto out;
        }
        r = bus_inbox_open(rq->gw->svc.bus, subject, NULL, EVENTS_PENDING_MSGS, &sub);
        if (r < 0) {
                http_problem(rq->x, 503, NULL, "Retry-After: 1\r\n", "live events are unavailable: %s", strerror(-r));
                goto out;
        }
        if (orders_read_visible(rq, id, &o) < 0)
                goto out;
        view = json_loads(o.view, 0, NULL);
        paid = view ? json_integer_value(json_object_get(view, "amount_paid")) : 0;
        refunded = view ? json_integer_value(json_object_get(view, "amount_refunded")) : 0;
        json_decref(view);
        /* Already over and the client has the last state: 204 tells EventSource to stop reconnecting. */
        if (o.version <= st.last_sent && sse_state(o.status, paid, refunded) == SSE_DONE) {
                http_send(rq->x, 204, "text/event-stream", NULL, NULL, 0);
                goto out;
        }
        rq->x->status = 200;
        mg_response_header_start(rq->x->conn, 200);
        mg_response_header_add(rq->x->conn, "Content-Type", "text/event-stream", -1);
        mg_response_header_add(rq->x->conn, "Cache-Control", "no-store", -1);
        mg_response_header_add(rq->x->conn, "Transfer-Encoding", "chunked", -1);
        mg_response_header_add(rq->x->conn, "X-Accel-Buffering", "no", -1); /* proxies: do not buffer */
        mg_response_header_send(rq->x->conn);
        if (events_write(rq, "retry: 2000\n\n", 13) < 0)
                goto out;
        if (o.version > st.last_sent) {
                if (events_send(rq, o.version, o.view) < 0)
                        goto out;
                st.last_sent = o.version;
        }
        events_track(&st, o.status, paid, refunded, events_cfg.refund_wait_s);
        readmodel_order_clear(&o);
        events_live(rq, sub, id, &st);
        events_write(rq, "", 0); /* the last chunk: the response is complete */
out:
        readmodel_order_clear(&o);
        bus_inbox_close(sub);
        if (reserved) {
                metric_add(m_open, -1);
                streamcap_release(events_cap, rq->auth.sub);
        }
}
