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

typedef struct {
        /* In: appended to the URL's path (e.g. "/charges"; "" for the URL itself), header lines each ending
         * "\r\n" (Host and Content-Length are added), the body. Borrowed during http_client_post. */
        const char *path;
        const char *headers;
        const char *body;
        size_t body_len;
        /* Out: the status (0 without an answer, then `error` says why), Retry-After in ms (0 when absent),
         * the answer's body (at most the client's max_answer bytes; reset by each call, freed by the caller). */
        long status;
        int64_t retry_after_ms;
        TextBuf answer;
        char error[HTTP_ERROR_MAX];
} HttpRequest;

/* A client of `url` ("http://host[:port][/path][?query]" or "https://..."; a fragment is not sent), holding up to
 * `max_conns` kept-alive connections; an answer whose body is larger than `max_answer` bytes fails its request
 * (status 0). The host's addresses are looked up once a minute at most. 0, -EINVAL (not such a URL, or the
 * other values < 1), -ENOMEM, -EIO (TLS could not start). Not thread-safe: one per thread, or locked. Over TLS a
 * write to a connection the server closed raises SIGPIPE: the process ignores it (lib/service.c does). */
int http_client_new(HttpClient **ret, const char *url, size_t max_conns, size_t max_answer);
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
