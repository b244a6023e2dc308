/* The HTTP client of the payment provider API (lib/http-client) and the pure parsing of its answers. */
#include "payment-provider.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http-client.h"
#include "textbuf.h"

#define PROVIDER_RESPONSE_MAX (64 * 1024) /* a provider answer is a small JSON object */

struct PaymentProvider {
        HttpClientConfig http; /* its url and bearer copied */
        long timeout_ms;
        pthread_key_t conn_key; /* the calling thread's Conn */
};

/* One client (and so one keep-alive connection) per calling thread. */
typedef struct {
        HttpClient *http;
        HttpRequest rq;
} Conn;

static void conn_free(void *p) {
        Conn *c = p;
        if (!c)
                return;
        http_client_free(c->http);
        textbuf_free(&c->rq.answer);
        free(c);
}

static void copy_str(char *dst, size_t cap, const char *src) {
        snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- pure parsing ------------------------------------------------------------------------------- */

static void result_init(PaymentResult *out) {
        memset(out, 0, sizeof(*out));
        out->outcome = PAYMENT_FAILED;
}

static bool status_retryable(long s) {
        return s == 408 || s == 425 || s == 429 || s >= 500;
}

/* The provider's own words, if its body says why ("reason", "error" or "message"). */
static void body_reason(json_t *doc, long http_status, const char *fallback, PaymentResult *out) {
        const char *why = json_string_value(json_object_get(doc, "reason"));
        if (!why)
                why = json_string_value(json_object_get(doc, "error"));
        if (!why)
                why = json_string_value(json_object_get(doc, "message"));
        if (why && *why)
                snprintf(out->reason, sizeof(out->reason), "provider %ld: %s", http_status, why);
        else
                snprintf(out->reason, sizeof(out->reason), "provider %ld: %s", http_status, fallback);
}

/* Shared by charges and refunds: `ok_status` is the "status" a success carries. */
static void parse_answer(long http_status, const char *body, size_t len, const char *ok_status, bool declinable,
                         PaymentResult *out) {
        json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
        json_t *id, *amount;
        const char *status;

        result_init(out);
        if (!json_is_object(doc)) {
                json_decref(doc);
                doc = NULL;
        }
        if (http_status == 200 || http_status == 201) {
                id = json_object_get(doc, "id");
                amount = json_object_get(doc, "amount");
                status = json_string_value(json_object_get(doc, "status"));
                if (json_is_string(id) && *json_string_value(id) &&
                    strlen(json_string_value(id)) < sizeof(out->id) && json_is_integer(amount) &&
                    json_integer_value(amount) >= 0 && status && strcmp(status, ok_status) == 0) {
                        out->outcome = PAYMENT_OK;
                        copy_str(out->id, sizeof(out->id), json_string_value(id));
                        out->amount = json_integer_value(amount);
                } else if (declinable && status && strcmp(status, "declined") == 0) {
                        out->outcome = PAYMENT_DECLINED;
                        copy_str(out->id, sizeof(out->id), json_string_value(id));
                        body_reason(doc, http_status, "declined", out);
                } else {
                        /* A success we cannot read: the same key asked again gets the same answer. */
                        out->retryable = true;
                        snprintf(out->reason, sizeof(out->reason), "provider %ld: unreadable success answer",
                                 http_status);
                }
        } else if (http_status == 402 && declinable) {
                out->outcome = PAYMENT_DECLINED;
                copy_str(out->id, sizeof(out->id), json_string_value(json_object_get(doc, "id")));
                body_reason(doc, http_status, "declined", out);
        } else {
                out->retryable = status_retryable(http_status);
                body_reason(doc, http_status, out->retryable ? "unavailable" : "rejected the request", out);
        }
        json_decref(doc);
}

void payment_parse_charge(long http_status, const char *body, size_t len, PaymentResult *out) {
        parse_answer(http_status, body, len, "approved", true, out);
}

void payment_parse_refund(long http_status, const char *body, size_t len, PaymentResult *out) {
        parse_answer(http_status, body, len, "refunded", false, out);
}

void payment_result_unreachable(const char *what, PaymentResult *out) {
        result_init(out);
        out->retryable = true;
        snprintf(out->reason, sizeof(out->reason), "provider unreachable: %s", what && *what ? what : "no answer");
}

/* ---- HTTP ---------------------------------------------------------------------------------------- */

int payment_provider_new(PaymentProvider **ret, const PaymentProviderConfig *cfg) {
        PaymentProvider *p;
        HttpClient *probe = NULL;
        int r;

        HttpClientConfig http = {.url = cfg->url, .bearer = cfg->api_key, .max_conns = 1,
                                 .max_answer = PROVIDER_RESPONSE_MAX};

        if (!cfg->url || cfg->timeout_ms <= 0)
                return -EINVAL;
        r = http_client_new(&probe, &http); /* the URL and key checked once, here */
        http_client_free(probe);
        if (r < 0)
                return r;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->timeout_ms = (long)cfg->timeout_ms;
        p->http = http;
        p->http.url = strdup(cfg->url);
        p->http.bearer = cfg->api_key ? strdup(cfg->api_key) : NULL;
        if (!p->http.url || (cfg->api_key && !p->http.bearer) || pthread_key_create(&p->conn_key, conn_free) != 0) {
                free((char *)p->http.url);
                free((char *)p->http.bearer);
                free(p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

void payment_provider_free(PaymentProvider *p) {
        if (!p)
                return;
        conn_free(pthread_getspecific(p->conn_key)); /* the calling thread's own, if it made requests */
        pthread_setspecific(p->conn_key, NULL);
        pthread_key_delete(p->conn_key);
        free((char *)p->http.url);
        free((char *)p->http.bearer);
        free(p);
}

static Conn *conn_get(PaymentProvider *p) {
        Conn *c = pthread_getspecific(p->conn_key);
        if (c)
                return c;
        c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        if (http_client_new(&c->http, &p->http) < 0 || pthread_setspecific(p->conn_key, c) != 0) {
                conn_free(c);
                return NULL;
        }
        return c;
}

/* POSTs `doc` (stolen) to the provider's `path`; fills *status and leaves the answer in c->rq.answer, or fills
 * *out as unreachable and returns 1. Returns 0 on an HTTP answer, 1 without one, -ENOMEM. */
static int provider_post(PaymentProvider *p, Conn *c, const char *path, json_t *doc, const char *idempotency_key,
                         long *status, PaymentResult *out) {
        char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

        json_decref(doc);
        if (!body)
                return -ENOMEM;
        c->rq.path = path;
        c->rq.key = idempotency_key;
        c->rq.body = body;
        c->rq.body_len = strlen(body);
        (void)http_client_post(c->http, &c->rq, 1, p->timeout_ms);
        free(body);
        if (c->rq.status == 0) {
                payment_result_unreachable(c->rq.error, out);
                return 1;
        }
        *status = c->rq.status;
        return 0;
}

int payment_provider_charge(PaymentProvider *p, const char *idempotency_key, int64_t amount, const char *card_token,
                            PaymentResult *out) {
        Conn *c = conn_get(p);
        long status = 0;
        int r;

        if (!c)
                return -ENOMEM;
        r = provider_post(p, c, "/charges",
                          json_pack("{s:s, s:I, s:s}", "idempotency_key", idempotency_key, "amount",
                                    (json_int_t)amount, "card_token", card_token ? card_token : ""),
                          idempotency_key, &status, out);
        if (r == 0)
                payment_parse_charge(status, c->rq.answer.p, c->rq.answer.len, out);
        return r < 0 ? r : 0;
}

int payment_provider_refund(PaymentProvider *p, const char *idempotency_key, const char *charge_id, int64_t amount,
                            PaymentResult *out) {
        Conn *c = conn_get(p);
        long status = 0;
        int r;

        if (!c)
                return -ENOMEM;
        r = provider_post(p, c, "/refunds",
                          json_pack("{s:s, s:s, s:I}", "idempotency_key", idempotency_key, "charge_id", charge_id,
                                    "amount", (json_int_t)amount),
                          idempotency_key, &status, out);
        if (r == 0)
                payment_parse_refund(status, c->rq.answer.p, c->rq.answer.len, out);
        return r < 0 ? r : 0;
}
