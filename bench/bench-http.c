/* libcurl multi driver: a pool of reusable easy handles sharing the multi's keep-alive connection cache. */
#include "bench-http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct HttpReq HttpReq;
struct HttpReq {
        Http *http;
        CURL *easy;
        struct curl_slist *headers;
        char *buf; /* response body, NUL-terminated */
        size_t len, cap;
        bool overflow;
        char error[CURL_ERROR_SIZE];
        int64_t started_us;
        HttpDoneFn done;
        void *userdata;
        HttpReq *next_free;
};

struct Http {
        CURLM *multi;
        const char *base_url;
        long timeout_ms;
        size_t in_flight;
        HttpReq *free_list;
        HttpReq **all; /* every request ever made, for http_free */
        size_t n_all, cap_all;
        uint64_t bytes_sent, bytes_received; /* see http_bytes */
};

int64_t http_now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int http_new(Http **ret, const char *base_url, unsigned max_conns, long timeout_ms) {
        static bool curl_ready;
        if (!curl_ready) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return -EIO;
                curl_ready = true;
        }
        Http *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->multi = curl_multi_init();
        if (!h->multi) {
                free(h);
                return -EIO;
        }
        h->base_url = base_url;
        h->timeout_ms = timeout_ms;
        /* Enough cached connections that no virtual user's connection is ever closed for lack of room. */
        curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)max_conns + 8);
        *ret = h;
        return 0;
}

void http_free(Http *h) {
        if (!h)
                return;
        for (size_t i = 0; i < h->n_all; i++) {
                HttpReq *r = h->all[i];
                curl_multi_remove_handle(h->multi, r->easy); /* harmless for a handle not in the multi */
                curl_easy_cleanup(r->easy);
                curl_slist_free_all(r->headers);
                free(r->buf);
                free(r);
        }
        free(h->all);
        curl_multi_cleanup(h->multi);
        free(h);
}

size_t http_in_flight(const Http *h) {
        return h->in_flight;
}

void http_bytes(const Http *h, uint64_t *sent, uint64_t *received) {
        *sent = h->bytes_sent;
        *received = h->bytes_received;
}

/* libcurl's trace hook sees the bytes a transfer writes to and reads from its connection, headers and data apart.
 * The getinfo sizes are no substitute: CURLINFO_REQUEST_SIZE holds a POST body or not depending on its size and
 * the libcurl version, and CURLINFO_SIZE_DOWNLOAD counts the body after transfer decoding. */
static int on_trace(CURL *easy, curl_infotype type, char *data, size_t size, void *userdata) {
        (void)easy;
        (void)data;
        Http *h = userdata;
        if (type == CURLINFO_HEADER_OUT || type == CURLINFO_DATA_OUT)
                h->bytes_sent += size;
        else if (type == CURLINFO_HEADER_IN || type == CURLINFO_DATA_IN)
                h->bytes_received += size;
        return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
        HttpReq *r = userdata;
        size_t n = size * nmemb;
        if (n > HTTP_BODY_MAX - r->len) {
                r->overflow = true;
                return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
        }
        if (r->len + n + 1 > r->cap) {
                size_t cap = r->cap ? r->cap : 4096;
                while (cap < r->len + n + 1)
                        cap *= 2;
                char *b = realloc(r->buf, cap);
                if (!b)
                        return 0;
                r->buf = b;
                r->cap = cap;
        }
        memcpy(r->buf + r->len, data, n);
        r->len += n;
        r->buf[r->len] = '\0';
        return n;
}

/* A request object from the free list or a new one; NULL on ENOMEM. */
static HttpReq *req_get(Http *h) {
        HttpReq *r = h->free_list;
        if (r) {
                h->free_list = r->next_free;
                curl_easy_reset(r->easy);
                return r;
        }
        if (h->n_all == h->cap_all) {
                size_t cap = h->cap_all ? h->cap_all * 2 : 64;
                HttpReq **all = realloc(h->all, cap * sizeof(*all));
                if (!all)
                        return NULL;
                h->all = all;
                h->cap_all = cap;
        }
        r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        r->easy = curl_easy_init();
        if (!r->easy) {
                free(r);
                return NULL;
        }
        r->http = h;
        h->all[h->n_all++] = r;
        return r;
}

static void req_put(Http *h, HttpReq *r) {
        curl_slist_free_all(r->headers);
        r->headers = NULL;
        r->done = NULL;
        r->userdata = NULL;
        r->next_free = h->free_list;
        h->free_list = r;
}

/* Appends "name: value" to the request's header list. 0 or -ENOMEM / -EINVAL (too long). */
static int req_header(HttpReq *r, const char *name, const char *value) {
        char line[HTTP_TOKEN_MAX + 64];
        int n = snprintf(line, sizeof(line), "%s: %s", name, value);
        if (n < 0 || (size_t)n >= sizeof(line))
                return -EINVAL;
        struct curl_slist *l = curl_slist_append(r->headers, line);
        if (!l)
                return -ENOMEM;
        r->headers = l;
        return 0;
}

int http_send(Http *h, const char *method, const char *path, const char *token, const char *idempotency_key,
              const char *body, HttpDoneFn done, void *userdata) {
        char url[HTTP_URL_MAX];
        int n = snprintf(url, sizeof(url), "%s%s", h->base_url, path);
        if (n < 0 || (size_t)n >= sizeof(url))
                return -EINVAL;
        bool post = strcmp(method, "POST") == 0;
        if (!post && strcmp(method, "GET") != 0)
                return -EINVAL;
        HttpReq *r = req_get(h);
        if (!r)
                return -ENOMEM;
        int ret = 0;
        r->len = 0;
        r->overflow = false;
        r->error[0] = '\0';
        if (r->buf)
                r->buf[0] = '\0';
        /* curl would add "Expect: 100-continue" for larger bodies: one more round trip per request. */
        if ((ret = req_header(r, "Expect", "")) < 0 || (ret = req_header(r, "Accept", "application/json")) < 0)
                goto out;
        if (token) {
                char bearer[HTTP_TOKEN_MAX + 16];
                n = snprintf(bearer, sizeof(bearer), "Bearer %s", token);
                if (n < 0 || (size_t)n >= sizeof(bearer)) {
                        ret = -EINVAL;
                        goto out;
                }
                if ((ret = req_header(r, "Authorization", bearer)) < 0)
                        goto out;
        }
        if (idempotency_key && (ret = req_header(r, "Idempotency-Key", idempotency_key)) < 0)
                goto out;
        if (body && (ret = req_header(r, "Content-Type", "application/json")) < 0)
                goto out;

        CURL *e = r->easy;
        CURLcode c = CURLE_OK;
        /* Each setopt result is folded into `c`: any failure is reported once below. */
        c |= curl_easy_setopt(e, CURLOPT_URL, url);
        c |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
        c |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        c |= curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        c |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        c |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
        c |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms);
        c |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        c |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
        c |= curl_easy_setopt(e, CURLOPT_PRIVATE, r);
        c |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
        /* VERBOSE only turns the trace hook on; its text lines go to on_trace too, which drops them. */
        c |= curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_trace);
        c |= curl_easy_setopt(e, CURLOPT_DEBUGDATA, h);
        c |= curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
        if (post) {
                c |= curl_easy_setopt(e, CURLOPT_POST, 1L);
                /* COPYPOSTFIELDS: the caller's body may go away before the transfer ends. */
                c |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
                c |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? body : "");
        } else {
                c |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        }
        if (c != CURLE_OK) {
                ret = -EIO;
                goto out;
        }
        r->done = done;
        r->userdata = userdata;
        r->started_us = http_now_us();
        if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
                ret = -EIO;
                goto out;
        }
        h->in_flight++;
out:
        if (ret < 0)
                req_put(h, r);
        return ret;
}

/* Hands every finished transfer to its callback, after putting its request back in the pool. */
static void drain_finished(Http *h) {
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(h->multi, &left))) {
                if (m->msg != CURLMSG_DONE)
                        continue;
                CURL *e = m->easy_handle;
                CURLcode code = m->data.result;
                char *priv = NULL;
                curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
                HttpReq *r = (HttpReq *)(void *)priv;
                long status = 0;
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
                curl_multi_remove_handle(h->multi, e);
                h->in_flight--;

                HttpReply reply = {
                        .status = code == CURLE_OK ? status : 0,
                        .curl_code = (int)code,
                        .curl_error = code == CURLE_OK ? ""
                                      : r->overflow ? "response body over 1 MiB"
                                      : r->error[0] ? r->error
                                                    : curl_easy_strerror(code),
                        .error_kind = code == CURLE_OK ? "" : curl_easy_strerror(code),
                        .body = r->buf ? r->buf : "",
                        .body_len = r->len,
                        .started_us = r->started_us,
                        .finished_us = http_now_us(),
                };
                HttpDoneFn done = r->done;
                void *userdata = r->userdata;
                /* The callback runs before the request returns to the pool: the reply points into it. The
                 * request is not on the free list yet, so a send from the callback takes another one. */
                done(userdata, &reply);
                req_put(h, r);
        }
}

int http_poll(Http *h, int timeout_ms) {
        int running = 0;
        if (curl_multi_perform(h->multi, &running) != CURLM_OK)
                return -EIO;
        size_t before = h->in_flight;
        drain_finished(h);
        /* Requests sent from callbacks start now rather than after the wait. */
        if (h->in_flight != before || h->in_flight == 0) {
                if (curl_multi_perform(h->multi, &running) != CURLM_OK)
                        return -EIO;
                drain_finished(h);
        }
        if (curl_multi_poll(h->multi, NULL, 0, timeout_ms < 0 ? 0 : timeout_ms, NULL) != CURLM_OK)
                return -EIO;
        return 0;
}

typedef struct {
        bool finished;
        long status;
        char *body;
        int curl_code;
        char error[256];
        bool nomem;
} FetchResult;

static void fetch_done(void *userdata, const HttpReply *reply) {
        FetchResult *f = userdata;
        f->finished = true;
        f->status = reply->status;
        f->curl_code = reply->curl_code;
        snprintf(f->error, sizeof(f->error), "%s", reply->curl_error);
        f->body = malloc(reply->body_len + 1);
        if (!f->body) {
                f->nomem = true;
                return;
        }
        memcpy(f->body, reply->body, reply->body_len);
        f->body[reply->body_len] = '\0';
}

int http_get_ok(Http *h, const char *path, char **body, char *err, size_t err_cap) {
        long status = 0;
        *body = NULL;
        int r = http_fetch(h, "GET", path, NULL, NULL, &status, body, err, err_cap);
        if (r < 0)
                return r;
        if (status != 200) {
                snprintf(err, err_cap, "%s: HTTP %ld", path, status);
                free(*body);
                *body = NULL;
                return -EPROTO;
        }
        if (!*body && !(*body = strdup("")))
                return -ENOMEM;
        return 0;
}

int http_fetch(Http *h, const char *method, const char *path, const char *token, const char *body, long *status,
               char **ret_body, char *err, size_t err_cap) {
        FetchResult f = {0};
        int r = http_send(h, method, path, token, NULL, body, fetch_done, &f);
        if (r < 0)
                return r;
        while (!f.finished)
                if ((r = http_poll(h, 100)) < 0)
                        return r; /* the request stays owned by the engine; http_free releases it */
        if (f.nomem)
                return -ENOMEM;
        if (f.curl_code != CURLE_OK) {
                free(f.body);
                snprintf(err, err_cap, "%s", f.error);
                return -EIO;
        }
        *status = f.status;
        if (ret_body)
                *ret_body = f.body;
        else
                free(f.body);
        return 0;
}
