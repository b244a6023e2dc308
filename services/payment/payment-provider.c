/* libcurl client of the payment provider API and the pure parsing of its answers. */
#include "payment-provider.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textbuf.h"

#define PROVIDER_RESPONSE_MAX (64 * 1024) /* a provider answer is a small JSON object */
/* Tells the provider when we stop waiting: the sandbox does not execute a request it would answer
 * after that (header name shared with services/sandbox-psp/psp-http.c); others ignore it. */
#define PROVIDER_TIMEOUT_HEADER "X-Request-Timeout-Ms"

struct PaymentProvider {
        char *charges_url;
        char *refunds_url;
        char *auth_header; /* "Authorization: Bearer ..." or NULL */
        long timeout_ms;
        pthread_key_t conn_key; /* the calling thread's Conn */
};

/* One reused easy handle (and so one keep-alive connection) per calling thread. */
typedef struct {
        CURL *easy;
        TextBuf answer;
        bool overflow;
} Conn;

static void conn_free(void *p) {
        Conn *c = p;
        if (!c)
                return;
        curl_easy_cleanup(c->easy);
        textbuf_free(&c->answer);
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

static char *join_url(const char *base, const char *path) {
        size_t n = strlen(base);
        while (n > 0 && base[n - 1] == '/')
                n--;
        size_t cap = n + strlen(path) + 1;
        char *s = malloc(cap);
        if (s)
                snprintf(s, cap, "%.*s%s", (int)n, base, path);
        return s;
}

int payment_provider_new(PaymentProvider **ret, const PaymentProviderConfig *cfg) {
        PaymentProvider *p;

        if (!cfg->url || strncmp(cfg->url, "http", 4) != 0 || cfg->timeout_ms <= 0)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->timeout_ms = (long)cfg->timeout_ms;
        p->charges_url = join_url(cfg->url, "/charges");
        p->refunds_url = join_url(cfg->url, "/refunds");
        if (cfg->api_key && *cfg->api_key) {
                size_t cap = strlen(cfg->api_key) + 32;
                p->auth_header = malloc(cap);
                if (p->auth_header)
                        snprintf(p->auth_header, cap, "Authorization: Bearer %s", cfg->api_key);
        }
        if (!p->charges_url || !p->refunds_url || (cfg->api_key && *cfg->api_key && !p->auth_header) ||
            pthread_key_create(&p->conn_key, conn_free) != 0) {
                free(p->charges_url);
                free(p->refunds_url);
                free(p->auth_header);
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
        free(p->charges_url);
        free(p->refunds_url);
        free(p->auth_header);
        free(p);
}

static size_t conn_write(char *data, size_t size, size_t nmemb, void *userdata) {
        Conn *c = userdata;
        size_t n = size * nmemb;
        if (c->answer.len + n > PROVIDER_RESPONSE_MAX) {
                c->overflow = true;
                return 0; /* aborts the transfer */
        }
        textbuf_put(&c->answer, data, n);
        return c->answer.failed ? 0 : n;
}

static Conn *conn_get(PaymentProvider *p) {
        Conn *c = pthread_getspecific(p->conn_key);
        if (c)
                return c;
        c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->easy = curl_easy_init();
        if (!c->easy || pthread_setspecific(p->conn_key, c) != 0) {
                conn_free(c);
                return NULL;
        }
        return c;
}

static bool header_add(struct curl_slist **list, const char *line) {
        struct curl_slist *n = curl_slist_append(*list, line);
        if (!n)
                return false;
        *list = n;
        return true;
}

/* A value that cannot break out of its header line. */
static bool header_safe(const char *v) {
        for (; *v; v++)
                if ((unsigned char)*v < 0x20 || *v == 0x7f)
                        return false;
        return true;
}

/* POSTs `doc` (stolen) to `url`; fills *status and leaves the answer in c->answer, or fills
 * *out as unreachable and returns 1. Returns 0 on an HTTP answer, 1 without one, -ENOMEM. */
static int provider_post(PaymentProvider *p, Conn *c, const char *url, json_t *doc, const char *idempotency_key,
                         long *status, PaymentResult *out) {
        struct curl_slist *headers = NULL;
        char key_header[300], timeout_header[64];
        char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        CURLcode cc;
        int r = 0;

        json_decref(doc);
        if (!body)
                return -ENOMEM;
        snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s", idempotency_key);
        snprintf(timeout_header, sizeof(timeout_header), PROVIDER_TIMEOUT_HEADER ": %ld", p->timeout_ms);
        if (!header_add(&headers, "Content-Type: application/json") || !header_add(&headers, timeout_header) ||
            (header_safe(idempotency_key) && !header_add(&headers, key_header)) ||
            (p->auth_header && !header_add(&headers, p->auth_header))) {
                r = -ENOMEM;
                goto out;
        }
        textbuf_reset(&c->answer);
        c->overflow = false;
        curl_easy_reset(c->easy); /* options only: the connection cache survives */
        curl_easy_setopt(c->easy, CURLOPT_URL, url);
        curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, p->timeout_ms);
        curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms);
        curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
        curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, conn_write);
        curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
        cc = curl_easy_perform(c->easy);
        if (cc != CURLE_OK) {
                payment_result_unreachable(c->overflow ? "answer larger than 64 KiB" : curl_easy_strerror(cc), out);
                r = 1;
                goto out;
        }
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, status);
out:
        curl_slist_free_all(headers);
        free(body);
        return r;
}

int payment_provider_charge(PaymentProvider *p, const char *idempotency_key, int64_t amount, const char *card_token,
                            PaymentResult *out) {
        Conn *c = conn_get(p);
        long status = 0;
        int r;

        if (!c)
                return -ENOMEM;
        r = provider_post(p, c, p->charges_url,
                          json_pack("{s:s, s:I, s:s}", "idempotency_key", idempotency_key, "amount",
                                    (json_int_t)amount, "card_token", card_token ? card_token : ""),
                          idempotency_key, &status, out);
        if (r == 0)
                payment_parse_charge(status, c->answer.p, c->answer.len, out);
        return r < 0 ? r : 0;
}

int payment_provider_refund(PaymentProvider *p, const char *idempotency_key, const char *charge_id, int64_t amount,
                            PaymentResult *out) {
        Conn *c = conn_get(p);
        long status = 0;
        int r;

        if (!c)
                return -ENOMEM;
        r = provider_post(p, c, p->refunds_url,
                          json_pack("{s:s, s:s, s:I}", "idempotency_key", idempotency_key, "charge_id", charge_id,
                                    "amount", (json_int_t)amount),
                          idempotency_key, &status, out);
        if (r == 0)
                payment_parse_refund(status, c->answer.p, c->answer.len, out);
        return r < 0 ? r : 0;
}
