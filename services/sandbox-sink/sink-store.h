/* The sandbox notification sink's in-memory record: received webhooks deduplicated by idempotency key,
 * counters, and the run-time behaviour knobs (latency, failure rate). Thread-safe (one mutex). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SINK_KEY_MAX 200 /* longest accepted idempotency key (bytes, without NUL) */
#define SINK_LATENCY_MAX_MS 60000

/* Business outcome (positive) of sink_store_add. */
enum {
        SINK_FULL = 1, /* the ceiling of messages kept was reached */
};

typedef struct SinkStore SinkStore;

typedef struct {
        int64_t latency_ms;  /* added before answering POST /messages, 0..SINK_LATENCY_MAX_MS */
        double failure_rate; /* share of POST /messages answered 503 without recording, 0..1 */
        bool refuse_lists;   /* a batch POST answered 400, as by a provider that takes one message per POST */
} SinkConfig;

/* Pure: checks a webhook body: an object with non-empty strings "id", "customer_id", "status",
 * "message", "at" and "order_id" a string or null. 0, or -EINVAL with *why (a literal). */
int sink_message_check(json_t *doc, const char **why);

/* Creates an empty store keeping at most `max_messages`. 0 or -ENOMEM. */
int sink_store_new(SinkStore **ret, size_t max_messages);
void sink_store_free(SinkStore *s);

/* Records the checked webhook `doc` (borrowed; copied) under `key` (non-empty, <= SINK_KEY_MAX bytes)
 * received at `now_ms`, once per key: a repeated key records nothing new, counts a duplicate and
 * sets *duplicate. *seq gets the message's position (1-based, stable). Returns 0, SINK_FULL, -EINVAL
 * or -ENOMEM. */
int sink_store_add(SinkStore *s, const char *key, json_t *doc, int64_t now_ms, bool *duplicate, size_t *seq);

/* Counts a request answered without recording (injected failure or client deadline). */
void sink_store_count_rejected(SinkStore *s);

/* Counts a batch request (POST /messages {"messages":[...]}) whose messages were looked at. */
void sink_store_count_batch(SinkStore *s);

/* {"messages":[{"id","customer_id","order_id","status","message","at","idempotency_key","received_at",
 *  "deliveries"}...], "received", "duplicates", "rejected", "batches"} oldest first, filtered by customer_id and
 * order_id when not NULL; a new reference, or NULL when out of memory. */
json_t *sink_store_dump(SinkStore *s, const char *customer_id, const char *order_id);

/* Forgets every message and zeroes the counters (not the config). */
void sink_store_clear(SinkStore *s);

void sink_store_get_config(SinkStore *s, SinkConfig *out);
/* Replaces the knobs. -EINVAL (nothing changed) when a value is out of range. */
int sink_store_set_config(SinkStore *s, const SinkConfig *c);
/* Rolls the dice for one request: true when it must fail (failure_rate). */
bool sink_store_should_fail(SinkStore *s);
