/* libcurl multi client of the notification webhook: one batch in parallel, connections kept alive. */
#include "notification-webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
};

/* Answers are not read: the status says all. Discard the body. */
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
        free(w);
}

static bool header_add(struct curl_slist **list, const char *line) {
        struct curl_slist *n = curl_slist_append(*list, line);
        if (!n)
                return false;
        *list = n;
        return true;
}

/* Sets up handle i for reqs[i]; false when out of memory. */
static bool request_prepare(NotifyWebhook *w, size_t i, NotifyRequest *rq) {
        char key_header[300], timeout_header[64];
        CURL *e = w->easy[i];

        curl_slist_free_all(w->headers[i]);
        w->headers[i] = NULL;
        snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s", rq->key);
        snprintf(timeout_header, sizeof(timeout_header), WEBHOOK_TIMEOUT_HEADER ": %ld", w->timeout_ms);
        if (!header_add(&w->headers[i], "Content-Type: application/json") ||
            !header_add(&w->headers[i], key_header) || !header_add(&w->headers[i], timeout_header) ||
            (w->auth_header && !header_add(&w->headers[i], w->auth_header)))
                return false;
        curl_easy_reset(e); /* options only: connections live in the multi handle's cache */
        curl_easy_setopt(e, CURLOPT_URL, w->url);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(rq->body));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers[i]);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, w->timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, w->timeout_ms);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_PRIVATE, rq);
        return true;
}

static void request_unsent(NotifyRequest *rq, const char *why) {
        rq->http_status = 0;
        rq->retry_after_ms = 0;
        snprintf(rq->error, sizeof(rq->error), "%s", why);
}

int notify_webhook_send(NotifyWebhook *w, NotifyRequest *reqs, size_t n) {
        size_t added = 0;
        int running = 0, left;
        CURLMsg *m;
        int r = 0;

        if (n > w->max_parallel)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                request_unsent(&reqs[i], "no answer");
        }
        for (size_t i = 0; i < n; i++) {
                if (!request_prepare(w, i, &reqs[i]) || curl_multi_add_handle(w->multi, w->easy[i]) != CURLM_OK) {
                        for (size_t j = i; j < n; j++)
                                request_unsent(&reqs[j], "not sent: out of memory");
                        r = -ENOMEM;
                        break;
                }
                added++;
        }
        /* curl enforces each transfer's timeout, so this loop ends within timeout_ms. */
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
        return r;
}
