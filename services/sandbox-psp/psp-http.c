/* civetweb request handlers of the sandbox payment provider: JSON in, JSON out. */
#include "psp-http.h"

#include <civetweb.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sandbox-http.h"


struct PspServer {
        struct mg_context *ctx;
        PspLedger *ledger;
};

/* Applies the configured latency, then the failure dice. A request whose latency runs past the
 * client's deadline is not executed (504): the client has given up, and a charge it cannot learn
 * about would be money taken for an order that failed. Returns 0 to go on, or the status answered. */
static int psp_behave(struct mg_connection *conn, PspLedger *l) {
        PspConfig cfg;

        psp_ledger_get_config(l, &cfg);
        if (sandbox_delay_past_deadline(conn, cfg.latency_ms))
                return sandbox_error(conn, 504, "latency_ms exceeds the client's deadline: nothing was done");
        if (psp_ledger_should_fail(l))
                return sandbox_error(conn, 503, "sandbox failure injected (failure_rate)");
        return 0;
}

/* The idempotency key from the body, else from the Idempotency-Key header. */
static const char *psp_key(struct mg_connection *conn, json_t *doc) {
        const char *k = json_string_value(json_object_get(doc, "idempotency_key"));
        return k ? k : mg_get_header(conn, "Idempotency-Key");
}

static int psp_charges(struct mg_connection *conn, PspLedger *l) {
        json_t *doc = NULL, *amount;
        const char *key, *token;
        PspChargeResult res;
        int r;

        r = sandbox_read_json(conn, PSP_BODY_MAX, &doc);
        if (r != 0)
                return r;
        key = psp_key(conn, doc);
        amount = json_object_get(doc, "amount");
        token = json_string_value(json_object_get(doc, "card_token"));
        if (!key || !*key || strlen(key) >= PSP_KEY_MAX)
                r = sandbox_error(conn, 400, "idempotency_key must be a non-empty string under 200 bytes");
        else if (!json_is_integer(amount) || json_integer_value(amount) < 0)
                r = sandbox_error(conn, 400, "amount must be a non-negative integer (KRW)");
        else if (!token || strlen(token) >= PSP_KEY_MAX)
                r = sandbox_error(conn, 400, "card_token must be a string");
        if (r != 0)
                goto out;
        r = psp_behave(conn, l);
        if (r != 0)
                goto out;
        r = psp_ledger_charge(l, key, json_integer_value(amount), token, &res);
        if (r == 0 && res.approved) {
                log_debug("charge %s approved: %lld", res.id, (long long)res.amount);
                r = sandbox_reply(conn, 201, json_pack("{s:s, s:s, s:I}", "id", res.id, "status", "approved", "amount",
                                                   (json_int_t)res.amount));
        } else if (r == 0) {
                log_debug("charge %s declined", res.id);
                r = sandbox_reply(conn, 402, json_pack("{s:s, s:s, s:s, s:I}", "id", res.id, "status", "declined",
                                                   "reason", "card declined", "amount", (json_int_t)res.amount));
        } else if (r == PSP_MISMATCH)
                r = sandbox_error(conn, 422, "idempotency_key was already used with another amount or card_token");
        else if (r == PSP_FULL)
                r = sandbox_error(conn, 507, "sandbox ledger is full");
        else
                r = sandbox_error(conn, 500, "sandbox ledger error");
out:
        json_decref(doc);
        return r;
}

static int psp_refunds(struct mg_connection *conn, PspLedger *l) {
        json_t *doc = NULL, *amount;
        const char *key, *charge_id;
        PspRefundResult res;
        int r;

        r = sandbox_read_json(conn, PSP_BODY_MAX, &doc);
        if (r != 0)
                return r;
        key = psp_key(conn, doc);
        amount = json_object_get(doc, "amount");
        charge_id = json_string_value(json_object_get(doc, "charge_id"));
        if (!key || !*key || strlen(key) >= PSP_KEY_MAX)
                r = sandbox_error(conn, 400, "idempotency_key must be a non-empty string under 200 bytes");
        else if (!json_is_integer(amount) || json_integer_value(amount) <= 0)
                r = sandbox_error(conn, 400, "amount must be a positive integer (KRW)");
        else if (!charge_id || !*charge_id)
                r = sandbox_error(conn, 400, "charge_id must be a non-empty string");
        if (r != 0)
                goto out;
        r = psp_behave(conn, l);
        if (r != 0)
                goto out;
        r = psp_ledger_refund(l, key, charge_id, json_integer_value(amount), &res);
        switch (r) {
        case 0:
                log_debug("refund %s of %s: %lld", res.id, res.charge_id, (long long)res.amount);
                r = sandbox_reply(conn, 201, json_pack("{s:s, s:s, s:s, s:I}", "id", res.id, "status", "refunded",
                                                   "charge_id", res.charge_id, "amount", (json_int_t)res.amount));
                break;
        case PSP_MISMATCH:
                r = sandbox_error(conn, 422, "idempotency_key was already used with another charge_id or amount");
                break;
        case PSP_NO_CHARGE:
                r = sandbox_error(conn, 404, "no such charge");
                break;
        case PSP_NOT_REFUNDABLE:
                r = sandbox_error(conn, 409, "charge was declined: nothing to refund");
                break;
        case PSP_OVER_REFUND:
                r = sandbox_error(conn, 409, "refund exceeds the charged amount not yet refunded");
                break;
        case PSP_FULL:
                r = sandbox_error(conn, 507, "sandbox ledger is full");
                break;
        case -EINVAL:
                r = sandbox_error(conn, 400, "charge_id is too long");
                break;
        default:
                r = sandbox_error(conn, 500, "sandbox ledger error");
                break;
        }
out:
        json_decref(doc);
        return r;
}

static json_t *psp_config_json(const PspConfig *c) {
        return json_pack("{s:I, s:f}", "latency_ms", (json_int_t)c->latency_ms, "failure_rate", c->failure_rate);
}

/* PUT /config: a partial update; absent fields keep their value. */
static int psp_put_config(struct mg_connection *conn, PspLedger *l) {
        json_t *doc = NULL;
        PspConfig c;
        int r;

        r = sandbox_read_json(conn, PSP_BODY_MAX, &doc);
        if (r != 0)
                return r;
        psp_ledger_get_config(l, &c);
        r = sandbox_behaviour_update(conn, doc, &c.latency_ms, &c.failure_rate);
        if (r != 0)
                goto out;
        if (psp_ledger_set_config(l, &c) < 0) {
                r = sandbox_error(conn, 400, "latency_ms must be within 0..60000 and failure_rate within 0..1");
                goto out;
        }
        log_info("config: latency_ms=%lld failure_rate=%.3f", (long long)c.latency_ms, c.failure_rate);
        r = sandbox_reply(conn, 200, psp_config_json(&c));
out:
        json_decref(doc);
        return r;
}

static int psp_handle(struct mg_connection *conn, void *cbdata) {
        PspServer *s = cbdata;
        const struct mg_request_info *ri = mg_get_request_info(conn);
        const char *uri = ri->local_uri, *m = ri->request_method;
        bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0, put = strcmp(m, "PUT") == 0;

        if (strcmp(uri, "/charges") == 0)
                return post ? psp_charges(conn, s->ledger) : sandbox_error(conn, 405, "use POST");
        if (strcmp(uri, "/refunds") == 0)
                return post ? psp_refunds(conn, s->ledger) : sandbox_error(conn, 405, "use POST");
        if (strcmp(uri, "/config") == 0) {
                if (put)
                        return psp_put_config(conn, s->ledger);
                if (get) {
                        PspConfig c;
                        psp_ledger_get_config(s->ledger, &c);
                        return sandbox_reply(conn, 200, psp_config_json(&c));
                }
                return sandbox_error(conn, 405, "use GET or PUT");
        }
        if (strcmp(uri, "/ledger") == 0)
                return get ? sandbox_reply(conn, 200, psp_ledger_dump(s->ledger)) : sandbox_error(conn, 405, "use GET");
        if (strcmp(uri, "/healthz") == 0)
                return get ? sandbox_reply(conn, 200, json_pack("{s:s}", "status", "ok")) : sandbox_error(conn, 405, "use GET");
        return sandbox_error(conn, 404, "no such endpoint");
}

int psp_server_start(PspServer **ret, PspLedger *ledger, const SandboxServerConfig *cfg) {
        PspServer *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->ledger = ledger;
        s->ctx = sandbox_listen(cfg->bind_addr, cfg->port, cfg->threads, 30000, psp_handle, s);
        if (!s->ctx) {
                free(s);
                return -EADDRINUSE;
        }
        *ret = s;
        return 0;
}

void psp_server_stop(PspServer *s) {
        if (!s)
                return;
        mg_stop(s->ctx);
        free(s);
}
