/* The notification webhook's client (lib/http-client): one batch in parallel, connections kept alive. */
#include "notification-webhook.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http-client.h"
#include "textbuf.h"

/* Tells the provider when we stop waiting (the sandbox sink then does nothing rather than record a
 * message we will send again); the same header as services/payment/payment-provider.c. */
#define WEBHOOK_TIMEOUT_HEADER "X-Request-Timeout-Ms"

#define WEBHOOK_ANSWER_MAX (1 << 20) /* batch mode: the answer's per-message statuses */

struct NotifyWebhook {
        HttpClient *http;     /* max_parallel kept-alive connections to the URL */
        HttpRequest *rqs;     /* max_parallel */
        TextBuf *headers;     /* max_parallel: each request's header lines */
        size_t max_parallel;
        char *auth_header; /* "Authorization: Bearer ...\r\n" or NULL */
        long timeout_ms;
        bool batch;
};

int notify_webhook_new(NotifyWebhook **ret, const NotifyWebhookConfig *cfg) {
        NotifyWebhook *w;
        int r;

        if (!cfg->url || cfg->timeout_ms <= 0 || cfg->max_parallel <= 0)
                return -EINVAL;
        if (cfg->api_key)
                for (const char *p = cfg->api_key; *p; p++)
                        if ((unsigned char)*p < 0x20 || *p == 0x7f)
                                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->max_parallel = (size_t)cfg->max_parallel;
        w->timeout_ms = (long)cfg->timeout_ms;
        w->batch = cfg->batch;
        r = http_client_new(&w->http, cfg->url, w->max_parallel, WEBHOOK_ANSWER_MAX);
        if (r < 0) {
                free(w);
                return r;
        }
        w->rqs = calloc(w->max_parallel, sizeof(*w->rqs));
        w->headers = calloc(w->max_parallel, sizeof(*w->headers));
        if (!w->rqs || !w->headers)
                goto fail;
        if (cfg->api_key && *cfg->api_key) {
                size_t cap = strlen(cfg->api_key) + 32;
                w->auth_header = malloc(cap);
                if (!w->auth_header)
                        goto fail;
                snprintf(w->auth_header, cap, "Authorization: Bearer %s\r\n", cfg->api_key);
        }
        *ret = w;
        return 0;
fail:
        notify_webhook_free(w);
        return -ENOMEM;
}

void notify_webhook_free(NotifyWebhook *w) {
        if (!w)
                return;
        for (size_t i = 0; i < w->max_parallel; i++) {
                if (w->rqs)
                        textbuf_free(&w->rqs[i].answer);
                if (w->headers)
                        textbuf_free(&w->headers[i]);
        }
        http_client_free(w->http);
        free(w->rqs);
        free(w->headers);
        free(w->auth_header);
        free(w);
}

/* Sets up request i to POST `body` (with an Idempotency-Key header when `key` is not NULL); false when out of
 * memory. */
static bool request_prepare(NotifyWebhook *w, size_t i, const char *body, const char *key) {
        char timeout_header[64];
        TextBuf *h = &w->headers[i];

        textbuf_reset(h);
        snprintf(timeout_header, sizeof(timeout_header), WEBHOOK_TIMEOUT_HEADER ": %ld\r\n", w->timeout_ms);
        textbuf_puts(h, "Content-Type: application/json\r\n");
        if (key) {
                textbuf_puts(h, "Idempotency-Key: ");
                textbuf_puts(h, key);
                textbuf_puts(h, "\r\n");
        }
        textbuf_puts(h, timeout_header);
        if (w->auth_header)
                textbuf_puts(h, w->auth_header);
        w->rqs[i] = (HttpRequest){.path = "", .headers = h->p, .body = body, .body_len = strlen(body),
                                  .answer = w->rqs[i].answer};
        return !h->failed;
}

static void request_unsent(NotifyRequest *rq, const char *why) {
        rq->http_status = 0;
        rq->retry_after_ms = 0;
        snprintf(rq->error, sizeof(rq->error), "%s", why);
}

/* The outcome of HTTP request i as notification request rq's. */
static void request_outcome(NotifyWebhook *w, size_t i, NotifyRequest *rq) {
        const HttpRequest *h = &w->rqs[i];
        if (h->status == 0) {
                request_unsent(rq, h->error);
                return;
        }
        rq->http_status = h->status;
        rq->retry_after_ms = h->retry_after_ms;
        if (rq->http_status >= 200 && rq->http_status <= 299)
                rq->error[0] = 0;
        else
                snprintf(rq->error, sizeof(rq->error), "webhook answered %ld", rq->http_status);
}

/* {"messages":[{"idempotency_key":<key>,"message":<body>}, ...]}: the bodies are JSON already. malloc'ed or NULL. */
static char *batch_body(const NotifyRequest *reqs, size_t n) {
        char **keys = calloc(n, sizeof(*keys));
        size_t len = 32;
        char *body = NULL, *p;

        if (!keys)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                json_t *k = json_string(reqs[i].key);
                keys[i] = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
                json_decref(k);
                if (!keys[i])
                        goto out;
                len += strlen(keys[i]) + strlen(reqs[i].body) + 40;
        }
        body = p = malloc(len);
        if (!body)
                goto out;
        p += sprintf(p, "{\"messages\":[");
        for (size_t i = 0; i < n; i++)
                p += sprintf(p, "%s{\"idempotency_key\":%s,\"message\":%s}", i ? "," : "", keys[i], reqs[i].body);
        sprintf(p, "]}");
out:
        for (size_t i = 0; i < n; i++)
                free(keys[i]);
        free(keys);
        return body;
}

/* Each request's outcome from the batch's answer `whole` and its per-message results. */
static void batch_outcomes(NotifyWebhook *w, const NotifyRequest *whole, NotifyRequest *reqs, size_t n) {
        json_t *doc = NULL, *results;

        const TextBuf *answer = &w->rqs[0].answer;
        if (whole->http_status >= 200 && whole->http_status <= 299 && answer->len > 0 && !answer->failed)
                doc = json_loadb(answer->p, answer->len, 0, NULL);
        results = json_object_get(doc, "results");
        for (size_t i = 0; i < n; i++) {
                NotifyRequest *rq = &reqs[i];
                json_t *st = json_object_get(json_array_get(results, i), "status");
                if (!(whole->http_status >= 200 && whole->http_status <= 299)) {
                        rq->http_status = whole->http_status;
                        rq->retry_after_ms = whole->retry_after_ms;
                        snprintf(rq->error, sizeof(rq->error), "%s", whole->error);
                } else if (json_array_size(results) != n || !json_is_integer(st) || json_integer_value(st) < 100 ||
                           json_integer_value(st) > 599) {
                        request_unsent(rq, "webhook answered without a status for each message");
                } else {
                        rq->http_status = (long)json_integer_value(st);
                        rq->retry_after_ms = whole->retry_after_ms;
                        if (rq->http_status >= 200 && rq->http_status <= 299)
                                rq->error[0] = 0;
                        else
                                snprintf(rq->error, sizeof(rq->error), "webhook answered %ld for this message",
                                         rq->http_status);
                }
        }
        json_decref(doc);
}

/* One POST per request, all at once. */
static int single_send(NotifyWebhook *w, NotifyRequest *reqs, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!request_prepare(w, i, reqs[i].body, reqs[i].key)) {
                        for (size_t j = 0; j < n; j++)
                                request_unsent(&reqs[j], "not sent: out of memory");
                        return -ENOMEM;
                }
        (void)http_client_post(w->http, w->rqs, n, w->timeout_ms);
        for (size_t i = 0; i < n; i++)
                request_outcome(w, i, &reqs[i]);
        return 0;
}

static int batch_send(NotifyWebhook *w, NotifyRequest *reqs, size_t n) {
        NotifyRequest whole;
        char *body = batch_body(reqs, n);

        request_unsent(&whole, "no answer");
        if (!body || !request_prepare(w, 0, body, NULL)) {
                free(body);
                for (size_t i = 0; i < n; i++)
                        request_unsent(&reqs[i], "not sent: out of memory");
                return -ENOMEM;
        }
        (void)http_client_post(w->http, w->rqs, 1, w->timeout_ms);
        free(body);
        request_outcome(w, 0, &whole);
        /* A list refused as a whole (one malformed row, a size limit, a provider that takes no lists): each row goes
         * again on its own, so that only a row the provider refuses fails. Anything else was meant for every row. */
        if (whole.http_status >= 400 && whole.http_status <= 499 && whole.http_status != 408 &&
            whole.http_status != 425 && whole.http_status != 429)
                return single_send(w, reqs, n); /* reqs still say "no answer": nothing was written to them */
        batch_outcomes(w, &whole, reqs, n);
        return 0;
}

int notify_webhook_send(NotifyWebhook *w, NotifyRequest *reqs, size_t n) {
        if (n > w->max_parallel)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                request_unsent(&reqs[i], "no answer");
        if (n == 0)
                return 0;
        return w->batch ? batch_send(w, reqs, n) : single_send(w, reqs, n);
}
