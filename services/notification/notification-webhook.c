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

#define WEBHOOK_ANSWER_MAX (1 << 20) /* batch mode: the answer's per-message statuses */

struct NotifyWebhook {
        HttpClient *http; /* max_parallel kept-alive connections to the URL */
        HttpRequest *rqs; /* max_parallel */
        size_t max_parallel;
        long timeout_ms;
        bool batch;
};

int notify_webhook_new(NotifyWebhook **ret, const NotifyWebhookConfig *cfg) {
        HttpClientConfig http = {.url = cfg->url, .bearer = cfg->api_key, .max_answer = WEBHOOK_ANSWER_MAX};
        NotifyWebhook *w;
        int r;

        if (!cfg->url || cfg->timeout_ms <= 0 || cfg->max_parallel <= 0)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->max_parallel = http.max_conns = (size_t)cfg->max_parallel;
        w->timeout_ms = (long)cfg->timeout_ms;
        w->batch = cfg->batch;
        r = http_client_new(&w->http, &http);
        if (r < 0) {
                free(w);
                return r;
        }
        w->rqs = calloc(w->max_parallel, sizeof(*w->rqs));
        if (!w->rqs) {
                notify_webhook_free(w);
                return -ENOMEM;
        }
        *ret = w;
        return 0;
}

void notify_webhook_free(NotifyWebhook *w) {
        if (!w)
                return;
        for (size_t i = 0; w->rqs && i < w->max_parallel; i++)
                textbuf_free(&w->rqs[i].answer);
        http_client_free(w->http);
        free(w->rqs);
        free(w);
}

/* Sets up request i to POST `body` (with an Idempotency-Key header when `key` is not NULL). */
static void request_prepare(NotifyWebhook *w, size_t i, const char *body, const char *key) {
        w->rqs[i] = (HttpRequest){.path = "", .key = key, .body = body, .body_len = strlen(body),
                                  .answer = w->rqs[i].answer};
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
                request_prepare(w, i, reqs[i].body, reqs[i].key);
        (void)http_client_post(w->http, w->rqs, n, w->timeout_ms);
        for (size_t i = 0; i < n; i++)
                request_outcome(w, i, &reqs[i]);
        return 0;
}

static int batch_send(NotifyWebhook *w, NotifyRequest *reqs, size_t n) {
        NotifyRequest whole;
        char *body = batch_body(reqs, n);

        request_unsent(&whole, "no answer");
        if (!body) {
                for (size_t i = 0; i < n; i++)
                        request_unsent(&reqs[i], "not sent: out of memory");
                return -ENOMEM;
        }
        request_prepare(w, 0, body, NULL);
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
