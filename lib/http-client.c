/* HTTP/1.1 POSTs to one origin over kept-alive connections, all of a call's requests at once (poll), TLS
 * through OpenSSL only for https. */
#include "http-client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ids.h"

#define HEAD_MAX (16 * 1024) /* an answer's status line and headers */


/* ---- the answer, pure ------------------------------------------------------------------------------ */

static const char *find_crlf2(const char *p, size_t len) {
        for (size_t i = 0; i + 3 < len; i++)
                if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
                        return p + i;
        return NULL;
}

/* Whether the comma-separated header value v[0, n) holds `token` (case-insensitive). */
static bool has_token(const char *v, size_t n, const char *token) {
        size_t tl = strlen(token), i = 0;
        while (i < n) {
                while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
                        i++;
                size_t s = i;
                while (i < n && v[i] != ',')
                        i++;
                size_t e = i;
                while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
                        e--;
                if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
                        return true;
        }
        return false;
}

/* A decimal number of at most 15 digits filling v[0, n); -1 otherwise. */
static int64_t decimal(const char *v, size_t n) {
        int64_t x = 0;
        if (n == 0 || n > 15)
                return -1;
        for (size_t i = 0; i < n; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return -1;
                x = x * 10 + (v[i] - '0');
        }
        return x;
}

/* Retry-After: delta-seconds, or an HTTP-date (seconds from now, at least 0). -1 when unreadable. */
static int64_t retry_after(const char *v, size_t n) {
        char text[64];
        struct tm tm;
        int64_t s = decimal(v, n);
        if (s >= 0 || n >= sizeof(text))
                return s;
        memcpy(text, v, n);
        text[n] = 0;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!end || *end)
                return -1;
        s = (int64_t)timegm(&tm) - (int64_t)time(NULL);
        return s < 0 ? 0 : s;
}

/* The chunked body from buf[off, len): 0 incomplete, 1 complete (joined in place at off, *out_len; the chunks
 * ended at *end), -1 bad. */
static int chunks(char *buf, size_t len, size_t off, size_t *out_len, size_t *end) {
        size_t p = off, total = 0;
        for (int pass = 0; pass < 2; pass++) { /* measured and checked first, joined once complete */
                p = off;
                total = 0;
                for (;;) {
                        size_t size = 0, digits = 0;
                        while (p < len && digits < 12) {
                                char ch = buf[p];
                                int d = ch >= '0' && ch <= '9' ? ch - '0'
                                        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                                                 : -1;
                                if (d < 0)
                                        break;
                                size = size * 16 + (size_t)d;
                                digits++;
                                p++;
                        }
                        if (p >= len)
                                return 0;
                        if (digits == 0 || digits >= 12)
                                return -1;
                        while (p < len && buf[p] != '\r') /* chunk extensions */
                                p++;
                        if (p + 1 >= len)
                                return 0;
                        if (buf[p + 1] != '\n')
                                return -1;
                        p += 2;
                        if (size == 0)
                                break;
                        if (len - p < size + 2)
                                return 0;
                        if (buf[p + size] != '\r' || buf[p + size + 1] != '\n')
                                return -1;
                        if (pass == 1)
                                memmove(buf + off + total, buf + p, size);
                        total += size;
                        p += size + 2;
                }
                /* Trailer fields, then the empty line. */
                for (;;) {
                        size_t s = p;
                        while (p + 1 < len && !(buf[p] == '\r' && buf[p + 1] == '\n'))
                                p++;
                        if (p + 1 >= len)
                                return 0;
                        p += 2;
                        if (p - s == 2)
                                break;
                        if (p - s > HEAD_MAX)
                                return -1;
                }
        }
        *out_len = total;
        *end = p;
        return 1;
}

int http_response_parse(char *buf, size_t len, bool eof, long *status, int64_t *retry_after_s, bool *keep_alive,
                        size_t *body_off, size_t *body_len, size_t *end) {
        size_t start = 0;
        for (;;) {
                const char *hend = find_crlf2(buf + start, len - start);
                if (!hend)
                        return len - start > HEAD_MAX || eof ? -1 : 0;
                size_t head_len = (size_t)(hend - (buf + start));
                const char *h = buf + start;
                if (head_len > HEAD_MAX || head_len < 12 || strncmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') ||
                    h[8] != ' ' || decimal(h + 9, 3) < 100 || decimal(h + 9, 3) > 599 || (head_len > 12 && h[12] != ' ' && h[12] != '\r'))
                        return -1;
                long code = (long)decimal(h + 9, 3);
                bool http11 = h[7] == '1', close = false, alive = false, chunked = false;
                int64_t clen = -1, ra = -1;
                const char *le = memchr(h, '\r', head_len);
                size_t line_end = le ? (size_t)(le - h) : head_len;
                for (size_t i = line_end + 2; i < head_len;) {
                        const char *l = h + i, *e = memchr(l, '\r', head_len - i);
                        size_t n = e ? (size_t)(e - l) : head_len - i;
                        const char *colon = memchr(l, ':', n);
                        if (!colon || colon == l)
                                return -1;
                        size_t nl = (size_t)(colon - l), vs = nl + 1;
                        while (vs < n && (l[vs] == ' ' || l[vs] == '\t'))
                                vs++;
                        size_t ve = n;
                        while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
                                ve--;
                        const char *v = l + vs;
                        size_t vn = ve - vs;
                        if (nl == 14 && strncasecmp(l, "content-length", nl) == 0) {
                                int64_t x = decimal(v, vn);
                                if (x < 0 || (clen >= 0 && clen != x))
                                        return -1;
                                clen = x;
                        } else if (nl == 17 && strncasecmp(l, "transfer-encoding", nl) == 0) {
                                chunked = has_token(v, vn, "chunked");
                                if (!chunked)
                                        return -1; /* gzip and the like: never asked for */
                        } else if (nl == 10 && strncasecmp(l, "connection", nl) == 0) {
                                close = close || has_token(v, vn, "close");
                                alive = alive || has_token(v, vn, "keep-alive");
                        } else if (nl == 11 && strncasecmp(l, "retry-after", nl) == 0) {
                                ra = retry_after(v, vn);
                        }
                        i += n + 2;
                }
                size_t body = start + head_len + 4;
                if (code >= 100 && code <= 199) {
                        if (code == 101)
                                return -1; /* no protocol upgrades were asked for */
                        start = body;      /* an interim answer: the real one follows */
                        continue;
                }
                *status = code;
                *retry_after_s = ra;
                *keep_alive = http11 ? !close : alive && !close;
                *body_off = body;
                if (code == 204 || code == 304) {
                        *body_len = 0;
                        *end = body;
                        return 1;
                }
                if (chunked) {
                        int r = chunks(buf, len, body, body_len, end);
                        if (r == 0 && eof)
                                return -1;
                        if (clen >= 0)
                                *keep_alive = false; /* both framings: trust neither for what follows */
                        return r;
                }
                if (clen >= 0) {
                        if (len - body < (uint64_t)clen)
                                return eof ? -1 : 0;
                        *body_len = (size_t)clen;
                        *end = body + (size_t)clen;
                        return 1;
                }
                if (!eof)
                        return 0; /* the body ends when the server closes */
                *keep_alive = false;
                *body_len = len - body;
                *end = len;
                return 1;
        }
}

/* ---- TLS ------------------------------------------------------------------------------------------- */

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static SSL_CTX *tls_ctx; /* for the process's life once an https client was made */

static void tls_start(void) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx)
                return;
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        /* The system's authorities (SSL_CERT_FILE / SSL_CERT_DIR when set). */
        if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
                SSL_CTX_free(ctx);
                return;
        }
        SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF); /* a body that ends with the connection */
        tls_ctx = ctx;
}

/* ---- the client ------------------------------------------------------------------------------------ */

typedef enum { CONN_IDLE, CONN_CONNECTING, CONN_TLS, CONN_SENDING, CONN_RECEIVING, CONN_DONE } ConnState;

typedef struct {
        int fd; /* -1: closed */
        SSL *ssl;
        ConnState state;
        bool reused, want_write; /* kept alive from before; TLS waits to write */
        const struct addrinfo *next; /* while connecting: the next of the client's addresses to try */
        char why[64];                /* TLS: the library's reason for the last failure */
        int send_error;              /* the request could not be sent whole (errno): only an answer already
                                      * there is read */
        HttpRequest *rq;
        TextBuf out, in;
        size_t sent;
} Conn;

#define ADDRS_KEEP_MS 60000 /* the host's addresses are looked up again after this (libcurl's DNS cache too) */

struct HttpClient {
        char *host, *host_header, *path, *prefix; /* prefix: path without its trailing '/' */
        char *fixed;                              /* the header lines every request carries */
        char port[8];
        bool tls;
        size_t max_conns, max_answer;
        struct addrinfo *addrs; /* the host's addresses, looked up at addrs_ms (NULL: not yet, or failed) */
        int64_t addrs_ms;
        int addrs_error;        /* getaddrinfo's, when addrs is NULL */
        Conn *conns;
};

static void conn_close(Conn *c) {
        if (c->ssl)
                SSL_free(c->ssl);
        if (c->fd >= 0)
                close(c->fd);
        c->ssl = NULL;
        c->fd = -1;
        c->next = NULL;
        c->reused = false;
}

/* A value that cannot break out of its header line. */
static bool header_safe(const char *v) {
        for (; *v; v++)
                if ((unsigned char)*v < 0x20 || *v == 0x7f)
                        return false;
        return true;
}

int http_client_new(HttpClient **ret, const HttpClientConfig *cfg) {
        const char *url = cfg->url, *bearer = cfg->bearer && *cfg->bearer ? cfg->bearer : NULL, *a;
        size_t max_conns = cfg->max_conns, max_answer = cfg->max_answer;
        bool tls;
        if (!url || max_conns < 1 || max_answer < 1 || (bearer && !header_safe(bearer)))
                return -EINVAL;
        if (strncmp(url, "http://", 7) == 0)
                tls = false, a = url + 7;
        else if (strncmp(url, "https://", 8) == 0)
                tls = true, a = url + 8;
        else
                return -EINVAL;
        const char *end = a + strcspn(a, "/?#"), *port = NULL, *hs = a, *he;
        if (memchr(a, '@', (size_t)(end - a)) || end == a)
                return -EINVAL; /* credentials in the URL: use the API key settings */
        if (*a == '[') {
                he = memchr(a, ']', (size_t)(end - a));
                if (!he)
                        return -EINVAL;
                hs = a + 1;
                port = he + 1 < end && he[1] == ':' ? he + 2 : NULL;
                if (he + 1 < end && he[1] != ':')
                        return -EINVAL;
        } else {
                const char *colon = memchr(a, ':', (size_t)(end - a));
                he = colon ? colon : end;
                port = colon ? colon + 1 : NULL;
        }
        if (he == hs || (port && (end - port < 1 || end - port > 5)))
                return -EINVAL;
        int64_t pn = port ? decimal(port, (size_t)(end - port)) : (tls ? 443 : 80);
        if (pn < 1 || pn > 65535)
                return -EINVAL;
        for (const char *p = a; p < end; p++)
                if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                        return -EINVAL;
        for (const char *p = end; *p; p++)
                if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                        return -EINVAL;
        if (tls) {
                pthread_once(&tls_once, tls_start);
                if (!tls_ctx)
                        return -EIO;
        }
        HttpClient *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->tls = tls;
        c->max_conns = max_conns;
        c->max_answer = max_answer;
        snprintf(c->port, sizeof(c->port), "%d", (int)pn);
        c->host = strndup(hs, (size_t)(he - hs));
        c->host_header = strndup(a, (size_t)(end - a));
        /* The path as sent: "/" when the URL has none (before a query too), without a fragment. */
        size_t plen = strcspn(end, "#");
        if (asprintf(&c->path, "%s%.*s", *end == '/' ? "" : "/", (int)plen, end) < 0)
                c->path = NULL;
        c->prefix = c->path ? strdup(c->path) : NULL;
        if (asprintf(&c->fixed, "Content-Type: application/json\r\n%s%s%s", bearer ? "Authorization: Bearer " : "",
                     bearer ? bearer : "", bearer ? "\r\n" : "") < 0)
                c->fixed = NULL;
        c->conns = calloc(max_conns, sizeof(Conn));
        if (!c->host || !c->host_header || !c->path || !c->prefix || !c->fixed || !c->conns) {
                http_client_free(c);
                return -ENOMEM;
        }
        size_t n = strlen(c->prefix); /* without its trailing '/': rq->path begins with one */
        while (n > 0 && c->prefix[n - 1] == '/')
                c->prefix[--n] = 0;
        for (size_t i = 0; i < max_conns; i++)
                c->conns[i].fd = -1;
        *ret = c;
        return 0;
}

void http_client_free(HttpClient *c) {
        if (!c)
                return;
        for (size_t i = 0; c->conns && i < c->max_conns; i++) {
                conn_close(&c->conns[i]);
                textbuf_free(&c->conns[i].out);
                textbuf_free(&c->conns[i].in);
        }
        free(c->conns);
        if (c->addrs)
                freeaddrinfo(c->addrs);
        free(c->host);
        free(c->host_header);
        free(c->path);
        free(c->prefix);
        free(c->fixed);
        free(c);
}

/* Ends c's request without an answer: error = what + detail. */
static void conn_fail(Conn *c, const char *what, const char *detail) {
        snprintf(c->rq->error, sizeof(c->rq->error), "%s%s", what, detail);
        c->rq->status = 0;
        conn_close(c);
        c->state = CONN_DONE;
}

/* Starts a connect to the next address; false when none is left (the request failed). */
static bool conn_connect_next(Conn *c, int err) {
        while (c->next) {
                const struct addrinfo *ai = c->next;
                c->next = ai->ai_next;
                int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
                if (fd < 0) {
                        err = errno;
                        continue;
                }
                int one = 1;
                (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
                if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
                        c->fd = fd;
                        c->state = CONN_CONNECTING;
                        return true;
                }
                err = errno;
                close(fd);
        }
        conn_fail(c, "connect: ", strerror(err ? err : ECONNREFUSED));
        return false;
}

/* The host's addresses, looked up again once ADDRS_KEEP_MS old or after a failure: at the start of a call only,
 * while no connection walks the list. */
static void addrs_refresh(HttpClient *cl) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
        if (cl->addrs && ids_monotonic_ms() - cl->addrs_ms < ADDRS_KEEP_MS)
                return;
        if (cl->addrs)
                freeaddrinfo(cl->addrs);
        cl->addrs = NULL;
        cl->addrs_error = getaddrinfo(cl->host, cl->port, &hints, &cl->addrs);
        if (cl->addrs_error != 0)
                cl->addrs = NULL;
        cl->addrs_ms = ids_monotonic_ms();
}

/* A fresh connection for c's request. */
static void conn_open(HttpClient *cl, Conn *c) {
        conn_close(c);
        if (!cl->addrs) {
                conn_fail(c, "cannot resolve the host: ", gai_strerror(cl->addrs_error));
                return;
        }
        c->next = cl->addrs;
        (void)conn_connect_next(c, 0);
}

/* Whether an idle kept-alive connection still looks open (the server closes idle ones when it likes). */
static bool conn_alive(Conn *c) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        return c->fd >= 0 && poll(&p, 1, 0) == 0;
}

static void tls_error(Conn *c, const char *what) {
        char detail[HTTP_ERROR_MAX];
        long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
        unsigned long e = ERR_peek_last_error();
        if (vr != X509_V_OK)
                snprintf(detail, sizeof(detail), "%s: certificate: %s", what, X509_verify_cert_error_string(vr));
        else if (e)
                snprintf(detail, sizeof(detail), "%s: %s", what, ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "error");
        else
                snprintf(detail, sizeof(detail), "%s: %s", what, errno ? strerror(errno) : "connection closed");
        ERR_clear_error();
        conn_fail(c, "TLS ", detail);
}

static bool conn_tls_start(HttpClient *cl, Conn *c) {
        unsigned char ip[16];
        c->ssl = SSL_new(tls_ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
                tls_error(c, "setup");
                return false;
        }
        bool literal = inet_pton(AF_INET, cl->host, ip) == 1 || inet_pton(AF_INET6, cl->host, ip) == 1;
        if (literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), cl->host) != 1
                    : SSL_set_tlsext_host_name(c->ssl, cl->host) != 1 || SSL_set1_host(c->ssl, cl->host) != 1) {
                tls_error(c, "setup");
                return false;
        }
        c->state = CONN_TLS;
        return true;
}

/* Reads or writes through TLS or the socket: > 0 bytes, 0 end of stream, -EAGAIN, or another -errno. */
static ssize_t conn_io(Conn *c, bool write, void *buf, size_t n) {
        if (!c->ssl) {
                ssize_t k = write ? send(c->fd, buf, n, MSG_NOSIGNAL) : recv(c->fd, buf, n, 0);
                if (k >= 0)
                        return k;
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
        }
        ERR_clear_error();
        errno = 0;
        int k = write ? SSL_write(c->ssl, buf, (int)n) : SSL_read(c->ssl, buf, (int)n);
        if (k > 0)
                return k;
        switch (SSL_get_error(c->ssl, k)) {
        case SSL_ERROR_WANT_READ:
                c->want_write = false;
                return -EAGAIN;
        case SSL_ERROR_WANT_WRITE:
                c->want_write = true;
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                return 0;
        case SSL_ERROR_SYSCALL:
                return errno ? -errno : 0;
        default: {
                const char *why = ERR_reason_error_string(ERR_peek_last_error());
                snprintf(c->why, sizeof(c->why), "TLS: %s", why ? why : "protocol error");
                ERR_clear_error();
                return -EPROTO;
        }
        }
}

/* The text of conn_io's error -e. */
static const char *io_error(const Conn *c, int e) {
        return e == EPROTO && c->why[0] ? c->why : strerror(e);
}

/* Whether the server has written something (an early answer, or its closing) while the request was going out. */
static bool answer_waiting(const Conn *c) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        return poll(&p, 1, 0) > 0;
}

/* The request failed on a connection kept from before, with nothing of an answer: the server had closed it. */
static bool conn_retry(HttpClient *cl, Conn *c) {
        if (!c->reused || c->in.len > 0)
                return false;
        c->sent = 0;
        c->send_error = 0;
        conn_open(cl, c);
        return true;
}

static void conn_too_large(HttpClient *cl, Conn *c) {
        char size[48];
        snprintf(size, sizeof(size), "%zu bytes", cl->max_answer);
        conn_fail(c, "answer larger than ", size);
}

static void conn_receive(HttpClient *cl, Conn *c) {
        char chunk[16384];
        bool eof = false;
        for (;;) {
                ssize_t k = conn_io(c, false, chunk, sizeof(chunk));
                if (k == -EAGAIN)
                        break;
                if (k < 0 && k != -ECONNRESET) {
                        if (!conn_retry(cl, c))
                                conn_fail(c, "receiving the answer: ", io_error(c, (int)-k));
                        return;
                }
                if (k <= 0) {
                        eof = true;
                        break;
                }
                textbuf_put(&c->in, chunk, (size_t)k);
                if (c->in.failed || c->in.len > cl->max_answer + HEAD_MAX) {
                        conn_too_large(cl, c);
                        return;
                }
        }
        long status = 0;
        int64_t ra = -1;
        bool keep = false;
        size_t off = 0, blen = 0, end = 0;
        int r = c->in.len ? http_response_parse(c->in.p, c->in.len, eof, &status, &ra, &keep, &off, &blen, &end) : 0;
        /* Cut short: what arrived reads as the start of an answer that the closing ended. */
        bool cut = eof && r != 1 && (r == 0 || http_response_parse(c->in.p, c->in.len, false, &status, &ra, &keep, &off,
                                                                    &blen, &end) == 0);
        if (cut || (r == 0 && c->send_error)) {
                if (conn_retry(cl, c))
                        return;
                if (c->send_error && c->in.len == 0)
                        conn_fail(c, "sending the request: ", strerror(c->send_error));
                else
                        conn_fail(c, "", "connection closed before the answer was complete");
                return;
        }
        if (r == 0)
                return;
        if (r < 0) {
                conn_fail(c, "", "malformed HTTP answer");
                return;
        }
        if (blen > cl->max_answer) {
                conn_too_large(cl, c);
                return;
        }
        HttpRequest *rq = c->rq;
        rq->status = status;
        rq->retry_after_ms = ra > 0 && ra < 86400 ? ra * 1000 : 0;
        textbuf_put(&rq->answer, c->in.p + off, blen);
        rq->error[0] = 0;
        c->state = CONN_DONE;
        /* Bytes after the answer (nothing asked for them), or an answer before the whole request went. */
        if (!keep || eof || end != c->in.len || c->send_error || c->sent < c->out.len)
                conn_close(c);
}

/* Advances c as far as it goes without waiting. */
static void conn_step(HttpClient *cl, Conn *c) {
        for (;;) {
                switch (c->state) {
                case CONN_CONNECTING: {
                        struct pollfd w = {.fd = c->fd, .events = POLLOUT};
                        if (poll(&w, 1, 0) == 0)
                                return; /* still connecting */
                        int err = 0;
                        socklen_t l = sizeof(err);
                        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                                err = errno;
                        if (err == EINPROGRESS)
                                return;
                        if (err) {
                                close(c->fd);
                                c->fd = -1;
                                if (!conn_connect_next(c, err))
                                        return;
                                continue;
                        }
                        c->next = NULL;
                        if (!cl->tls)
                                c->state = CONN_SENDING;
                        else if (!conn_tls_start(cl, c))
                                return;
                        continue;
                }
                case CONN_TLS: {
                        ERR_clear_error();
                        errno = 0;
                        int k = SSL_connect(c->ssl);
                        if (k == 1) {
                                c->state = CONN_SENDING;
                                continue;
                        }
                        int e = SSL_get_error(c->ssl, k);
                        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                                c->want_write = e == SSL_ERROR_WANT_WRITE;
                                return;
                        }
                        tls_error(c, "handshake");
                        return;
                }
                case CONN_SENDING: {
                        /* A server may answer (413, 401...) before it took the whole request, and stop reading or
                         * close: over plain TCP that answer is read rather than the rest written. */
                        while (c->sent < c->out.len) {
                                ssize_t k = conn_io(c, true, c->out.p + c->sent, c->out.len - c->sent);
                                if (k == -EAGAIN) {
                                        if (!c->ssl && answer_waiting(c))
                                                break;
                                        return;
                                }
                                if (k <= 0 && c->ssl) {
                                        if (!conn_retry(cl, c))
                                                conn_fail(c, "sending the request: ", io_error(c, k < 0 ? (int)-k : EPIPE));
                                        break;
                                }
                                if (k <= 0) {
                                        c->send_error = k < 0 ? (int)-k : EPIPE;
                                        break;
                                }
                                c->sent += (size_t)k;
                        }
                        if (c->state != CONN_SENDING)
                                continue;
                        c->state = CONN_RECEIVING;
                        c->want_write = false;
                        continue;
                }
                case CONN_RECEIVING:
                        conn_receive(cl, c);
                        return;
                default:
                        return;
                }
        }
}

static short conn_events(const Conn *c) {
        switch (c->state) {
        case CONN_CONNECTING:
                return POLLOUT;
        case CONN_TLS:
                return c->want_write ? POLLOUT : POLLIN;
        case CONN_SENDING:
                return c->ssl && c->want_write ? POLLOUT : POLLIN | POLLOUT;
        default:
                return c->ssl && c->want_write ? POLLOUT : POLLIN;
        }
}

/* The request's bytes in c->out. */
static void request_write(HttpClient *cl, Conn *c, const HttpRequest *rq, int64_t timeout_ms) {
        char length[64], timeout[64];
        const char *target = rq->path && *rq->path ? NULL : cl->path;
        textbuf_reset(&c->out);
        textbuf_puts(&c->out, "POST ");
        if (target)
                textbuf_puts(&c->out, target);
        else {
                textbuf_puts(&c->out, cl->prefix);
                textbuf_puts(&c->out, rq->path);
        }
        snprintf(length, sizeof(length), "\r\nContent-Length: %zu\r\n", rq->body_len);
        textbuf_puts(&c->out, " HTTP/1.1\r\nHost: ");
        textbuf_puts(&c->out, cl->host_header);
        textbuf_puts(&c->out, length);
        textbuf_puts(&c->out, cl->fixed);
        snprintf(timeout, sizeof(timeout), HTTP_TIMEOUT_HEADER ": %lld\r\n", (long long)timeout_ms);
        textbuf_puts(&c->out, timeout);
        if (rq->key && header_safe(rq->key)) {
                textbuf_puts(&c->out, "Idempotency-Key: ");
                textbuf_puts(&c->out, rq->key);
                textbuf_puts(&c->out, "\r\n");
        }
        textbuf_puts(&c->out, "\r\n");
        textbuf_put(&c->out, rq->body, rq->body_len);
}

int http_client_post(HttpClient *cl, HttpRequest *reqs, size_t n, int64_t timeout_ms) {
        if (n > cl->max_conns)
                return -EINVAL;
        struct pollfd fds[n ? n : 1];
        size_t map[n ? n : 1];
        int64_t deadline = ids_monotonic_ms() + timeout_ms;
        bool opening = false;

        for (size_t i = 0; i < n; i++) {
                Conn *c = &cl->conns[i];
                c->reused = c->fd >= 0 && conn_alive(c);
                opening = opening || !c->reused;
        }
        if (opening)
                addrs_refresh(cl);
        for (size_t i = 0; i < n; i++) {
                Conn *c = &cl->conns[i];
                HttpRequest *rq = &reqs[i];
                rq->status = 0;
                rq->retry_after_ms = 0;
                textbuf_reset(&rq->answer);
                snprintf(rq->error, sizeof(rq->error), "no answer");
                c->rq = rq;
                c->sent = 0;
                c->send_error = 0;
                c->why[0] = 0;
                textbuf_reset(&c->in);
                request_write(cl, c, rq, timeout_ms);
                if (c->out.failed) {
                        conn_fail(c, "", "not sent: out of memory");
                        continue;
                }
                if (c->reused)
                        c->state = CONN_SENDING;
                else
                        conn_open(cl, c);
                if (c->state != CONN_DONE)
                        conn_step(cl, c);
        }
        for (;;) {
                size_t k = 0;
                for (size_t i = 0; i < n; i++)
                        if (cl->conns[i].state != CONN_DONE) {
                                fds[k] = (struct pollfd){.fd = cl->conns[i].fd, .events = conn_events(&cl->conns[i])};
                                map[k++] = i;
                        }
                if (k == 0)
                        break;
                int64_t left = deadline - ids_monotonic_ms();
                if (left <= 0) {
                        char what[48];
                        snprintf(what, sizeof(what), "%lld ms", (long long)timeout_ms);
                        for (size_t j = 0; j < k; j++)
                                conn_fail(&cl->conns[map[j]], "timed out after ", what);
                        break;
                }
                int r = poll(fds, (nfds_t)k, (int)(left > 1000 ? 1000 : left));
                if (r < 0 && errno != EINTR)
                        break;
                for (size_t j = 0; r > 0 && j < k; j++)
                        if (fds[j].revents)
                                conn_step(cl, &cl->conns[map[j]]);
        }
        for (size_t i = 0; i < n; i++) {
                Conn *c = &cl->conns[i];
                if (c->state != CONN_DONE) /* poll failed: nothing usable */
                        conn_fail(c, "", "poll failed");
                c->state = CONN_IDLE;
                c->reused = false;
                c->rq = NULL;
        }
        return 0;
}
