/* The load driver's HTTP engine: HTTP/1.1 over non-blocking keep-alive connections to one origin, many requests
 * at once (one per connection), timed per request. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_BODY_MAX (1u << 20)   /* a longer response fails ("bad answer") */
#define HTTP_TOKEN_MAX 4096        /* bearer token bytes */
#define HTTP_URL_MAX 2048

typedef struct Http Http;

/* What a finished request gives its callback; everything is borrowed for the
 * duration of the callback only. */
typedef struct {
        long status;            /* HTTP status, 0 when no response arrived */
        int error_code;         /* 0 when the exchange completed (whatever the status), 1 when it did not */
        const char *error;      /* what went wrong, in detail, for error_code != 0, else "" */
        const char *error_kind; /* stable text to group errors by ("timeout", "could not connect", ...), "" when none */
        const char *body;       /* NUL-terminated response body ("" when none) */
        size_t body_len;
        int64_t started_us;     /* monotonic clock at http_send */
        int64_t finished_us;    /* monotonic clock when the completion was seen */
} HttpReply;

/* Called exactly once per http_send that returned 0, from inside http_poll.
 * It may call http_send again (e.g. the next step of a flow). */
typedef void (*HttpDoneFn)(void *userdata, const HttpReply *reply);

/* Monotonic clock in microseconds. */
int64_t http_now_us(void);

/* Creates the engine for `base_url` ("http://host[:port][/path]", plain HTTP only; its address is looked up
 * once, here) with room for `max_conns` keep-alive connections (and 8 more; further requests wait for one)
 * and a per-request timeout of `timeout_ms`, queueing included. 0 with *ret, -EINVAL (not such a URL), -ENOMEM
 * or -EIO (the host has no address, epoll failed). */
int http_new(Http **ret, const char *base_url, unsigned max_conns, long timeout_ms);
/* Accepts NULL. Aborts transfers still running without calling their callbacks. */
void http_free(Http *h);

/* Starts `method` ("GET" or "POST") of base_url+`path`. `token` (bearer),
 * `idempotency_key` and `body` (JSON, sent with Content-Type
 * application/json; NULL with POST sends an empty body) may be NULL and are
 * copied. 0, or -ENOMEM / -EINVAL (another method, path or token too long): then `done` is not called. A
 * request whose kept-alive connection turns out closed before any answer is sent again once on a new one. */
int http_send(Http *h, const char *method, const char *path, const char *token, const char *idempotency_key,
              const char *body, HttpDoneFn done, void *userdata);

/* Waits at most `timeout_ms` for socket activity (less when a request's deadline comes first), performs the
 * I/O and calls the callbacks of finished or timed-out requests. 0 or -EIO. */
int http_poll(Http *h, int timeout_ms);

/* Requests started and not yet finished. */
size_t http_in_flight(const Http *h);

/* Bytes this engine has written to (*sent) and read from (*received) its connections so far: request and status
 * lines, headers and bodies as written to and read from the sockets (no TCP/IP headers, no connection handshakes).
 * Counted as the bytes move, not when a request finishes, so two readings give the traffic between them. */
void http_bytes(const Http *h, uint64_t *sent, uint64_t *received);

/* Sends one request and polls until it finished: a helper for the setup
 * phase. On 0, *status is the HTTP status and *body (may be NULL) a malloc'd
 * copy of the body for the caller to free. -EIO when the exchange failed
 * (message in `err`, err_cap bytes), -ENOMEM. */
/* GET `path` expecting 200 (a monitoring page): 0 with *body (malloc'd, the caller frees it), -EPROTO
 * when another status came ("<path>: HTTP <status>" in `err`), or http_fetch's errors. */
int http_get_ok(Http *h, const char *path, char **body, char *err, size_t err_cap);
int http_fetch(Http *h, const char *method, const char *path, const char *token, const char *body, long *status,
               char **ret_body, char *err, size_t err_cap);
