/* libcurl multi client of the notification webhook: one batch in parallel, connections kept alive. */
#include "notification-webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textbuf.h"

/* Tells the provider when we stop waiting (the sandbox sink then does nothing rather than record a
 * message we will send again); the same header as services/payment/payment-provider.c. */
#define WEBHOOK_TIMEOUT_HEADER "X-Request-Timeout-Ms"

struct NotifyWebhook {
        CURLM *multi;       /* owns the connection cache shared by the easy handles */
        CURL **easy;        /* max_parallel reused handles */
        struct curl_slist **headers;
        size_t max_parallel;
        char *url;
        char *auth_header; /* "Authorization: Bearer ..." or NULL */
        long timeout_ms;
        bool batch;
        TextBuf answer; /* batch mode: the answer's body, at most WEBHOOK_ANSWER_MAX */
};

#define WEBHOOK_ANSWER_MAX (1 << 20)

/* Batch mode: keeps the answer's body (its per-message statuses), up to WEBHOOK_ANSWER_MAX. */
static size_t keep(char *data, size_t size, size_t nmemb, void *userdata) {
        NotifyWebhook *w = userdata;
        size_t n = size * nmemb;
        if (w->answer.len + n > WEBHOOK_ANSWER_MAX)
                return 0; /* curl ends the transfer: no usable answer */
        textbuf_put(&w->answer, data, n);
        return w->answer.failed ? 0 : n;
}

/* Single mode: answers are not read, the status says all. Discard the body. */
static size_t discard(char *data, size_t size, size_t nmemb, void *userdata) {
        (void)data;
        (void)userdata;
        return size * nmemb;
}

int notify_webhook_new(NotifyWebhook **ret, const NotifyWebhookConfig *cfg) {
        NotifyWebhook *w;

        if (!cfg->url || (strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0) ||
            cfg->timeout_ms <= 0 || cfg->max_parallel <= 0)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->max_parallel = (size_t)cfg->max_parallel;
        w->timeout_ms = (long)cfg->timeout_ms;
        w->batch = cfg->batch;
        w->multi = curl_multi_init();
        w->easy = calloc(w->max_parallel, sizeof(*w->easy));
        w->headers = calloc(w->max_parallel, sizeof(*w->headers));
        w->url = strdup(cfg->url);
        if (!w->multi || !w->easy || !w->headers || !w->url)
                goto fail;
        if (cfg->api_key && *cfg->api_key) {
                size_t cap = strlen(cfg->api_key) + 32;
                w->auth_header = malloc(cap);
                if (!w->auth_header)
                        goto fail;
                snprintf(w->auth_header, cap, "Authorization: Bearer %s", cfg->api_key);
        }
        for (size_t i = 0; i < w->max_parallel; i++) {
                w->easy[i] = curl_easy_init();
                if (!w->easy[i])
                        goto fail;
        }
        curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)w->max_parallel);
        curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)w->max_parallel);
        *ret = w;
        return 0;
fail:
        notify_webhook_free(w);
        return -ENOMEM;
}

void notify_webhook_free(NotifyWebhook *w) {
        if (!w)
                return;
        for (size_t i = 0; w->easy && i < w->max_parallel; i++) {
                curl_easy_cleanup(w->easy[i]);
                curl_slist_free_all(w->headers[i]);
        }
        curl_multi_cleanup(w->multi);
        free(w->easy);
        free(w->headers);
        free(w->url);
        free(w->auth_header);
        textbuf_free(&w->answer);
        free(w);
}

static bool header_add(struct curl_slist **list, const char *line) {
        struct curl_slist *n = curl_slist_append(*list, line);
        if (!n)
                return false;
        *list = n;
        return true;
}

/* Sets up handle i to POST `body` (with an Idempotency-Key header when `key` is not NULL), its outcome going to
 * `rq`; false when out of memory. */
static bool request_prepare(NotifyWebhook *w, size_t i, const char *body, const char *key, NotifyRequest *rq) {
        char key_header[300], timeout_header[64];
        CURL *e = w->easy[i];

        curl_slist_free_all(w->headers[i]);
        w->headers[i] = NULL;
        snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s", key ? key : "");
        snprintf(timeout_header, sizeof(timeout_header), WEBHOOK_TIMEOUT_HEADER ": %ld", w->timeout_ms);
        if (!header_add(&w->headers[i], "Content-Type: application/json") ||
            (key && !header_add(&w->headers[i], key_header)) || !header_add(&w->headers[i], timeout_header) ||
            (w->auth_header && !header_add(&w->headers[i], w->auth_header)))
                return false;
        curl_easy_reset(e); /* options only: connections live in the multi handle's cache */
        curl_easy_setopt(e, CURLOPT_URL, w->url);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers[i]);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, w->timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, w->timeout_ms);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, w->batch ? keep : discard);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, w->batch ? (void *)w : NULL);
        curl_easy_setopt(e, CURLOPT_PRIVATE, rq);
        return true;
}

static void request_unsent(NotifyRequest *rq, const char *why) {
        rq->http_status = 0;
        rq->retry_after_ms = 0;
        snprintf(rq->error, sizeof(rq->error), "%s", why);
}

/* Runs the `added` transfers of the multi handle until each ended (curl enforces each one's timeout, so this ends
 * within timeout_ms) and writes each one's outcome to its request. */
static void transfers_run(NotifyWebhook *w, size_t added) {
        int running = 0, left;
        CURLMsg *m;

        do {
                if (curl_multi_perform(w->multi, &running) != CURLM_OK)
                        break;
                if (running > 0)
                        curl_multi_poll(w->multi, NULL, 0, 100, NULL);
        } while (running > 0);
        while ((m = curl_multi_info_read(w->multi, &left))) {
                NotifyRequest *rq = NULL;
                curl_off_t retry_after = 0;

                if (m->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&rq);
                if (!rq)
                        continue;
                if (m->data.result != CURLE_OK) {
                        request_unsent(rq, curl_easy_strerror(m->data.result));
                        continue;
                }
                curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &rq->http_status);
                if (curl_easy_getinfo(m->easy_handle, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
                    retry_after > 0 && retry_after < 86400)
                        rq->retry_after_ms = (int64_t)retry_after * 1000;
                if (rq->http_status >= 200 && rq->http_status <= 299)
                        rq->error[0] = 0;
                else
                        snprintf(rq->error, sizeof(rq->error), "webhook answered %ld", rq->http_status);
        }
        for (size_t i = 0; i < added; i++)
                curl_multi_remove_handle(w->multi, w->easy[i]);
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

        if (whole->http_status >= 200 && whole->http_status <= 299 && w->answer.len > 0 && !w->answer.failed)
                doc = json_loadb(w->answer.p, w->answer.len, 0, NULL);
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
        size_t added = 0;
        int r = 0;

        for (size_t i = 0; i < n; i++) {
                if (!request_prepare(w, i, reqs[i].body, reqs[i].key, &reqs[i]) ||
                    curl_multi_add_handle(w->multi, w->easy[i]) != CURLM_OK) {
                        for (size_t j = i; j < n; j++)
                                request_unsent(&reqs[j], "not sent: out of memory");
                        r = -ENOMEM;
                        break;
                }
                added++;
        }
        transfers_run(w, added);
        return r;
}

static int batch_send(NotifyWebhook *w, NotifyRequest *reqs, size_t n) {
        NotifyRequest whole;
        char *body = batch_body(reqs, n);

        request_unsent(&whole, "no answer");
        textbuf_reset(&w->answer);
        if (!body || !request_prepare(w, 0, body, NULL, &whole) || curl_multi_add_handle(w->multi, w->easy[0]) != CURLM_OK) {
                free(body);
                for (size_t i = 0; i < n; i++)
                        request_unsent(&reqs[i], "not sent: out of memory");
                return -ENOMEM;
        }
        transfers_run(w, 1);
        free(body);
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
