/* Unit test of the sandbox sink's store: body checks, one record per key, filters, limits, config. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "sink-store.h"
#include "test-check.h"

static json_t *webhook(const char *id, const char *customer, const char *order, const char *status) {
        return json_pack("{s:s, s:s, s:o, s:s, s:s, s:s}", "id", id, "customer_id", customer, "order_id",
                         order ? json_string(order) : json_null(), "status", status, "message", "text", "at",
                         "2024-01-01T00:00:00.000Z");
}

static void test_check(void) {
        const char *why = NULL;
        json_t *ok = webhook("ntf_1", "c1", NULL, "PAID");
        CHECK(sink_message_check(ok, &why) == 0, "a valid body with order_id null: expected 0 (%s)", why ? why : "");
        json_object_set_new(ok, "order_id", json_integer(5));
        CHECK(sink_message_check(ok, &why) == -EINVAL, "order_id 5: expected -EINVAL");
        json_decref(ok);
        json_t *missing = json_pack("{s:s}", "id", "x");
        CHECK(sink_message_check(missing, &why) == -EINVAL, "body without fields: expected -EINVAL");
        json_decref(missing);
        json_t *arr = json_array();
        CHECK(sink_message_check(arr, &why) == -EINVAL, "array body: expected -EINVAL");
        json_decref(arr);
}

static void test_dedupe_and_dump(void) {
        SinkStore *s = NULL;
        bool dup = true;
        size_t seq = 0;
        char key[32];

        CHECK(sink_store_new(&s, 5000) == 0 && s, "sink_store_new");
        /* More than the initial index size, to cross several index growths. */
        for (int i = 0; i < 3000; i++) {
                snprintf(key, sizeof(key), "k%d", i);
                json_t *w = webhook(key, i % 2 ? "c_odd" : "c_even", "ord_1", "PAID");
                int r = sink_store_add(s, key, w, 1000 + i, &dup, &seq);
                CHECK(r == 0 && !dup && seq == (size_t)i + 1, "add %s: expected 0, new, seq %d; got %d, %d, %zu", key,
                      i + 1, r, dup, seq);
                json_decref(w);
        }
        json_t *again = webhook("other id", "c_even", "ord_1", "PAID");
        int r = sink_store_add(s, "k10", again, 9999, &dup, &seq);
        CHECK(r == 0 && dup && seq == 11, "repeated key k10: expected duplicate of seq 11, got %d, %d, %zu", r, dup, seq);
        r = sink_store_add(s, "k10", again, 9999, &dup, &seq);
        json_decref(again);

        json_t *all = sink_store_dump(s, NULL, NULL);
        json_t *msgs = json_object_get(all, "messages");
        CHECK(json_array_size(msgs) == 3000, "dump: expected 3000 messages, got %zu", json_array_size(msgs));
        CHECK(json_integer_value(json_object_get(all, "duplicates")) == 2, "dump: expected 2 duplicates");
        json_t *m10 = json_array_get(msgs, 10);
        const char *id = json_string_value(json_object_get(m10, "id"));
        CHECK(id && strcmp(id, "k10") == 0, "message 10 keeps its first body: expected id k10, got %s", id ? id : "-");
        CHECK(json_integer_value(json_object_get(m10, "deliveries")) == 3, "message 10: expected 3 deliveries, got %lld",
              (long long)json_integer_value(json_object_get(m10, "deliveries")));
        json_decref(all);

        json_t *odd = sink_store_dump(s, "c_odd", NULL);
        CHECK(json_array_size(json_object_get(odd, "messages")) == 1500, "filter c_odd: expected 1500, got %zu",
              json_array_size(json_object_get(odd, "messages")));
        json_decref(odd);
        json_t *none = sink_store_dump(s, NULL, "ord_2");
        CHECK(json_array_size(json_object_get(none, "messages")) == 0, "filter ord_2: expected none");
        json_decref(none);

        sink_store_clear(s);
        json_t *w = webhook("k10", "c", NULL, "PAID");
        r = sink_store_add(s, "k10", w, 1, &dup, &seq);
        CHECK(r == 0 && !dup && seq == 1, "after clear, k10 is new again: got %d, %d, %zu", r, dup, seq);
        json_decref(w);
        sink_store_free(s);
}

static void test_limits(void) {
        SinkStore *s = NULL;
        bool dup = false;
        size_t seq = 0;
        char longkey[SINK_KEY_MAX + 2];

        CHECK(sink_store_new(&s, 2) == 0, "sink_store_new");
        json_t *w = webhook("a", "c", NULL, "PAID");
        CHECK(sink_store_add(s, "a", w, 1, &dup, &seq) == 0, "first");
        CHECK(sink_store_add(s, "b", w, 1, &dup, &seq) == 0, "second");
        int r = sink_store_add(s, "c", w, 1, &dup, &seq);
        CHECK(r == SINK_FULL, "third over a ceiling of 2: expected SINK_FULL, got %d", r);
        r = sink_store_add(s, "a", w, 1, &dup, &seq);
        CHECK(r == 0 && dup, "a duplicate when full is still answered: got %d, %d", r, dup);
        memset(longkey, 'x', sizeof(longkey) - 1);
        longkey[sizeof(longkey) - 1] = 0;
        CHECK(sink_store_add(s, longkey, w, 1, &dup, &seq) == -EINVAL, "overlong key: expected -EINVAL");
        CHECK(sink_store_add(s, "", w, 1, &dup, &seq) == -EINVAL, "empty key: expected -EINVAL");
        json_decref(w);

        SinkConfig c = {.latency_ms = 10, .failure_rate = 1.0}, got;
        CHECK(sink_store_set_config(s, &c) == 0, "set config");
        CHECK(sink_store_should_fail(s), "failure_rate 1: expected every request to fail");
        c.failure_rate = 0.0;
        sink_store_set_config(s, &c);
        CHECK(!sink_store_should_fail(s), "failure_rate 0: expected no failure");
        SinkConfig bad = {.latency_ms = 60001, .failure_rate = 0};
        CHECK(sink_store_set_config(s, &bad) == -EINVAL, "latency 60001: expected -EINVAL");
        bad = (SinkConfig){.latency_ms = 0, .failure_rate = 1.5};
        CHECK(sink_store_set_config(s, &bad) == -EINVAL, "failure_rate 1.5: expected -EINVAL");
        sink_store_get_config(s, &got);
        CHECK(got.latency_ms == 10 && got.failure_rate == 0.0, "a rejected config changes nothing: got %lld, %f",
              (long long)got.latency_ms, got.failure_rate);
        sink_store_free(s);
}

int main(void) {
        test_check();
        test_dedupe_and_dump();
        test_limits();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("all sink store checks passed\n");
        return 0;
}
