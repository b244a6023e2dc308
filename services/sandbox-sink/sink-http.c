/* civetweb request handlers of the sandbox notification sink: JSON in, JSON out. */
#include "sink-http.h"

#include <civetweb.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "sandbox-http.h"

#define SINK_QUERY_MAX 256

struct SinkServer {
        struct mg_context *ctx;
        SinkStore *store;
};

/* Applies the configured latency, then the failure dice. A request whose latency runs past the
 * client's deadline records nothing (504): the client has given up and will send it again, so a
 * late record would only hide a lost answer. Returns 0 to go on, or the status answered. */
static int sink_behave(struct mg_connection *conn, SinkStore *st) {
        SinkConfig cfg;

        sink_store_get_config(st, &cfg);
        if (sandbox_delay_past_deadline(conn, cfg.latency_ms)) {
                sink_store_count_rejected(st);
                return sandbox_error(conn, 504, "latency_ms exceeds the client's deadline: nothing was recorded");
        }
        if (sink_store_should_fail(st)) {
                sink_store_count_rejected(st);
                return sandbox_error(conn, 503, "sandbox failure injected (failure_rate)");
        }
        return 0;
}

/* Records one checked message under `key`: the HTTP status it gets (201 new, 200 a duplicate, 507 full, 500). */
static int sink_record(SinkStore *st, const char *key, json_t *msg, size_t *seq, bool *duplicate) {
        int r = sink_store_add(st, key, msg, ids_now_ms(), duplicate, seq);
        if (r == 0)
                log_debug("message %s (%s) %s", json_string_value(json_object_get(msg, "id")), key,
                          *duplicate ? "again: not recorded twice" : "recorded");
        return r == 0 ? (*duplicate ? 200 : 201) : r == SINK_FULL ? 507 : 500;
}

/* Whether `msg` may be recorded, and under which key (`key` as given, else the message's "id"): 0 with *ret_key
 * set, or 400/413 with *why. `size_checked`: its size is already known to be within SINK_BODY_MAX. */
static int sink_message_admit(json_t *msg, bool size_checked, const char *key, const char **ret_key, const char **why) {
        if (sink_message_check(msg, why) < 0)
                return 400;
        if (!size_checked && json_dumpb(msg, NULL, 0, JSON_COMPACT) > SINK_BODY_MAX) {
                *why = "message too large";
                return 413;
        }
        if (!key || !*key)
                key = json_string_value(json_object_get(msg, "id"));
        if (strlen(key) > SINK_KEY_MAX) {
                *why = "idempotency key longer than 200 bytes";
                return 400;
        }
        *ret_key = key;
        return 0;
}

/* POST /messages {"messages":[{"idempotency_key","message"}, ...]}: a batch, behaving (latency, failures) as one
 * request; each message is checked and recorded on its own and gets its own status in "results", in order.
 * `small`: the whole body is within SINK_BODY_MAX, so no message in it can be larger (none is measured). */
static int sink_post_batch(struct mg_connection *conn, SinkStore *st, json_t *list, bool small) {
        size_t n = json_array_size(list), i;
        json_t *results, *item;
        int r;

        SinkConfig cfg;
        sink_store_get_config(st, &cfg);
        if (cfg.refuse_lists)
                return sandbox_error(conn, 400, "this provider takes one message per POST (refuse_lists)");
        if (n == 0 || n > SINK_BATCH_MAX)
                return sandbox_error(conn, 400, "messages must hold 1 to 256 messages");
        r = sink_behave(conn, st);
        if (r != 0)
                return r;
        sink_store_count_batch(st);
        results = json_array();
        json_array_foreach(list, i, item) {
                json_t *msg = json_object_get(item, "message");
                const char *key = json_string_value(json_object_get(item, "idempotency_key")), *why = "not recorded";
                bool duplicate = false;
                size_t seq = 0;
                int status;

                status = sink_message_admit(msg, small, key, &key, &why);
                if (status == 0)
                        status = sink_record(st, key, msg, &seq, &duplicate);
                json_array_append_new(results, status >= 400 ? json_pack("{s:i, s:s}", "status", status, "detail", why)
                                                             : json_pack("{s:i, s:I, s:b}", "status", status, "seq",
                                                                         (json_int_t)seq, "duplicate", duplicate));
        }
        return sandbox_reply(conn, 200, json_pack("{s:o}", "results", results));
}

/* POST /messages: one webhook, recorded once per idempotency key (the Idempotency-Key header, else
 * the body's "id"); or a batch of them (sink_post_batch). */
static int sink_post_message(struct mg_connection *conn, SinkStore *st) {
        json_t *doc = NULL;
        const char *why = NULL, *key;
        bool duplicate = false;
        size_t seq = 0;
        int r;

        r = sandbox_read_json(conn, SINK_BATCH_BODY_MAX, &doc);
        if (r != 0)
                return r;
        long long declared = mg_get_request_info(conn)->content_length;
        if (json_is_array(json_object_get(doc, "messages"))) {
                r = sink_post_batch(conn, st, json_object_get(doc, "messages"), declared >= 0 && declared <= SINK_BODY_MAX);
                goto out;
        }
        /* One message: at most SINK_BODY_MAX, as before batches (a chunked body is measured once parsed). */
        if (declared > SINK_BODY_MAX) {
                r = sandbox_error(conn, 413, "request body too large");
                goto out;
        }
        r = sink_message_admit(doc, declared >= 0, mg_get_header(conn, "Idempotency-Key"), &key, &why);
        if (r != 0) {
                r = sandbox_error(conn, r, why);
                goto out;
        }
        r = sink_behave(conn, st);
        if (r != 0)
                goto out;
        r = sink_record(st, key, doc, &seq, &duplicate);
        if (r < 300)
                r = sandbox_reply(conn, r, json_pack("{s:s, s:I, s:b}", "status", "accepted", "seq", (json_int_t)seq,
                                                     "duplicate", duplicate));
        else
                r = sandbox_error(conn, r, r == 507 ? "sandbox sink is full" : "sandbox sink error");
out:
        json_decref(doc);
        return r;
}

/* GET /messages[?customer_id=&order_id=] */
static int sink_get_messages(struct mg_connection *conn, SinkStore *st) {
        const struct mg_request_info *ri = mg_get_request_info(conn);
        const char *q = ri->query_string;
        char customer[SINK_QUERY_MAX], order[SINK_QUERY_MAX];
        int nc = -1, no = -1;

        if (q) {
                nc = mg_get_var(q, strlen(q), "customer_id", customer, sizeof(customer));
                no = mg_get_var(q, strlen(q), "order_id", order, sizeof(order));
                if (nc == -2 || no == -2)
                        return sandbox_error(conn, 400, "customer_id and order_id must be under 256 bytes");
        }
        return sandbox_reply(conn, 200, sink_store_dump(st, nc >= 0 ? customer : NULL, no >= 0 ? order : NULL));
}

static json_t *sink_config_json(const SinkConfig *c) {
        return json_pack("{s:I, s:f, s:b}", "latency_ms", (json_int_t)c->latency_ms, "failure_rate", c->failure_rate,
                         "refuse_lists", c->refuse_lists);
}

/* PUT /config: a partial update; absent fields keep their value. */
static int sink_put_config(struct mg_connection *conn, SinkStore *st) {
        json_t *doc = NULL;
        SinkConfig c;
        int r;

        r = sandbox_read_json(conn, SINK_BODY_MAX, &doc);
        if (r != 0)
                return r;
        sink_store_get_config(st, &c);
        r = sandbox_behaviour_update(conn, doc, &c.latency_ms, &c.failure_rate);
        if (r != 0)
                goto out;
        json_t *refuse = json_object_get(doc, "refuse_lists");
        if (refuse && !json_is_boolean(refuse)) {
                r = sandbox_error(conn, 400, "refuse_lists must be true or false");
                goto out;
        }
        if (refuse)
                c.refuse_lists = json_is_true(refuse);
        if (sink_store_set_config(st, &c) < 0) {
                r = sandbox_error(conn, 400, "latency_ms must be within 0..60000 and failure_rate within 0..1");
                goto out;
        }
        log_info("config: latency_ms=%lld failure_rate=%.3f refuse_lists=%s", (long long)c.latency_ms, c.failure_rate,
                 c.refuse_lists ? "true" : "false");
        r = sandbox_reply(conn, 200, sink_config_json(&c));
out:
        json_decref(doc);
        return r;
}

static int sink_handle(struct mg_connection *conn, void *cbdata) {
        SinkServer *s = cbdata;
        const struct mg_request_info *ri = mg_get_request_info(conn);
        const char *uri = ri->local_uri, *m = ri->request_method;
        bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0, put = strcmp(m, "PUT") == 0,
             del = strcmp(m, "DELETE") == 0;

        if (strcmp(uri, "/messages") == 0) {
                if (post)
                        return sink_post_message(conn, s->store);
                if (get)
                        return sink_get_messages(conn, s->store);
                if (del) {
                        sink_store_clear(s->store);
                        log_info("messages cleared");
                        return sandbox_reply(conn, 200, json_pack("{s:s}", "status", "cleared"));
                }
                return sandbox_error(conn, 405, "use POST, GET or DELETE");
        }
        if (strcmp(uri, "/config") == 0) {
                if (put)
                        return sink_put_config(conn, s->store);
                if (get) {
                        SinkConfig c;
                        sink_store_get_config(s->store, &c);
                        return sandbox_reply(conn, 200, sink_config_json(&c));
                }
                return sandbox_error(conn, 405, "use GET or PUT");
        }
        if (strcmp(uri, "/healthz") == 0)
                return get ? sandbox_reply(conn, 200, json_pack("{s:s}", "status", "ok")) : sandbox_error(conn, 405, "use GET");
        return sandbox_error(conn, 404, "no such endpoint");
}

int sink_server_start(SinkServer **ret, SinkStore *store, const SandboxServerConfig *cfg) {
        SinkServer *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->store = store;
        /* Idle kept-alive connections hold a civetweb thread each: let them go after 5 s. */
        s->ctx = sandbox_listen(cfg->bind_addr, cfg->port, cfg->threads, 5000, sink_handle, s);
        if (!s->ctx) {
                free(s);
                return -EADDRINUSE;
        }
        *ret = s;
        return 0;
}

void sink_server_stop(SinkServer *s) {
        if (!s)
                return;
        mg_stop(s->ctx);
        free(s);
}
