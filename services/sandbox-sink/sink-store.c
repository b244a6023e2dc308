/* In-memory webhook record of the sandbox sink: an append-only array indexed by a hash of the key. */
#include "sink-store.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "order-json.h"

typedef struct {
        char *key;
        json_t *body; /* the webhook's fields, owned */
        int64_t received_ms;
        int64_t deliveries; /* times this key arrived (1 + duplicates) */
} SinkMessage;

struct SinkStore {
        pthread_mutex_t lock;
        SinkMessage *msgs;
        size_t n, cap, max;
        size_t *slots; /* open addressing: message index + 1, 0 = empty; size a power of two */
        size_t n_slots;
        int64_t duplicates, rejected, batches;
        SinkConfig config;
        uint64_t rng;
};

static const char *const text_fields[] = {"id", "customer_id", "status", "message", "at"};

int sink_message_check(json_t *doc, const char **why) {
        json_t *order_id;

        if (!json_is_object(doc)) {
                *why = "body must be a JSON object";
                return -EINVAL;
        }
        for (size_t i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++) {
                const char *v = json_string_value(json_object_get(doc, text_fields[i]));
                if (!v || !*v) {
                        *why = "id, customer_id, status, message and at must be non-empty strings";
                        return -EINVAL;
                }
        }
        order_id = json_object_get(doc, "order_id");
        if (!json_is_string(order_id) && !json_is_null(order_id)) {
                *why = "order_id must be a string or null";
                return -EINVAL;
        }
        return 0;
}

static uint64_t key_hash(const char *k) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (; *k; k++) {
                h ^= (unsigned char)*k;
                h *= 1099511628211ULL;
        }
        return h;
}

/* The slot holding `key`, or the empty slot where it would go. */
static size_t *slot_find(SinkStore *s, const char *key) {
        size_t mask = s->n_slots - 1;
        for (size_t i = (size_t)key_hash(key) & mask;; i = (i + 1) & mask) {
                size_t *slot = &s->slots[i];
                if (*slot == 0 || strcmp(s->msgs[*slot - 1].key, key) == 0)
                        return slot;
        }
}

/* Doubles the index when half full, so that probes stay short and an empty slot always exists. */
static int slots_grow(SinkStore *s) {
        size_t *old = s->slots, n_old = s->n_slots;
        size_t n_new = n_old * 2;
        size_t *slots = calloc(n_new, sizeof(*slots));

        if (!slots)
                return -ENOMEM;
        s->slots = slots;
        s->n_slots = n_new;
        for (size_t i = 0; i < n_old; i++)
                if (old[i])
                        *slot_find(s, s->msgs[old[i] - 1].key) = old[i];
        free(old);
        return 0;
}

int sink_store_new(SinkStore **ret, size_t max_messages) {
        SinkStore *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->n_slots = 1024;
        s->slots = calloc(s->n_slots, sizeof(*s->slots));
        if (!s->slots) {
                free(s);
                return -ENOMEM;
        }
        pthread_mutex_init(&s->lock, NULL);
        s->max = max_messages;
        s->rng = (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ULL;
        *ret = s;
        return 0;
}

static void messages_free(SinkStore *s) {
        for (size_t i = 0; i < s->n; i++) {
                free(s->msgs[i].key);
                json_decref(s->msgs[i].body);
        }
        s->n = 0;
}

void sink_store_free(SinkStore *s) {
        if (!s)
                return;
        messages_free(s);
        free(s->msgs);
        free(s->slots);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

/* A copy of the webhook's own fields only (the sender may add others we do not keep). */
static json_t *body_copy(json_t *doc) {
        json_t *b = json_object();
        if (!b)
                return NULL;
        for (size_t i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++)
                json_object_set(b, text_fields[i], json_object_get(doc, text_fields[i]));
        json_object_set(b, "order_id", json_object_get(doc, "order_id"));
        return b;
}

int sink_store_add(SinkStore *s, const char *key, json_t *doc, int64_t now_ms, bool *duplicate, size_t *seq) {
        size_t *slot;
        int r = 0;

        if (!key || !*key || strlen(key) > SINK_KEY_MAX)
                return -EINVAL;
        pthread_mutex_lock(&s->lock);
        slot = slot_find(s, key);
        if (*slot) {
                SinkMessage *m = &s->msgs[*slot - 1];
                m->deliveries++;
                s->duplicates++;
                *duplicate = true;
                *seq = *slot;
                goto out;
        }
        if (s->n >= s->max) {
                r = SINK_FULL;
                goto out;
        }
        /* Keep the index at most half full (short probes, always an empty slot); it moves the slots. */
        if ((s->n + 1) * 2 > s->n_slots) {
                r = slots_grow(s);
                if (r < 0)
                        goto out;
                slot = slot_find(s, key);
        }
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 256;
                SinkMessage *msgs = realloc(s->msgs, cap * sizeof(*msgs));
                if (!msgs) {
                        r = -ENOMEM;
                        goto out;
                }
                s->msgs = msgs;
                s->cap = cap;
        }
        SinkMessage m = {.key = strdup(key), .body = body_copy(doc), .received_ms = now_ms, .deliveries = 1};
        if (!m.key || !m.body) {
                free(m.key);
                json_decref(m.body);
                r = -ENOMEM;
                goto out;
        }
        s->msgs[s->n++] = m;
        *slot = s->n;
        *duplicate = false;
        *seq = s->n;
out:
        pthread_mutex_unlock(&s->lock);
        return r;
}

void sink_store_count_rejected(SinkStore *s) {
        pthread_mutex_lock(&s->lock);
        s->rejected++;
        pthread_mutex_unlock(&s->lock);
}

void sink_store_count_batch(SinkStore *s) {
        pthread_mutex_lock(&s->lock);
        s->batches++;
        pthread_mutex_unlock(&s->lock);
}

static bool field_is(json_t *body, const char *name, const char *want) {
        const char *v = json_string_value(json_object_get(body, name));
        return v && strcmp(v, want) == 0;
}

json_t *sink_store_dump(SinkStore *s, const char *customer_id, const char *order_id) {
        json_t *list = json_array(), *doc = NULL;
        char at[32];

        if (!list)
                return NULL;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n; i++) {
                SinkMessage *m = &s->msgs[i];
                if ((customer_id && !field_is(m->body, "customer_id", customer_id)) ||
                    (order_id && !field_is(m->body, "order_id", order_id)))
                        continue;
                json_t *e = json_deep_copy(m->body);
                order_json_time(m->received_ms, at, sizeof(at));
                if (!e || json_object_set_new(e, "idempotency_key", json_string(m->key)) < 0 ||
                    json_object_set_new(e, "received_at", json_string(at)) < 0 ||
                    json_object_set_new(e, "deliveries", json_integer(m->deliveries)) < 0 ||
                    json_array_append_new(list, e) < 0) {
                        json_decref(e);
                        pthread_mutex_unlock(&s->lock);
                        json_decref(list);
                        return NULL;
                }
        }
        doc = json_pack("{s:o, s:I, s:I, s:I, s:I}", "messages", list, "received", (json_int_t)s->n, "duplicates",
                        (json_int_t)s->duplicates, "rejected", (json_int_t)s->rejected, "batches",
                        (json_int_t)s->batches);
        pthread_mutex_unlock(&s->lock);
        return doc;
}

void sink_store_clear(SinkStore *s) {
        pthread_mutex_lock(&s->lock);
        messages_free(s);
        memset(s->slots, 0, s->n_slots * sizeof(*s->slots));
        s->duplicates = 0;
        s->rejected = 0;
        s->batches = 0;
        pthread_mutex_unlock(&s->lock);
}

void sink_store_get_config(SinkStore *s, SinkConfig *out) {
        pthread_mutex_lock(&s->lock);
        *out = s->config;
        pthread_mutex_unlock(&s->lock);
}

int sink_store_set_config(SinkStore *s, const SinkConfig *c) {
        if (c->latency_ms < 0 || c->latency_ms > SINK_LATENCY_MAX_MS || !(c->failure_rate >= 0.0) ||
            c->failure_rate > 1.0)
                return -EINVAL;
        pthread_mutex_lock(&s->lock);
        s->config = *c;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

bool sink_store_should_fail(SinkStore *s) {
        bool fail;
        pthread_mutex_lock(&s->lock);
        /* xorshift64*: plenty for a coin flip */
        s->rng ^= s->rng >> 12;
        s->rng ^= s->rng << 25;
        s->rng ^= s->rng >> 27;
        double u = (double)((s->rng * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
        fail = u < s->config.failure_rate;
        pthread_mutex_unlock(&s->lock);
        return fail;
}
