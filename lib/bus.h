/* The one NATS/JetStream adapter: connection with reconnect, the stream and
 * consumer topology (defined once, created idempotently), pull fetching,
 * publishing with Nats-Msg-Id + Food-Type headers, acks. natsStatus stays in
 * here; callers get 0 / negative errno. */
#pragma once
#include <nats/nats.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "topology.h"

#define BUS_HDR_TYPE "Food-Type"
#define BUS_HDR_TRACE "traceparent"
#define BUS_HDR_DLQ_SUBJECT "Food-Dlq-Subject" /* dead letters: the subject the message came on */
#define BUS_HDR_DLQ_REASON "Food-Dlq-Reason"   /* dead letters: why it was refused */
#define BUS_HDR_ANSWER_TO "Food-Answer-To"     /* command batches: where the worker answers */
#define BUS_HDR_ANSWER_FORM "Food-Answer-Form" /* requests: "view", the asker reads RpcReply.order_view */
#define BUS_FETCH_MAX 64 /* messages one fetch takes at most (lib/worker.c sizes its command arrays by it) */

typedef struct Bus Bus;
typedef struct BusConsumer BusConsumer;
typedef struct BusPublisher BusPublisher;

/* Maps a natsStatus to 0 / negative errno (the single adapter). */
int bus_errno(natsStatus s);

/* Connects to cfg's URL as its user (retrying until it succeeds or *stop
 * turns true), with endless reconnects, SendAsap and logging error/disconnect
 * handlers. `name` is the client name shown by the server (borrowed). */
int bus_connect(Bus **ret, const NatsConfig *cfg, const char *name, const volatile bool *stop);
/* Drains and closes; every consumer must be closed first. NULL is fine. */
void bus_free(Bus *b);
natsConnection *bus_conn(Bus *b);
bool bus_connected(Bus *b);
/* Whether messages through this wrapper are freed on the thread that destroys them rather than by nats.c's
 * collector thread (a wake-up per message); false only on a nats.c whose message layout changed. */
bool bus_frees_inline(void);
/* OpenSSL's RAND_bytes, supplied by this wrapper from getrandom(2) for nats.c (see lib/bus.c): 1 when buf holds
 * num random bytes, 0 on failure or a negative num. */
int RAND_bytes(unsigned char *buf, int num);

/* Creates or updates every stream and durable consumer of the system (one
 * definition each, lib/topology.c): the operators' set-up step (food-setup),
 * whose NATS user may; services may not. */
int bus_setup_topology(Bus *b, const TopoStreamLimits *limits); /* limits[i]: topo_stream_at(i)'s; NULL: defaults */
/* Waits until every stream and, when `durable` is a worker's, its durable
 * consumer exist (a service's start: it creates none of them). 0, or
 * -ECANCELED once *stop is set. */
int bus_await_topology(Bus *b, const char *durable, const volatile bool *stop);

/* Binds to the existing durable pull consumer `durable` (its own inbox receives every pull request's messages). */
int bus_consumer_open(Bus *b, const char *durable, BusConsumer **ret);
/* Unsubscribes its inbox. */
void bus_consumer_close(BusConsumer *c);
/* Fetches up to `max` (<= BUS_FETCH_MAX) messages into `list` (caller frees
 * with natsMsgList_Destroy). 0 with list->Count >= 1, -ETIMEDOUT when none
 * arrived, other negative errno on failure. One fetch loop per consumer.
 * `last` (before closing): only what already arrived or is there now, leaving
 * no pull request open that would bring messages nobody takes until AckWait. */
int bus_fetch(BusConsumer *c, natsMsgList *list, int max, int64_t timeout_ms, bool last);
/* Sends one pull request for `batch` messages, expiring at the server after `expires_ms` (0: never).
 * `no_wait`: the server answers with what is there and ends it; with nothing there, at once (no expiry)
 * or after the first messages to arrive. Its messages are taken by later bus_fetch calls (a `last` one
 * waits for them until the request expires, at most its timeout). */
int bus_consumer_pull(BusConsumer *c, int batch, int64_t expires_ms, bool no_wait);

/* Header value of `msg` or NULL. */
const char *bus_header(natsMsg *msg, const char *key);

/* Explicit acks of a message `c` fetched, fire-and-forget (nothing waits for the server). */
void bus_ack(BusConsumer *c, natsMsg *msg);
/* Hands `msg` back for redelivery after bus_nak_delay_ms of its delivery count. */
void bus_nak(BusConsumer *c, natsMsg *msg);
/* Hands `msg` back for redelivery at once (it is healthy, only not handled now). */
void bus_nak_now(BusConsumer *c, natsMsg *msg);
void bus_term(BusConsumer *c, natsMsg *msg);

/* Wait before the next delivery of a message handed back after its `delivered`-th
 * delivery: 1 s, doubling up to 30 s. A failing batch (PostgreSQL restarting,
 * unreachable) would otherwise use up MaxDeliver (20) in 20 s and nats-server
 * would drop the message; with this back-off the 20 deliveries span ~8 minutes. */
int64_t bus_nak_delay_ms(uint64_t delivered);

/* A publisher owns a JetStream context: use one per publishing thread so that
 * bus_publisher_flush reports only its own publishes. */
int bus_publisher_new(Bus *b, BusPublisher **ret);
void bus_publisher_free(BusPublisher *p);
/* Headers of a published message (each may be NULL). */
typedef struct {
        const char *msg_id;      /* Nats-Msg-Id: JetStream's dedupe within its window */
        const char *type;        /* Food-Type: the protobuf full name */
        const char *traceparent; /* W3C trace context */
        const char *answer_to;   /* Food-Answer-To: where a worker answers a command batch */
        const char *answer_form; /* Food-Answer-Form: BUS_ANSWER_VIEW on a request to the orchestrator */
} BusHeaders;
/* The answer form this build reads: an order as its JSON view (RpcReply.order_view). */
#define BUS_ANSWER_VIEW "view"

/* Publishes asynchronously to JetStream with `h` and Content-Type. Buffers are copied. */
int bus_publish(BusPublisher *p, const char *subject, const BusHeaders *h, const void *data, size_t len);
/* Dead-letters `msg` (borrowed), or only its batch's command `cmd` (number
 * `k`; NULL: the whole message): publishes the payload (the command packed)
 * asynchronously on food.dlq.<durable> (stream FOOD_DLQ) with its Food-Type
 * when known, plus Food-Dlq-Subject and Food-Dlq-Reason (`why`, borrowed) so
 * that `nats stream view FOOD_DLQ` explains it, and a Nats-Msg-Id naming the
 * message's stream position (and command), so a repeat is one dead letter. The
 * message may be terminated only once bus_publisher_flush confirmed it. 0 or
 * negative errno. */
int bus_dead_letter(BusPublisher *p, const char *durable, natsMsg *msg, const ProtobufCMessage *cmd, int k,
                    const char *why);
/* Waits until every publish since the last flush is acknowledged by the
 * stream: 0, or -EIO when any failed or timed out (caller re-sends). */
int bus_publisher_flush(BusPublisher *p, int64_t timeout_ms);

/* An asynchronous subscription: `fn` gets each message (and owns it: natsMsg_Destroy) on the
 * connection's delivery thread (one for all subscriptions of a process: keep it short). `queue`
 * may be NULL. 0 or negative errno. */
typedef struct BusSubscription BusSubscription;
typedef void (*BusHandler)(void *closure, natsMsg *msg);
int bus_subscribe(Bus *b, const char *subject, const char *queue, BusHandler fn, void *closure,
                  BusSubscription **ret);
/* Stops the subscription. A handler call already running finishes; none starts after. NULL is fine. */
void bus_unsubscribe(BusSubscription *s);
/* Unsubscribes `subs` (set to NULL) and waits, up to `timeout_ms` in all, until what the server had
 * already sent them has been handled. At most 64. True when every handler has returned for the last
 * time (their closures may be freed), false when the time ran out first. */
bool bus_drain(BusSubscription **subs, size_t n, int64_t timeout_ms);

/* A subscription read by its caller's own thread (the gateway's live event streams) or threads (the reader's
 * answering threads, a worker's direct loops), of queue group `queue` unless NULL: at most `max_pending` messages
 * wait in it. Threads sharing it take turns in bus_inbox_next, so each message goes to the first free one.
 * 0 with *ret, or negative errno. */
typedef struct BusInbox BusInbox;
int bus_inbox_open(Bus *b, const char *subject, const char *queue, int max_pending, BusInbox **ret);
/* The next message (the caller destroys it) within `timeout_ms`: 0, -ETIMEDOUT, or negative errno
 * when the subscription failed (e.g. too slow a reader: messages were dropped). */
int bus_inbox_next(BusInbox *in, int64_t timeout_ms, natsMsg **ret);
/* Removes the subscription's interest at the server (nothing more comes to it) while what already came is still
 * read by bus_inbox_next: a queue member leaving without dropping its share. Once, whoever calls it again. */
void bus_inbox_drain(BusInbox *in);
/* A queue member stopping: drains `in`, then calls `next` (which takes and handles one message within its
 * timeout, returning bus_inbox_next's result) until the subscription is drained or `within_ms` passed. */
void bus_inbox_finish(BusInbox *in, int64_t within_ms, int (*next)(void *ud, int64_t timeout_ms), void *ud);
void bus_inbox_close(BusInbox *in);

/* Core NATS publish (no persistence), e.g. RPC replies and live updates. */
int bus_publish_core(Bus *b, const char *subject, const char *type, const void *data, size_t len);
/* Core NATS publish with the headers of `h` and reply subject `reply` (may be NULL): nobody subscribed to
 * `subject`, nats-server answers "no responders" there at once (bus_no_responders). 0 or negative errno. */
int bus_send(Bus *b, const char *subject, const char *reply, const BusHeaders *h, const void *data, size_t len);
/* The largest message the server takes (its max_payload), or 0 when not connected. */
int64_t bus_max_payload(Bus *b);
/* Whether `msg` is nats-server's "no responders" answer (status 503, no data). */
bool bus_no_responders(natsMsg *msg);
/* Core request/reply with the headers of `h` (NULL: none but Content-Type): 0 with *ret (natsMsg_Destroy it),
 * -ETIMEDOUT, or -EHOSTUNREACH when nobody listens on `subject`. */
int bus_request(Bus *b, const char *subject, const BusHeaders *h, const void *data, size_t len, int64_t timeout_ms,
                natsMsg **ret);
