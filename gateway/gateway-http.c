/* Request/response helpers over civetweb's buffered response-header API. */
#include "gateway-http.h"

#include <civetweb.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "utf8.h"

#define HTTP_BODY_CHUNK 8192

int http_read_body(HttpExchange *x, size_t max, char **ret, size_t *ret_len) {
        long long announced = x->info->content_length;
        size_t cap, len = 0;
        char *buf;

        *ret = NULL;
        *ret_len = 0;
        if (announced > (long long)max)
                return -EFBIG;
        if (announced == 0)
                return 0;
        /* Unknown length (chunked): grow up to max + 1 to notice an overflow. */
        cap = announced > 0 ? (size_t)announced + 1 : HTTP_BODY_CHUNK;
        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                int n;
                if (len + 1 == cap) {
                        char *bigger;
                        if (announced >= 0 || len > max)
                                break;
                        cap = cap * 2 > max + 2 ? max + 2 : cap * 2;
                        bigger = realloc(buf, cap);
                        if (!bigger) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = bigger;
                }
                n = mg_read(x->conn, buf + len, cap - 1 - len);
                if (n < 0) {
                        free(buf);
                        return -EIO;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len > max) {
                free(buf);
                return -EFBIG;
        }
        if (announced > 0 && len != (size_t)announced) {
                free(buf);
                return -EIO;
        }
        buf[len] = 0;
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* RFC 9110 reason phrases, for status lines and problem titles (civetweb 1.15 misspells 422). */
static const char *http_reason(int status) {
        switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 402: return "Payment Required";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "OK";
        }
}

void http_send(HttpExchange *x, int status, const char *content_type, const char *headers, const char *body,
               size_t len) {
        char head[768];
        bool head_only;
        int n;

        if (x->status != 0) {
                log_error("http: second answer %d to %s %s ignored (first was %d)", status, x->info->request_method,
                          x->info->local_uri, x->status);
                return;
        }
        x->status = status;
        /* One write for the whole answer: civetweb's header calls send each line on its own, and with
         * TCP_NODELAY every line was a packet of its own (seven system calls and wake-ups an answer). */
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
                     status, http_reason(status), content_type, len, headers ? headers : "");
        if (n < 0 || (size_t)n >= sizeof(head)) {
                log_error("http: answer head of %d does not fit", status);
                mg_write(x->conn, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", 58);
                return;
        }
        head_only = (x->info && x->info->request_method && strcmp(x->info->request_method, "HEAD") == 0) || len == 0;
        if (head_only || (size_t)n + len > 16384) {
                mg_write(x->conn, head, (size_t)n);
                if (!head_only)
                        mg_write(x->conn, body, len);
                return;
        }
        char *buf = malloc((size_t)n + len);
        if (!buf) {
                mg_write(x->conn, head, (size_t)n);
                mg_write(x->conn, body, len);
                return;
        }
        memcpy(buf, head, (size_t)n);
        memcpy(buf + n, body, len);
        mg_write(x->conn, buf, (size_t)n + len);
        free(buf);
}

void http_send_json_text(HttpExchange *x, int status, const char *text, size_t len, const char *headers) {
        http_send(x, status, "application/json", headers, text, len);
}

void http_send_json(HttpExchange *x, int status, const json_t *v, const char *headers) {
        /* 12 significant digits keep coordinates readable (37.4979, not 37.497900000000001). */
        char *text = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(12));
        if (!text) {
                http_problem(x, 500, NULL, NULL, "could not serialise the answer");
                return;
        }
        http_send_json_text(x, status, text, strlen(text), headers);
        free(text);
}

/* "Payment declined" -> "payment-declined". */
static void problem_slug(const char *title, char *buf, size_t cap) {
        size_t o = 0;
        bool dash = false;
        for (const char *p = title; *p && o + 2 < cap; p++) {
                char c = *p;
                if (c >= 'A' && c <= 'Z')
                        c = (char)(c - 'A' + 'a');
                if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                        if (dash && o > 0)
                                buf[o++] = '-';
                        buf[o++] = c;
                        dash = false;
                } else {
                        dash = true;
                }
        }
        buf[o] = 0;
}

void http_problem(HttpExchange *x, int status, const char *title, const char *headers, const char *fmt, ...) {
        const char *phrase = http_reason(status);
        char detail[512], title_text[128], type[128] = "about:blank", slug[96];
        json_t *p;
        char *text;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        /* The detail may quote what the client sent (a decoded path) or be cut mid-character: JSON
         * text must be UTF-8, else the answer would be a 500 instead of the 4xx it is. */
        (void)utf8_scrub(detail);
        if (title && *title && strcasecmp(title, phrase) != 0) {
                snprintf(title_text, sizeof(title_text), "%s", title);
                (void)utf8_scrub(title_text);
                title = title_text;
                problem_slug(title, slug, sizeof(slug));
                snprintf(type, sizeof(type), "urn:problem:food:%s", slug);
        } else {
                title = phrase;
        }
        p = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", title, "status", status, "detail", detail);
        text = p ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        if (!text) {
                static const char fallback[] = "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\","
                                               "\"status\":500,\"detail\":\"out of memory\"}";
                http_send(x, 500, "application/problem+json", NULL, fallback, sizeof(fallback) - 1);
                return;
        }
        http_send(x, status, "application/problem+json", headers, text, strlen(text));
        free(text);
}

const char *http_header(HttpExchange *x, const char *name) {
        return mg_get_header(x->conn, name);
}

int http_query(HttpExchange *x, const char *name, char *buf, size_t cap) {
        const char *q = x->info->query_string;
        int n;
        if (!q)
                return 0;
        n = mg_get_var(q, strlen(q), name, buf, cap);
        if (n == -1)
                return 0;
        if (n < 0)
                return -E2BIG;
        return 1;
}
