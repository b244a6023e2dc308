/* Integration test of the wrapper's pull consumer against a real nats-server (with-servers.mjs): what an
 * earlier pull request still brings in after its fetch gave up (a paused or slow worker) is handed out
 * without ever returning more than asked for, every message exactly once, and the acks it sends
 * (+ACK, -NAK, +TERM) are the ones JetStream keeps. nats.c 3.4.1's own Fetch wrote past its array in
 * the first case; run under ASan (build-test), an overflow fails this test. And the publisher's
 * confirmations (PubAcks read on the publishing thread).
 * usage: NATS_URL=... test-bus-fetch */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"
#include "test-check.h"

#define SUBJECT TOPO_PREFIX ".cmd.store"
#define TOTAL 100

static Bus *bus;
static BusConsumer *c;

static void publish(int i) {
        char body[16];
        int n = snprintf(body, sizeof(body), "m%03d", i);
        CHECK(bus_publish_core(bus, SUBJECT, "test", body, (size_t)n) == 0, "publish %d", i);
}

static int body_index(natsMsg *m) {
        const char *d = natsMsg_GetData(m);
        if (natsMsg_GetDataLength(m) != 4 || d[0] != 'm')
                return -1;
        return atoi(d + 1);
}

static uint64_t delivered(natsMsg *m) {
        jsMsgMetaData *meta = NULL;
        uint64_t n = 0;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
                n = meta->NumDelivered;
                jsMsgMetaData_Destroy(meta);
        }
        return n;
}

/* Takes every message there (the stream's, for the store consumer) and acks it; how many. */
static int drain_store(void) {
        int n = 0;
        natsMsgList list;
        while (bus_fetch(c, &list, 64, 300, false) == 0) {
                for (int i = 0; i < list.Count; i++)
                        bus_ack(c, list.Msgs[i]);
                n += list.Count;
                natsMsgList_Destroy(&list);
        }
        return n;
}

/* The publisher reads the stream's PubAcks itself: a flush is 0 once every one came (a duplicate's too),
 * -EIO when a subject has no stream (and the next flush starts clean, however many refusals are left), and
 * past 4,096 awaited PubAcks a publish waits for room instead of failing. */
static void test_publisher_confirms(void) {
        BusPublisher *p = NULL;
        char id[32];
        CHECK(bus_publisher_new(bus, &p) == 0, "publisher");
        if (!p)
                return;
        (void)drain_store();
        for (int i = 0; i < 3; i++) {
                snprintf(id, sizeof(id), "pub-%d-%lld", i, (long long)nats_Now());
                BusHeaders h = {.msg_id = id, .type = "test"};
                CHECK(bus_publish(p, SUBJECT, &h, "p", 1) == 0, "publish %d", i);
        }
        CHECK(bus_publisher_flush(p, 2000) == 0, "three publishes confirmed");
        CHECK(drain_store() == 3, "the stream holds the three");

        BusHeaders none = {.type = "test"};
        CHECK(bus_publish(p, TOPO_PREFIX ".nowhere.x", &none, "x", 1) == 0, "publish to a subject of no stream");
        int64_t t0 = nats_Now();
        CHECK(bus_publisher_flush(p, 2000) == -EIO, "a publish no stream took is not confirmed");
        CHECK(nats_Now() - t0 < 1500, "no responders took %lld ms", (long long)(nats_Now() - t0));
        CHECK(bus_publish(p, SUBJECT, &none, "q", 1) == 0 && bus_publisher_flush(p, 2000) == 0,
              "the next flush after a failed one");
        CHECK(drain_store() == 1, "the stream holds that one");
        /* Fifty refused at once: the first "no responders" fails the flush, and the other 49 (which do not say
         * which message they answer) must not fail the next one. */
        for (int i = 0; i < 50; i++)
                CHECK(bus_publish(p, TOPO_PREFIX ".nowhere.x", &none, "x", 1) == 0, "publish %d to no stream", i);
        CHECK(bus_publisher_flush(p, 2000) == -EIO, "fifty publishes no stream took are not confirmed");
        usleep(200 * 1000); /* every refusal is back by now */
        CHECK(bus_publish(p, SUBJECT, &none, "r", 1) == 0 && bus_publisher_flush(p, 2000) == 0,
              "a flush after fifty refusals, read or not");
        CHECK(drain_store() == 1, "the stream holds that one");

        snprintf(id, sizeof(id), "pub-dup-%lld", (long long)nats_Now());
        BusHeaders dup = {.msg_id = id, .type = "test"};
        int failed = 0;
        for (int i = 0; i < 5000; i++)
                failed += bus_publish(p, SUBJECT, &dup, "d", 1) != 0;
        CHECK(failed == 0, "%d of 5000 publishes failed", failed);
        CHECK(bus_publisher_flush(p, 5000) == 0, "5000 publishes of one id confirmed (duplicates included)");
        CHECK(drain_store() == 1, "the stream holds one of them");
        bus_publisher_free(p);
}

/* A stand-in for a stream that answers message "a" twice (as two stream leaders for a moment could) and never
 * answers "b". */
static void answer_twice(void *closure, natsMsg *m) {
        const char *ack = "{\"stream\":\"FAKE\",\"seq\":1}";
        (void)closure;
        if (natsMsg_GetReply(m) && natsMsg_GetDataLength(m) == 1 && natsMsg_GetData(m)[0] == 'a')
                for (int i = 0; i < 2; i++)
                        (void)bus_publish_core(bus, natsMsg_GetReply(m), NULL, ack, strlen(ack));
        natsMsg_Destroy(m);
}

/* A PubAck settles its own message once: a message answered twice does not stand for another one that was never
 * confirmed (counting the answers did). */
static void test_a_pubAck_counts_once(void) {
        BusPublisher *p = NULL;
        BusSubscription *fake = NULL;
        BusHeaders h = {.type = "test"};
        CHECK(bus_publisher_new(bus, &p) == 0, "publisher");
        CHECK(bus_subscribe(bus, TOPO_PREFIX ".twice", NULL, answer_twice, NULL, &fake) == 0, "stand-in stream");
        if (!p || !fake)
                return;
        CHECK(bus_publish(p, TOPO_PREFIX ".twice", &h, "a", 1) == 0 &&
                      bus_publish(p, TOPO_PREFIX ".twice", &h, "b", 1) == 0,
              "publish a and b");
        CHECK(bus_publisher_flush(p, 1000) == -EIO, "b was never confirmed, yet the flush says both were");
        CHECK(bus_publish(p, TOPO_PREFIX ".twice", &h, "a", 1) == 0 && bus_publisher_flush(p, 1000) == 0,
              "the next flush after a failed one");
        bus_unsubscribe(fake);
        bus_publisher_free(p);
}

/* A request for 60 left open while 100 messages arrive: its 60 wait in the inbox; fetches take those first
 * (8, then the other 52 of them: no new request), then the other 40; none twice, none more than asked. */
static void test_late_messages_of_an_earlier_request(void) {
        int seen[TOTAL] = {0}, got = 0, sizes[20] = {0}, rounds = 0;
        CHECK(bus_consumer_pull(c, 60, 5000, false) == 0, "pull request");
        for (int i = 0; i < TOTAL; i++)
                publish(i);
        usleep(500000); /* the 60 are delivered to the inbox meanwhile */
        for (int round = 0; round < 20 && got < TOTAL; round++) {
                natsMsgList list;
                int max = round == 0 ? 8 : 64;
                int r = bus_fetch(c, &list, max, 1000, false);
                if (r == -ETIMEDOUT)
                        continue;
                CHECK(r == 0, "fetch: %d", r);
                if (r < 0)
                        break;
                CHECK(list.Count >= 1 && list.Count <= max, "fetch of at most %d returned %d", max, list.Count);
                sizes[rounds++] = list.Count;
                for (int i = 0; i < list.Count; i++) {
                        int k = body_index(list.Msgs[i]);
                        CHECK(k >= 0 && k < TOTAL, "unexpected body");
                        if (k >= 0 && k < TOTAL) {
                                CHECK(seen[k] == 0, "m%03d handed out twice", k);
                                seen[k]++;
                        }
                        got++;
                        bus_ack(c, list.Msgs[i]);
                }
                natsMsgList_Destroy(&list);
        }
        CHECK(sizes[0] == 8 && sizes[1] == 52, "the earlier request's 60 first, without asking for more: %d then %d",
              sizes[0], sizes[1]);
        CHECK(got == TOTAL, "%d of %d messages fetched", got, TOTAL);
}

/* -NAK comes back at once, counted as a second delivery; +TERM and +ACK never come back (AckWait 10 s). */
static void test_acks_are_kept(void) {
        natsMsgList list;
        publish(500);
        publish(501);
        usleep(200000); /* both stored */
        CHECK(bus_fetch(c, &list, 2, 2000, false) == 0 && list.Count == 2, "fetch of two");
        if (list.Count != 2) {
                natsMsgList_Destroy(&list);
                return;
        }
        bus_nak_now(c, list.Msgs[0]);
        bus_term(c, list.Msgs[1]);
        int want = body_index(list.Msgs[0]);
        natsMsgList_Destroy(&list);
        CHECK(bus_fetch(c, &list, 4, 2000, false) == 0 && list.Count == 1, "the NAKed message again");
        if (list.Count == 1) {
                CHECK(body_index(list.Msgs[0]) == want, "redelivered m%03d, expected m%03d", body_index(list.Msgs[0]),
                      want);
                CHECK(delivered(list.Msgs[0]) == 2, "delivery count %llu, expected 2",
                      (unsigned long long)delivered(list.Msgs[0]));
                bus_ack(c, list.Msgs[0]);
                natsMsgList_Destroy(&list);
        }
        /* Past AckWait: whatever was not acknowledged would be delivered again now. */
        int r = bus_fetch(c, &list, 64, 11500, false);
        CHECK(r == -ETIMEDOUT, "nothing comes back after AckWait: %d (%d messages)", r, r == 0 ? list.Count : 0);
        if (r == 0)
                natsMsgList_Destroy(&list);
}

/* Acknowledges what a fetch returned and frees it. */
static void ack_all(BusConsumer *taker, natsMsgList *list) {
        for (int i = 0; i < list->Count; i++)
                bus_ack(taker, list->Msgs[i]);
        natsMsgList_Destroy(list);
}

/* Publishes message number *(int *)arg 300 ms from now. */
static void *publish_later(void *arg) {
        usleep(300000);
        publish(*(int *)arg);
        return NULL;
}

/* Fetches while message number k is published 300 ms in: 0 when the fetch returned that one message alone
 * (acknowledged), with how long it took in *took. */
static int fetch_published_later(int k, int64_t timeout_ms, bool last, int64_t *took) {
        natsMsgList list;
        pthread_t t;
        pthread_create(&t, NULL, publish_later, &k);
        int64_t t0 = nats_Now();
        int r = bus_fetch(c, &list, 64, timeout_ms, last);
        *took = nats_Now() - t0;
        if (r == 0) {
                if (list.Count != 1 || body_index(list.Msgs[0]) != k)
                        r = -EPROTO;
                ack_all(c, &list);
        }
        pthread_join(t, NULL);
        return r;
}

/* A fetch returns when messages come, not when its request expires: what is there at once, and, when
 * nothing is, the first to arrive. */
static void test_returns_when_messages_come(void) {
        natsMsgList list;
        for (int i = 600; i < 605; i++)
                publish(i);
        usleep(200000);
        int64_t t0 = nats_Now();
        CHECK(bus_fetch(c, &list, 64, 5000, false) == 0 && list.Count == 5, "the five there");
        CHECK(nats_Now() - t0 < 4000, "a fetch of what was there took %lld ms", (long long)(nats_Now() - t0));
        ack_all(c, &list);
        int64_t took = 0;
        int r = fetch_published_later(700, 5000, false, &took);
        CHECK(r == 0, "the one published meanwhile: %d", r);
        CHECK(took < 4000, "waiting for one message took %lld ms", (long long)took);
}

/* A message that a request left open brings (the server serves the oldest request first) comes while a new
 * fetch's request waits: the fetch goes with it, not when its own request expires (it held such messages for
 * the whole fetch timeout: the last ticket update of an order a second late). */
static void test_an_open_request_brings_the_message(void) {
        natsMsgList list;
        int64_t took = 0;
        CHECK(bus_consumer_pull(c, 5, 3000, false) == 0, "a request left open");
        int r = fetch_published_later(750, 3000, false, &took);
        CHECK(r == 0, "the message the open request brought: %d", r);
        CHECK(took < 1500, "the fetch held it %lld ms", (long long)took);
        usleep(3100000); /* both requests expired */
        r = bus_fetch(c, &list, 64, 100, false);
        CHECK(r == -ETIMEDOUT, "nothing else: %d", r);
        if (r == 0)
                natsMsgList_Destroy(&list);
}

typedef struct {
        BusConsumer *c;
        int got;
} Taker;

static int taken[TOTAL];
static pthread_mutex_t taken_lock = PTHREAD_MUTEX_INITIALIZER;

static void *take(void *arg) {
        Taker *t = arg;
        for (int idle = 0; idle < 2;) {
                natsMsgList list;
                if (bus_fetch(t->c, &list, 8, 1000, false) < 0) {
                        idle++;
                        continue;
                }
                idle = 0;
                for (int i = 0; i < list.Count; i++) {
                        int k = body_index(list.Msgs[i]) - 800;
                        pthread_mutex_lock(&taken_lock);
                        if (k >= 0 && k < TOTAL)
                                taken[k]++;
                        pthread_mutex_unlock(&taken_lock);
                        t->got++;
                        bus_ack(t->c, list.Msgs[i]);
                }
                natsMsgList_Destroy(&list);
        }
        return NULL;
}

/* Two consumers of one durable (two worker threads) share the messages: each exactly once. */
static void test_two_takers_share(void) {
        Taker t[2] = {{c, 0}, {NULL, 0}};
        pthread_t tid[2];
        CHECK(bus_consumer_open(bus, "store", &t[1].c) == 0, "second consumer");
        if (!t[1].c)
                return;
        for (int i = 0; i < 2; i++)
                pthread_create(&tid[i], NULL, take, &t[i]);
        for (int i = 0; i < TOTAL; i++) {
                publish(800 + i);
                if (i % 10 == 0)
                        usleep(20000);
        }
        for (int i = 0; i < 2; i++)
                pthread_join(tid[i], NULL);
        for (int i = 0; i < TOTAL; i++)
                CHECK(taken[i] == 1, "m%03d taken %d times", 800 + i, taken[i]);
        CHECK(t[0].got + t[1].got == TOTAL, "%d + %d taken of %d", t[0].got, t[1].got, TOTAL);
        bus_consumer_close(t[1].c);
}

/* A closing fetch waits for what a request left open still brings, instead of leaving it to AckWait. */
static void test_last_takes_an_open_request(void) {
        int64_t took = 0;
        CHECK(bus_consumer_pull(c, 5, 1500, false) == 0, "a request left open");
        int r = fetch_published_later(900, 1000, true, &took);
        CHECK(r == 0, "the closing fetch took the open request's message: %d", r);
        usleep(1600000); /* that request expired */
}

/* A consumer JetStream does not have (deleted): no answer comes (its requests go nowhere), so a fetch is an
 * error or waits its whole timeout; never a quick "nothing" that a loop would spin on. */
static void test_missing_consumer(void) {
        natsMsgList list;
        natsMsg *reply = NULL;
        CHECK(bus_request(bus, "$JS.API.CONSUMER.DELETE.FOOD_CMD.store", NULL, "", 0, 2000, &reply) == 0,
              "consumer deleted");
        natsMsg_Destroy(reply);
        int64_t t0 = nats_Now();
        int r = bus_fetch(c, &list, 8, 2000, false);
        int64_t took = nats_Now() - t0;
        CHECK(r < 0, "a fetch from a deleted consumer: %d", r);
        CHECK(r != -ETIMEDOUT || took >= 1900, "an idle answer after %lld ms of a 2000 ms fetch", (long long)took);
        if (r == 0)
                natsMsgList_Destroy(&list);
        CHECK(bus_setup_topology(bus, NULL) == 0, "the consumer made again");
        /* Made again, it delivers the stream from its start (the topology's DeliverAll). */
        r = bus_fetch(c, &list, 8, 2000, false);
        CHECK(r == 0, "the same consumer object fetches from the new durable: %d", r);
        if (r == 0)
                natsMsgList_Destroy(&list);
}

/* `last`: a no-wait request answers at once when nothing is there. */
static void test_last_does_not_wait(void) {
        natsMsgList list;
        int64_t t0 = nats_Now();
        CHECK(bus_fetch(c, &list, 64, 5000, true) == -ETIMEDOUT, "nothing there");
        CHECK(nats_Now() - t0 < 2000, "a no-wait fetch took %lld ms", (long long)(nats_Now() - t0));
}

int main(void) {
        const char *nats_url = getenv("NATS_URL");
        if (!nats_url) {
                fprintf(stderr, "usage: NATS_URL=... test-bus-fetch\n");
                return 2;
        }
        log_setup("test-bus-fetch", LOG_WARN);
        NatsConfig nats = {.url = nats_url, .user = "", .password = ""};
        if (bus_connect(&bus, &nats, "test", NULL) < 0 || bus_setup_topology(bus, NULL) < 0 ||
            bus_consumer_open(bus, "store", &c) < 0) {
                printf("FAIL: cannot set up NATS\n");
                return 1;
        }
        test_late_messages_of_an_earlier_request();
        test_acks_are_kept();
        test_returns_when_messages_come();
        test_an_open_request_brings_the_message();
        test_two_takers_share();
        test_last_does_not_wait();
        test_last_takes_an_open_request();
        test_missing_consumer();
        test_publisher_confirms();
        test_a_pubAck_counts_once();
        bus_consumer_close(c);
        bus_free(bus);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
