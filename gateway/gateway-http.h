/* One HTTP exchange over civetweb: bounded body reading, query parameters,
 * JSON answers and RFC 9457 problem+json errors. Every writer records the
 * status it sent, so the router can count answers by class. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct mg_connection;
struct mg_request_info;

typedef struct {
        struct mg_connection *conn;
        const struct mg_request_info *info;
        int status; /* status of the answer sent; 0 until one was sent */
} HttpExchange;

/* Reads the whole request body, refusing more than `max` bytes without
 * reading them when the length is announced. Returns 0 with *ret a
 * NUL-terminated malloc'ed copy (caller frees; NULL with length 0 for an
 * empty body), -EFBIG over the limit, -EIO when the peer failed, -ENOMEM. */
int http_read_body(HttpExchange *x, size_t max, char **ret, size_t *ret_len);

/* Sends a complete answer. `headers` holds extra "Name: value\r\n" lines or
 * is NULL. Only the first answer of an exchange is sent; later calls are
 * ignored (a programming error, logged). */
void http_send(HttpExchange *x, int status, const char *content_type, const char *headers, const char *body,
               size_t len);
/* Sends `v` (borrowed) compactly as application/json. */
void http_send_json(HttpExchange *x, int status, const json_t *v, const char *headers);
/* Sends already serialised JSON text. */
void http_send_json_text(HttpExchange *x, int status, const char *text, size_t len, const char *headers);
/* Sends application/problem+json {"type","title","status","detail"}. A NULL
 * title means the status' reason phrase (type about:blank); another title
 * gets a type URI derived from it. */
void http_problem(HttpExchange *x, int status, const char *title, const char *headers, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* Request header value or NULL (borrowed for the exchange). */
const char *http_header(HttpExchange *x, const char *name);
/* URL-decoded query parameter `name` into buf. Returns 1 when present, 0
 * when absent, -E2BIG when it does not fit in cap. */
int http_query(HttpExchange *x, const char *name, char *buf, size_t cap);
