/* The one HTTP client (the payment provider, the notification webhook): HTTP/1.1 POSTs to one origin over
 * keep-alive connections, several at once, TLS only for an https URL. OpenSSL is started on the first https
 * client, never for plain http (libcurl's start cost 2.3 MB of resident memory whatever the URL).
 * Redirects, proxies and HTTP/2 are not supported. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "textbuf.h"

typedef struct HttpClient HttpClient;

#define HTTP_ERROR_MAX 128
/* Sent with every request: when the client stops waiting, in ms (the sandbox provider and sink then do nothing
 * rather than record what will be sent again; others ignore it). */
#define HTTP_TIMEOUT_HEADER "X-Request-Timeout-Ms"

typedef struct {
        const char *url;    /* "http://host[:port][/path][?query]" or "https://..."; a fragment is not sent */
        const char *bearer; /* sent as "Authorization: Bearer <bearer>" when not NULL or empty */
        size_t max_conns;   /* kept-alive connections, and requests per http_client_post */
        size_t max_answer;  /* an answer whose body is larger fails its request (status 0) */
} HttpClientConfig;

typedef struct {
        /* In: appended to the URL's path (e.g. "/charges"; "" for the URL itself), the Idempotency-Key header's
         * value (NULL: none; not sent when it holds a control character), the JSON body. Borrowed during
         * http_client_post. */
        const char *path;
        const char *key;
        const char *body;
        size_t body_len;
        /* Out: the status (0 without an answer, then `error` says why), Retry-After in ms (0 when absent),
         * the answer's body (at most the client's max_answer bytes; reset by each call, freed by the caller). */
        long status;
        int64_t retry_after_ms;
        TextBuf answer;
        char error[HTTP_ERROR_MAX];
} HttpRequest;

/* A client of cfg->url (cfg is copied). Requests carry Host, Content-Length, Content-Type: application/json, the
 * bearer token, HTTP_TIMEOUT_HEADER and their Idempotency-Key. The host's addresses are looked up once a minute
 * at most. 0, -EINVAL (not such a URL, a bearer token with a control character, or numbers < 1), -ENOMEM, -EIO
 * (TLS could not start). Not thread-safe: one per thread, or locked. Over TLS a write to a connection the server
 * closed raises SIGPIPE: the process ignores it (lib/service.c does). */
int http_client_new(HttpClient **ret, const HttpClientConfig *cfg);
/* Closes its connections. NULL is fine. */
void http_client_free(HttpClient *c);

/* POSTs the `n` requests (n <= max_conns) at once, each on a connection of its own, and returns when each was
 * answered or failed, at most `timeout_ms` after the call (connecting included; a slow name look-up is not
 * bounded). A kept-alive connection the server closed meanwhile is replaced once. An answer the server gives
 * before taking the whole request (413 ...) is read over plain TCP. 0, or -EINVAL when n > max_conns. */
int http_client_post(HttpClient *c, HttpRequest *reqs, size_t n, int64_t timeout_ms);

/* Pure, for tests and fuzzing: reads the answer in buf[0, len) (`eof`: the server closed the connection after
 * it). 0 while incomplete; 1 when complete, with *status, *retry_after_s (-1 when absent), *keep_alive, the body
 * decoded (chunks joined) in place at buf[*body_off, *body_off + *body_len), and where the answer ended in buf
 * (*end: bytes after it were not asked for); -1 when malformed. An interim 1xx answer is skipped. */
int http_response_parse(char *buf, size_t len, bool eof, long *status, int64_t *retry_after_s, bool *keep_alive,
                        size_t *body_off, size_t *body_len, size_t *end);
