/* The driver's HTTP/1.1 client: non-blocking keep-alive connections to one origin on one epoll set, one request
 * at a time per connection, written with one send and parsed in place (libcurl cost the driver a third of its
 * CPU, a tenth of the machine's under load, which the platform it measures then lacked). */
#include "bench-http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct HttpReq HttpReq;
typedef struct Conn Conn;

struct HttpReq {
        char *out; /* the request's bytes */
        size_t out_len, out_cap;
        int64_t started_us, deadline_us;
        bool retried; /* sent again once on a new connection after a kept-alive one was found closed */
        HttpDoneFn done;
        void *userdata;
        HttpReq *next; /* the free list, or the queue of requests waiting for a connection */
};

typedef enum { CONN_CLOSED = 0, CONN_CONNECTING, CONN_IDLE, CONN_BUSY } ConnState;

struct Conn {
        int fd;
        ConnState state;
        bool reused;        /* has answered a request before: a close before any byte may be a keep-alive race */
        bool want_out;      /* EPOLLOUT registered */
        HttpReq *req;       /* the request on it (CONNECTING, BUSY) */
        size_t sent;        /* bytes of req->out written */
        char *in;           /* the response so far, NUL-terminated */
        size_t in_len, in_cap;
        size_t head_len;    /* bytes of status line and headers, 0 until they are complete */
        long status;
        long long length;   /* Content-Length, -1 when absent */
        bool chunked, close_after;
        char *body;         /* the decoded body (chunked), NUL-terminated */
        size_t body_len, body_cap;
};

struct Http {
        int ep;
        struct sockaddr_storage addr;
        socklen_t addr_len;
        char host[256];   /* the Host header */
        char prefix[256]; /* the base URL's path, put before every request's path */
        long timeout_ms;
        Conn *conns;
        size_t n_conns;
        size_t in_flight;
        HttpReq *free_list, *queue_head, *queue_tail;
        uint64_t bytes_sent, bytes_received; /* see http_bytes */
};

int64_t http_now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "http://host[:port][/path]": host, port and path prefix (without a trailing '/'). 0 or -EINVAL. */
static int url_parse(Http *h, const char *url, char *port, size_t port_cap) {
        if (strncmp(url, "http://", 7) != 0)
                return -EINVAL;
        const char *host = url + 7, *slash = strchr(host, '/');
        size_t hl = slash ? (size_t)(slash - host) : strlen(host);
        if (hl == 0 || hl >= sizeof(h->host))
                return -EINVAL;
        memcpy(h->host, host, hl);
        h->host[hl] = '\0';
        snprintf(h->prefix, sizeof(h->prefix), "%s", slash ? slash : "");
        size_t pl = strlen(h->prefix);
        while (pl > 0 && h->prefix[pl - 1] == '/')
                h->prefix[--pl] = '\0';
        char *colon = h->host[0] == '[' ? strstr(h->host, "]:") : strrchr(h->host, ':');
        if (colon && *colon == ']')
                colon++;
        snprintf(port, port_cap, "%s", colon ? colon + 1 : "80");
        return 0;
}

int http_new(Http **ret, const char *base_url, unsigned max_conns, long timeout_ms) {
        Http *h = calloc(1, sizeof(*h));
        char port[16], name[256];
        if (!h)
                return -ENOMEM;
        h->timeout_ms = timeout_ms;
        h->ep = -1;
        if (url_parse(h, base_url, port, sizeof(port)) < 0) {
                free(h);
                return -EINVAL;
        }
        /* The address once: the driver talks to one origin that does not move during a run. */
        snprintf(name, sizeof(name), "%s", h->host);
        char *colon = name[0] == '[' ? strstr(name, "]:") : strrchr(name, ':');
        if (colon)
                *colon = '\0';
        const char *node = name[0] == '[' ? name + 1 : name;
        if (name[0] == '[' && name[strlen(name) - 1] == ']')
                name[strlen(name) - 1] = '\0';
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        if (getaddrinfo(node, port, &hints, &ai) != 0 || !ai) {
                free(h);
                return -EIO;
        }
        memcpy(&h->addr, ai->ai_addr, ai->ai_addrlen);
        h->addr_len = ai->ai_addrlen;
        freeaddrinfo(ai);
        /* Room for every virtual user's connection and a few more, so that none is ever closed for lack of room. */
        h->n_conns = (size_t)max_conns + 8;
        h->conns = calloc(h->n_conns, sizeof(*h->conns));
        h->ep = epoll_create1(EPOLL_CLOEXEC);
        if (!h->conns || h->ep < 0) {
                http_free(h);
                return h->ep < 0 ? -EIO : -ENOMEM;
        }
        for (size_t i = 0; i < h->n_conns; i++)
                h->conns[i].fd = -1;
        *ret = h;
        return 0;
}

static void req_free_all(HttpReq *r) {
        while (r) {
                HttpReq *next = r->next;
                free(r->out);
                free(r);
                r = next;
        }
}

static void conn_close(Http *h, Conn *c) {
        if (c->fd >= 0) {
                epoll_ctl(h->ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
        }
        c->fd = -1;
        c->state = CONN_CLOSED;
        c->reused = c->want_out = false;
        c->req = NULL;
        c->in_len = c->head_len = c->body_len = 0;
}

void http_free(Http *h) {
        if (!h)
                return;
        for (size_t i = 0; h->conns && i < h->n_conns; i++) {
                Conn *c = &h->conns[i];
                if (c->req)
                        req_free_all(c->req); /* its `next` is NULL while on a connection */
                conn_close(h, c);
                free(c->in);
                free(c->body);
        }
        req_free_all(h->queue_head);
        req_free_all(h->free_list);
        if (h->ep >= 0)
                close(h->ep);
        free(h->conns);
        free(h);
}

size_t http_in_flight(const Http *h) {
        return h->in_flight;
}

void http_bytes(const Http *h, uint64_t *sent, uint64_t *received) {
        *sent = h->bytes_sent;
        *received = h->bytes_received;
}

/* Appends `n` bytes to a growing buffer kept NUL-terminated. 0 or -ENOMEM. */
static int buf_put(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
        if (*len + n + 1 > *cap) {
                size_t c = *cap ? *cap : 1024;
                while (c < *len + n + 1)
                        c *= 2;
                char *b = realloc(*buf, c);
                if (!b)
                        return -ENOMEM;
                *buf = b;
                *cap = c;
        }
        memcpy(*buf + *len, data, n);
        *len += n;
        (*buf)[*len] = '\0';
        return 0;
}

static int req_text(HttpReq *r, const char *s) {
        return buf_put(&r->out, &r->out_len, &r->out_cap, s, strlen(s));
}

/* Registers what `c` waits for: always its answer (or a close), and room to write while a request is unsent. */
static int conn_watch(Http *h, Conn *c, bool out, int op) {
        struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
        if (epoll_ctl(h->ep, op, c->fd, &ev) < 0)
                return -errno;
        c->want_out = out;
        return 0;
}

static void reply_fail(Http *h, HttpReq *r, const char *kind, const char *detail);
static void conn_start(Http *h, Conn *c, HttpReq *r);

/* Opens a connection for `r` in the closed slot `c` (conn_close left it reset; conn_start resets what a request
 * uses): a non-blocking connect whose completion conn_io sees as writability. */
static void conn_open(Http *h, Conn *c, HttpReq *r) {
        int fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
        if (fd < 0) {
                reply_fail(h, r, "could not connect", strerror(errno));
                return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->req = r;
        if (connect(fd, (struct sockaddr *)&h->addr, h->addr_len) < 0 && errno != EINPROGRESS) {
                int e = errno;
                conn_close(h, c);
                reply_fail(h, r, "could not connect", strerror(e));
                return;
        }
        c->state = CONN_CONNECTING;
        if (conn_watch(h, c, true, EPOLL_CTL_ADD) < 0) {
                conn_close(h, c);
                reply_fail(h, r, "could not connect", "epoll_ctl failed");
        }
}

/* Gives `r` a connection: an idle one, else a new one while there is room, else it waits in the queue. */
static void req_dispatch(Http *h, HttpReq *r) {
        Conn *free_slot = NULL;
        for (size_t i = 0; i < h->n_conns; i++) {
                Conn *c = &h->conns[i];
                if (c->state == CONN_IDLE) {
                        conn_start(h, c, r);
                        return;
                }
                if (c->state == CONN_CLOSED && !free_slot)
                        free_slot = c;
        }
        if (free_slot) {
                conn_open(h, free_slot, r);
                return;
        }
        r->next = NULL;
        if (h->queue_tail)
                h->queue_tail->next = r;
        else
                h->queue_head = r;
        h->queue_tail = r;
}

/* Writes what is left of the request; registers for writability if the socket takes less. 0 or -errno. */
static int conn_flush(Http *h, Conn *c) {
        HttpReq *r = c->req;
        while (c->sent < r->out_len) {
                ssize_t n = send(c->fd, r->out + c->sent, r->out_len - c->sent, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return c->want_out ? 0 : conn_watch(h, c, true, EPOLL_CTL_MOD);
                if (n < 0)
                        return -errno;
                c->sent += (size_t)n;
                h->bytes_sent += (uint64_t)n;
        }
        return c->want_out ? conn_watch(h, c, false, EPOLL_CTL_MOD) : 0;
}

static void conn_lost(Http *h, Conn *c, const char *kind, const char *detail);

static void conn_start(Http *h, Conn *c, HttpReq *r) {
        c->state = CONN_BUSY;
        c->req = r;
        c->sent = 0;
        c->in_len = c->head_len = c->body_len = 0;
        int e = conn_flush(h, c);
        if (e < 0)
                conn_lost(h, c, "send failed", strerror(-e));
}

/* The next queued request, if any, on the connection that just became free. */
static void conn_next(Http *h, Conn *c) {
        HttpReq *r = h->queue_head;
        if (!r || (c->state != CONN_IDLE && c->state != CONN_CLOSED))
                return;
        h->queue_head = r->next;
        if (!h->queue_head)
                h->queue_tail = NULL;
        r->next = NULL;
        if (c->state == CONN_IDLE)
                conn_start(h, c, r);
        else
                conn_open(h, c, r);
}

static void req_put(Http *h, HttpReq *r) {
        r->done = NULL;
        r->userdata = NULL;
        r->next = h->free_list;
        h->free_list = r;
}

/* Finishes `r`: the callback first (the reply may point into the connection), then the request goes back to the
 * pool. */
static void req_finish(Http *h, HttpReq *r, const HttpReply *reply) {
        h->in_flight--;
        r->done(r->userdata, reply);
        req_put(h, r);
}

static void reply_fail(Http *h, HttpReq *r, const char *kind, const char *detail) {
        char text[256];
        snprintf(text, sizeof(text), "%s: %s", kind, detail);
        HttpReply reply = {.status = 0, .error_code = 1, .error = text, .error_kind = kind, .body = "",
                           .started_us = r->started_us, .finished_us = http_now_us()};
        req_finish(h, r, &reply);
}

/* The connection broke: its request is sent again once on a new connection when a kept-alive connection closed
 * before answering anything (the server may close an idle connection as the request leaves), else it fails. */
static void conn_lost(Http *h, Conn *c, const char *kind, const char *detail) {
        HttpReq *r = c->req;
        bool again = r && c->reused && c->in_len == 0 && !r->retried;
        conn_close(h, c);
        if (r && again) {
                r->retried = true;
                conn_open(h, c, r);
        } else if (r)
                reply_fail(h, r, kind, detail);
        conn_next(h, c);
}

/* Parses the status line and headers once they are complete. 1 when parsed, 0 when more is needed, -1 when not
 * an HTTP/1.x answer. */
static int head_parse(Conn *c) {
        char *end = strstr(c->in, "\r\n\r\n");
        if (!end)
                return c->in_len > 65536 ? -1 : 0;
        c->head_len = (size_t)(end - c->in) + 4;
        if (strncmp(c->in, "HTTP/1.", 7) != 0 || c->in[8] != ' ')
                return -1;
        c->status = strtol(c->in + 9, NULL, 10);
        if (c->status < 100 || c->status > 999)
                return -1;
        c->length = -1;
        c->chunked = false;
        c->close_after = c->in[7] == '0';
        for (char *line = strstr(c->in, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
                char *colon = memchr(line, ':', (size_t)(end - line));
                char *eol = strstr(line, "\r\n");
                if (!colon || colon > eol)
                        continue;
                char *v = colon + 1;
                while (*v == ' ' || *v == '\t')
                        v++;
                size_t name = (size_t)(colon - line), vlen = (size_t)(eol - v);
                if (name == 14 && strncasecmp(line, "Content-Length", 14) == 0)
                        c->length = strtoll(v, NULL, 10);
                else if (name == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0)
                        c->chunked = vlen >= 7 && strncasecmp(v + vlen - 7, "chunked", 7) == 0;
                else if (name == 10 && strncasecmp(line, "Connection", 10) == 0)
                        c->close_after = vlen == 5 && strncasecmp(v, "close", 5) == 0;
        }
        if (c->status == 204 || c->status == 304 || (c->status >= 100 && c->status < 200))
                c->length = 0;
        return 1;
}

/* Decodes a chunked body from the bytes after the head. 1 when the last chunk (and the trailer) arrived, 0 when
 * more is needed, -1 when malformed or too large. */
static int chunks_parse(Conn *c) {
        size_t at = c->head_len;
        c->body_len = 0;
        for (;;) {
                char *eol = strstr(c->in + at, "\r\n");
                if (!eol)
                        return 0;
                char *digits_end;
                unsigned long long size = strtoull(c->in + at, &digits_end, 16);
                if (digits_end == c->in + at || size > HTTP_BODY_MAX)
                        return -1;
                at = (size_t)(eol - c->in) + 2;
                if (size == 0) {
                        char *trailer_end = strstr(c->in + at - 2, "\r\n\r\n");
                        return trailer_end ? 1 : 0;
                }
                if (c->in_len < at + size + 2)
                        return 0;
                if (c->body_len + size > HTTP_BODY_MAX ||
                    buf_put(&c->body, &c->body_len, &c->body_cap, c->in + at, (size_t)size) < 0)
                        return -1;
                at += (size_t)size + 2;
        }
}

/* Hands the complete answer on `c` to its request's callback, then frees the connection for the next one. */
static void conn_answered(Http *h, Conn *c) {
        HttpReq *r = c->req;
        const char *body = c->chunked ? (c->body ? c->body : "") : c->in + c->head_len;
        size_t len = c->chunked ? c->body_len : c->in_len - c->head_len;
        HttpReply reply = {.status = c->status, .error = "", .error_kind = "", .body = body, .body_len = len,
                           .started_us = r->started_us, .finished_us = http_now_us()};
        /* Free before the callback, which may send on it (the reply's bytes stay until the next read); one the
         * server closes after this answer is closed now. */
        c->req = NULL;
        if (c->close_after)
                conn_close(h, c);
        else {
                c->reused = true;
                c->state = CONN_IDLE;
        }
        req_finish(h, r, &reply);
        conn_next(h, c);
}

/* Reads what arrived on `c` and finishes its request once the answer is whole. */
static void conn_read(Http *h, Conn *c) {
        for (;;) {
                if (c->in_len + 4096 + 1 > c->in_cap) {
                        size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
                        char *b = realloc(c->in, cap);
                        if (!b) {
                                conn_lost(h, c, "out of memory", "reading an answer");
                                return;
                        }
                        c->in = b;
                        c->in_cap = cap;
                }
                ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                if (n < 0) {
                        conn_lost(h, c, "connection broke", strerror(errno));
                        return;
                }
                bool eof = n == 0;
                c->in_len += (size_t)n;
                c->in[c->in_len] = '\0';
                h->bytes_received += (uint64_t)n;
                if (!c->req) { /* an idle connection: only a close is expected */
                        conn_close(h, c);
                        return;
                }
                int p = c->head_len ? 1 : head_parse(c);
                if (p < 0) {
                        conn_lost(h, c, "bad answer", "not an HTTP/1.x answer");
                        return;
                }
                if (p > 0) {
                        int done = 0;
                        if (c->chunked)
                                done = chunks_parse(c);
                        else if (c->length >= 0)
                                done = c->in_len - c->head_len >= (size_t)c->length;
                        else
                                done = eof; /* the body runs to the close */
                        if (done > 0 && !c->chunked && c->length >= 0) {
                                c->in_len = c->head_len + (size_t)c->length;
                                c->in[c->in_len] = '\0';
                        }
                        if (done < 0 || (!c->chunked && (c->in_len - c->head_len) > HTTP_BODY_MAX)) {
                                conn_lost(h, c, "bad answer", "malformed, or a body over 1 MiB");
                                return;
                        }
                        if (done > 0) {
                                if (eof)
                                        c->close_after = true;
                                conn_answered(h, c);
                                return;
                        }
                }
                if (eof) {
                        conn_lost(h, c, "connection closed", "the server closed the connection before answering");
                        return;
                }
        }
}

static void conn_io(Http *h, Conn *c, uint32_t events) {
        if (c->state == CONN_CONNECTING) {
                int err = 0;
                socklen_t len = sizeof(err);
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err) {
                        conn_lost(h, c, "could not connect", strerror(err));
                        return;
                }
                if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                        return;
                conn_start(h, c, c->req);
                return;
        }
        if ((events & EPOLLOUT) && c->state == CONN_BUSY && c->req && c->sent < c->req->out_len) {
                int e = conn_flush(h, c);
                if (e < 0) {
                        conn_lost(h, c, "send failed", strerror(-e));
                        return;
                }
        }
        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                conn_read(h, c);
}

int http_send(Http *h, const char *method, const char *path, const char *token, const char *idempotency_key,
              const char *body, HttpDoneFn done, void *userdata) {
        bool post = strcmp(method, "POST") == 0;
        if ((!post && strcmp(method, "GET") != 0) || strlen(h->prefix) + strlen(path) >= HTTP_URL_MAX ||
            (token && strlen(token) > HTTP_TOKEN_MAX) || (idempotency_key && strlen(idempotency_key) > HTTP_TOKEN_MAX))
                return -EINVAL;
        HttpReq *r = h->free_list;
        if (r)
                h->free_list = r->next;
        else if (!(r = calloc(1, sizeof(*r))))
                return -ENOMEM;
        r->next = NULL;
        r->out_len = 0;
        r->retried = false;
        size_t body_len = body ? strlen(body) : 0;
        char line[64];
        int e = 0;
        e |= req_text(r, method);
        e |= req_text(r, " ");
        e |= req_text(r, h->prefix);
        e |= req_text(r, path);
        e |= req_text(r, " HTTP/1.1\r\nHost: ");
        e |= req_text(r, h->host);
        e |= req_text(r, "\r\nAccept: application/json\r\n");
        if (token) {
                e |= req_text(r, "Authorization: Bearer ");
                e |= req_text(r, token);
                e |= req_text(r, "\r\n");
        }
        if (idempotency_key) {
                e |= req_text(r, "Idempotency-Key: ");
                e |= req_text(r, idempotency_key);
                e |= req_text(r, "\r\n");
        }
        if (post) {
                snprintf(line, sizeof(line), "Content-Length: %zu\r\n", body_len);
                e |= req_text(r, body ? "Content-Type: application/json\r\n" : "");
                e |= req_text(r, line);
        }
        e |= req_text(r, "\r\n");
        if (body)
                e |= buf_put(&r->out, &r->out_len, &r->out_cap, body, body_len);
        if (e) {
                req_put(h, r);
                return -ENOMEM;
        }
        r->done = done;
        r->userdata = userdata;
        r->started_us = http_now_us();
        r->deadline_us = r->started_us + (int64_t)h->timeout_ms * 1000;
        h->in_flight++;
        req_dispatch(h, r);
        return 0;
}

/* Fails the requests whose time is up (their connections are closed: an answer may still come on them) and
 * returns the nearest deadline still ahead (0: none). */
static int64_t expire(Http *h, int64_t now) {
        int64_t next = 0;
        for (size_t i = 0; i < h->n_conns; i++) {
                Conn *c = &h->conns[i];
                if (!c->req)
                        continue;
                if (c->req->deadline_us <= now) {
                        HttpReq *r = c->req;
                        char text[64];
                        snprintf(text, sizeof(text), "no answer within %ld ms", h->timeout_ms);
                        conn_close(h, c);
                        reply_fail(h, r, "timeout", text);
                        conn_next(h, c);
                } else if (!next || c->req->deadline_us < next)
                        next = c->req->deadline_us;
        }
        for (HttpReq **p = &h->queue_head; *p;) {
                HttpReq *r = *p;
                if (r->deadline_us > now) {
                        if (!next || r->deadline_us < next)
                                next = r->deadline_us;
                        p = &r->next;
                        continue;
                }
                *p = r->next;
                if (h->queue_tail == r) {
                        h->queue_tail = NULL;
                        for (HttpReq *q = h->queue_head; q; q = q->next)
                                h->queue_tail = q;
                }
                reply_fail(h, r, "timeout", "no connection free in time");
        }
        return next;
}

int http_poll(Http *h, int timeout_ms) {
        struct epoll_event evs[64];
        int64_t now = http_now_us(), next = expire(h, now);
        if (timeout_ms < 0)
                timeout_ms = 0;
        if (next && (next - now) / 1000 + 1 < timeout_ms)
                timeout_ms = (int)((next - now) / 1000 + 1);
        int n = epoll_wait(h->ep, evs, 64, timeout_ms);
        if (n < 0 && errno != EINTR)
                return -EIO;
        for (int i = 0; i < n; i++) {
                Conn *c = evs[i].data.ptr;
                if (c->fd >= 0)
                        conn_io(h, c, evs[i].events);
        }
        (void)expire(h, http_now_us());
        return 0;
}

typedef struct {
        bool finished;
        long status;
        char *body;
        int error_code;
        char error[256];
        bool nomem;
} FetchResult;

static void fetch_done(void *userdata, const HttpReply *reply) {
        FetchResult *f = userdata;
        f->finished = true;
        f->status = reply->status;
        f->error_code = reply->error_code;
        snprintf(f->error, sizeof(f->error), "%s", reply->error);
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
        if (f.error_code) {
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
