/* The NATS topology table and its subject builders. */
#include "topology.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Limits retention (not WorkQueue): a message stays after it is acknowledged, so operators can
 * inspect and replay; consumers track their own position. */
static const TopoStream topo_streams[] = {
        {"FOOD_CMD", {TOPO_PREFIX ".cmd.>"}, 7 * 86400},
        {TOPO_ARCHIVE_STREAM, {TOPO_PREFIX ".order.>"}, 365 * 86400}, /* also the analytics archive */
        {"FOOD_DLQ", {TOPO_PREFIX ".dlq.>"}, 30 * 86400},
        /* nats-server's notices that a consumer gave a message up after MaxDeliver tries, or that a
         * message was terminated: it only emits advisories, kept here so that operators (and the
         * crash suite: terminated = dead-lettered) see them. */
        {"FOOD_ADVISORY",
         {"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>", "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>"},
         30 * 86400},
};

/* One durable per worker, on the command subject named after it. */
static const TopoConsumer topo_consumers[] = {
        {"payment", "FOOD_CMD", TOPO_PREFIX ".cmd.payment", true},
        {"store", "FOOD_CMD", TOPO_PREFIX ".cmd.store", false},
        {"delivery", "FOOD_CMD", TOPO_PREFIX ".cmd.delivery", false},
        {"coupon", "FOOD_CMD", TOPO_PREFIX ".cmd.coupon", false},
        {"notification", "FOOD_CMD", TOPO_PREFIX ".cmd.notification", false},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const TopoStream *topo_stream_at(size_t i) {
        return i < COUNT(topo_streams) ? &topo_streams[i] : NULL;
}

const TopoConsumer *topo_consumer_at(size_t i) {
        return i < COUNT(topo_consumers) ? &topo_consumers[i] : NULL;
}

const TopoConsumer *topo_consumer(const char *durable) {
        for (size_t i = 0; durable && i < COUNT(topo_consumers); i++)
                if (strcmp(topo_consumers[i].durable, durable) == 0)
                        return &topo_consumers[i];
        return NULL;
}

static bool token_ok(const char *t) {
        return t && *t && strlen(t) <= 64 && !strpbrk(t, ".*> \t\r\n");
}

static int topo_format(size_t cap, int n) {
        return (n < 0 || (size_t)n >= cap) ? -EINVAL : 0;
}

int topo_command_subject(char *buf, size_t cap, const char *worker) {
        if (!token_ok(worker))
                return -EINVAL;
        return topo_format(cap, snprintf(buf, cap, TOPO_PREFIX ".cmd.%s", worker));
}

int topo_answer_subject(char *buf, size_t cap, const char *instance) {
        if (!token_ok(instance))
                return -EINVAL;
        return topo_format(cap, snprintf(buf, cap, TOPO_PREFIX ".ans.%s", instance));
}

int topo_direct_answer_subject(char *buf, size_t cap, const char *instance) {
        if (!token_ok(instance))
                return -EINVAL;
        return topo_format(cap, snprintf(buf, cap, TOPO_PREFIX ".ans.%s-direct", instance));
}

int topo_status_subject(char *buf, size_t cap, const char *order_id) {
        if (!token_ok(order_id))
                return -EINVAL;
        return topo_format(cap, snprintf(buf, cap, TOPO_PREFIX ".order.%s.status", order_id));
}

int topo_rpc_subject(char *buf, size_t cap, int shard, const char *verb) {
        if (shard < 0 || !token_ok(verb))
                return -EINVAL;
        return topo_format(cap, snprintf(buf, cap, TOPO_PREFIX ".rpc.orders.%d.%s", shard, verb));
}

int topo_rpc_shard_wildcard(char *buf, size_t cap, int shard) {
        if (shard < 0)
                return -EINVAL;
        return topo_format(cap, snprintf(buf, cap, TOPO_PREFIX ".rpc.orders.%d.*", shard));
}

int topo_read_subject(char *buf, size_t cap, const char *query) {
        if (!token_ok(query))
                return -EINVAL;
        return topo_format(cap, snprintf(buf, cap, TOPO_PREFIX ".read.%s", query));
}

int topo_read_query(const char *subject, char *buf, size_t cap) {
        if (!topo_subject_matches(TOPO_READ_SUBJECTS, subject))
                return -EINVAL;
        return topo_token(subject, 2, buf, cap);
}

int topo_dlq_subject(char *buf, size_t cap, const char *durable) {
        if (!token_ok(durable))
                return -EINVAL;
        return topo_format(cap, snprintf(buf, cap, TOPO_PREFIX ".dlq.%s", durable));
}

int topo_direct_subject(char *buf, size_t cap, const char *durable) {
        if (!token_ok(durable))
                return -EINVAL;
        return topo_format(cap, snprintf(buf, cap, TOPO_PREFIX ".direct.%s", durable));
}

int topo_inbox_prefix(char *buf, size_t cap, const char *user) {
        if (!token_ok(user))
                return -EINVAL;
        return topo_format(cap, snprintf(buf, cap, TOPO_INBOX_PREFIX "%s", user));
}

bool topo_subject_matches(const char *pattern, const char *subject) {
        const char *p = pattern, *s = subject;
        if (!p || !s)
                return false;
        for (;;) {
                size_t pn = strcspn(p, "."), sn = strcspn(s, ".");
                if (pn == 1 && *p == '>')
                        return sn > 0;
                if (sn == 0 || (!(pn == 1 && *p == '*') && (pn != sn || strncmp(p, s, pn) != 0)))
                        return false;
                p += pn;
                s += sn;
                if (!*p || !*s)
                        return !*p && !*s;
                p++;
                s++;
        }
}

int topo_token(const char *subject, int i, char *buf, size_t cap) {
        const char *t = subject;
        for (; t && i > 0; i--) {
                t = strchr(t, '.');
                if (t)
                        t++;
        }
        if (!t)
                return -EINVAL;
        size_t n = strcspn(t, ".");
        if (n == 0 || n >= cap)
                return -EINVAL;
        memcpy(buf, t, n);
        buf[n] = 0;
        return 0;
}
