/* Test of the HTTP client: the answer parser on its own, then POSTs over real loopback sockets to a small server
 * thread here (kept-alive connections reused, a connection the server dropped replaced, requests in parallel, a
 * timeout, a refused connect, an answer over the limit), HTTPS to a TLS server thread (a certificate the system
 * trusts through SSL_CERT_FILE; one it does not; a name it was not made for), and the URLs it takes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http-client.h"
#include "test-check.h"

static size_t parsed_end; /* of the last complete answer */

static int parse(const char *text, bool eof, long *status, int64_t *ra, bool *keep, char *body, size_t cap) {
        size_t n = strlen(text), off = 0, len = 0;
        char *buf = malloc(n + 1);
        memcpy(buf, text, n + 1);
        int r = http_response_parse(buf, n, eof, status, ra, keep, &off, &len, &parsed_end);
        if (r == 1)
                snprintf(body, cap, "%.*s", (int)len, buf + off);
        free(buf);
        return r;
}

static void test_parser(void) {
        long st = 0;
        int64_t ra = 0;
        bool keep = false;
        char body[128];
        int r;

        r = parse("HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello", false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == 1 && st == 201 && keep && ra == -1 && strcmp(body, "hello") == 0, "content-length: %d %ld %s", r, st, body);
        r = parse("HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhel", false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == 0, "a body still coming: expected 0, got %d", r);
        r = parse("HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhel", true, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == -1, "a body cut by the close: expected -1, got %d", r);
        r = parse("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
                  false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == 1 && strcmp(body, "hello world") == 0 && keep, "chunked: %d '%s'", r, body);
        r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1", false, &st, &ra, &keep,
                  body, sizeof(body));
        CHECK(r == 1 && parsed_end == 59, "where chunks end, bytes after them: %d, end %zu", r, parsed_end);
        r = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokXY", false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == 1 && parsed_end == 40 && strcmp(body, "ok") == 0, "where a sized body ends: %d, end %zu", r, parsed_end);
        r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", false, &st, &ra, &keep, body,
                  sizeof(body));
        CHECK(r == 0, "chunks without the last one: expected 0, got %d", r);
        r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == -1, "a chunk size that is not hex: expected -1, got %d", r);
        r = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
                  false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == 1 && st == 429 && ra == 7, "an interim 100 skipped, Retry-After read: %d %ld %lld", r, st, (long long)ra);
        r = parse("HTTP/1.1 503 Busy\r\nRetry-After: Fri, 01 Jan 2100 00:00:00 GMT\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                  false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == 1 && st == 503 && ra > 86400 && !keep, "Retry-After as a date, Connection: close: %lld %d", (long long)ra, keep);
        r = parse("HTTP/1.0 200 OK\r\n\r\nuntil the end", false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == 0, "a body ending with the connection, still open: expected 0, got %d", r);
        r = parse("HTTP/1.0 200 OK\r\n\r\nuntil the end", true, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == 1 && !keep && strcmp(body, "until the end") == 0, "a body ending with the connection: %d '%s'", r, body);
        r = parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", false, &st, &ra, &keep, body,
                  sizeof(body));
        CHECK(r == -1, "two different lengths: expected -1, got %d", r);
        r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == -1, "an encoding never asked for: expected -1, got %d", r);
        r = parse("SMTP 220 hello\r\n\r\n", false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == -1, "not HTTP: expected -1, got %d", r);
        r = parse("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == 1 && st == 200 && strcmp(body, "ok") == 0, "a status line without a reason phrase: %d %ld", r, st);
        r = parse("HTTP/1.1 204 No Content\r\n\r\n", false, &st, &ra, &keep, body, sizeof(body));
        CHECK(r == 1 && st == 204 && strcmp(body, "") == 0, "204 without a body: %d", r);
}

/* ---- a loopback server ---- */

/* EARLY: answers 413 and closes once the head arrived, the body unread; CUT: half an answer, then closes. */
typedef enum { ANSWER, ANSWER_THEN_DROP, SILENT, LARGE, CHUNKED, EARLY, CUT } Mode;

static struct {
        int listen_fd, port;
        _Atomic int mode, accepted, requests, stop;
        char last_head[1024];
        pthread_mutex_t lock;
} srv;

static void answer(int fd, Mode mode) {
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"ok\":true}\n";
        const char *large = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                            "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789";
        const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n5\r\n\":1}\n\r\n0\r\n\r\n";
        const char *early = "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
        const char *t = mode == LARGE ? large : mode == CHUNKED ? chunked : mode == EARLY ? early : mode == CUT ? cut : ok;
        (void)!write(fd, t, strlen(t));
}

static void *server(void *arg) {
        struct pollfd fds[32];
        char bufs[32][4096];
        size_t lens[32];
        int n = 1;
        (void)arg;
        fds[0] = (struct pollfd){.fd = srv.listen_fd, .events = POLLIN};
        while (!srv.stop) {
                if (poll(fds, (nfds_t)n, 50) <= 0)
                        continue;
                if (fds[0].revents & POLLIN) {
                        int c = accept(srv.listen_fd, NULL, NULL);
                        if (c >= 0 && n < 32) {
                                fds[n] = (struct pollfd){.fd = c, .events = POLLIN};
                                lens[n++] = 0;
                                srv.accepted++;
                        } else if (c >= 0)
                                close(c);
                }
                for (int i = 1; i < n; i++) {
                        if (!fds[i].revents)
                                continue;
                        /* The mode is read once, before the answer goes: the client changes it only once answered. */
                        Mode mode = (Mode)srv.mode;
                        ssize_t k = read(fds[i].fd, bufs[i] + lens[i], sizeof(bufs[i]) - 1 - lens[i]);
                        bool drop = k <= 0;
                        if (k > 0) {
                                lens[i] += (size_t)k;
                                bufs[i][lens[i]] = 0;
                                char *end = strstr(bufs[i], "\r\n\r\n");
                                char *cl = end ? strcasestr(bufs[i], "Content-Length: ") : NULL;
                                size_t body = cl ? (size_t)atol(cl + 16) : 0;
                                if (end && mode == EARLY) {
                                        answer(fds[i].fd, EARLY);
                                        srv.requests++;
                                        drop = true;
                                } else if (lens[i] == sizeof(bufs[i]) - 1) {
                                        lens[i] = 0; /* a body larger than the buffer: only its end matters */
                                } else if (end && lens[i] >= (size_t)(end + 4 - bufs[i]) + body) {
                                        pthread_mutex_lock(&srv.lock);
                                        snprintf(srv.last_head, sizeof(srv.last_head), "%.*s", (int)(end - bufs[i]), bufs[i]);
                                        pthread_mutex_unlock(&srv.lock);
                                        srv.requests++;
                                        lens[i] = 0;
                                        if (mode != SILENT)
                                                answer(fds[i].fd, mode);
                                        drop = mode == ANSWER_THEN_DROP || mode == CUT;
                                }
                        }
                        if (drop) {
                                close(fds[i].fd);
                                fds[i] = fds[--n];
                                lens[i] = lens[n];
                                i--;
                        }
                }
        }
        for (int i = 1; i < n; i++)
                close(fds[i].fd);
        return NULL;
}

static int64_t ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_server(void) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof(a);
        pthread_t th;
        HttpClient *c = NULL;
        HttpRequest rq[4];
        char url[64];
        int r;

        pthread_mutex_init(&srv.lock, NULL);
        srv.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(srv.listen_fd >= 0 && bind(srv.listen_fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                      listen(srv.listen_fd, 64) == 0 && getsockname(srv.listen_fd, (struct sockaddr *)&a, &al) == 0,
              "a loopback listener: %s", strerror(errno));
        srv.port = ntohs(a.sin_port);
        pthread_create(&th, NULL, server, NULL);

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/base/", srv.port);
        r = http_client_new(&c, &(HttpClientConfig){.url = url, .bearer = "s3cret", .max_conns = 4, .max_answer = 64});
        CHECK(r == 0, "http_client_new(%s): %d", url, r);
        memset(rq, 0, sizeof(rq));
        rq[0] = (HttpRequest){.path = "/charges", .key = "k1", .body = "{\"a\":1}", .body_len = 7};
        http_client_post(c, rq, 1, 2000);
        CHECK(rq[0].status == 200 && rq[0].answer.len == 12 && strcmp(rq[0].answer.p, "{\"ok\":true}\n") == 0,
              "a POST answered: %ld '%s' (%s)", rq[0].status, rq[0].answer.p ? rq[0].answer.p : "", rq[0].error);
        pthread_mutex_lock(&srv.lock);
        char expect[128];
        snprintf(expect, sizeof(expect), "POST /base/charges HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 7\r\n", srv.port);
        CHECK(strncmp(srv.last_head, expect, strlen(expect)) == 0 && strstr(srv.last_head, "\r\nIdempotency-Key: k1") &&
                      strstr(srv.last_head, "\r\nAuthorization: Bearer s3cret\r\n") &&
                      strstr(srv.last_head, "\r\nContent-Type: application/json\r\n") &&
                      strstr(srv.last_head, "\r\n" HTTP_TIMEOUT_HEADER ": 2000"),
              "the request's head: %s", srv.last_head);
        pthread_mutex_unlock(&srv.lock);
        rq[0].key = "k\r\nX-Injected: 1";
        http_client_post(c, rq, 1, 2000);
        pthread_mutex_lock(&srv.lock);
        CHECK(rq[0].status == 200 && !strstr(srv.last_head, "Idempotency-Key") && !strstr(srv.last_head, "X-Injected"),
              "a key with a control character is not sent: %s", srv.last_head);
        pthread_mutex_unlock(&srv.lock);
        rq[0].key = "k1";
        http_client_post(c, rq, 1, 2000);
        CHECK(rq[0].status == 200 && srv.accepted == 1, "the second POST on the kept connection: %ld, %d accepted",
              rq[0].status, srv.accepted);
        srv.mode = CHUNKED;
        for (int i = 0; i < 2; i++) {
                http_client_post(c, rq, 1, 2000);
                CHECK(rq[0].status == 200 && rq[0].answer.p && strcmp(rq[0].answer.p, "{\"a\":1}\n") == 0 && srv.accepted == 1,
                      "a chunked answer, the connection kept: %ld '%s' (%s), %d accepted", rq[0].status,
                      rq[0].answer.p ? rq[0].answer.p : "", rq[0].error, srv.accepted);
        }
        srv.mode = ANSWER;

        /* The server drops the connection after answering: the next POST goes on a new one, answered. */
        srv.mode = ANSWER_THEN_DROP;
        http_client_post(c, rq, 1, 2000);
        srv.mode = ANSWER;
        usleep(50 * 1000);
        http_client_post(c, rq, 1, 2000);
        CHECK(rq[0].status == 200 && srv.accepted == 2, "after the server dropped the connection: %ld (%s), %d accepted",
              rq[0].status, rq[0].error, srv.accepted);

        /* Four at once, each on a connection of its own. */
        for (int i = 0; i < 4; i++)
                rq[i] = (HttpRequest){.path = "", .body = "{}", .body_len = 2, .answer = rq[i].answer};
        int before = srv.requests;
        http_client_post(c, rq, 4, 2000);
        for (int i = 0; i < 4; i++)
                CHECK(rq[i].status == 200, "parallel request %d: %ld (%s)", i, rq[i].status, rq[i].error);
        CHECK(srv.requests == before + 4 && srv.accepted == 5, "4 requests on 4 connections: %d requests, %d accepted",
              srv.requests - before, srv.accepted);
        pthread_mutex_lock(&srv.lock);
        CHECK(strncmp(srv.last_head, "POST /base/ HTTP/1.1", 20) == 0, "the URL's own path: %s", srv.last_head);
        pthread_mutex_unlock(&srv.lock);
        CHECK(http_client_post(c, rq, 5, 2000) == -EINVAL, "more requests than connections: expected -EINVAL");
        {
                HttpClient *q = NULL;
                char qurl[96];
                snprintf(qurl, sizeof(qurl), "http://127.0.0.1:%d?x=1#fragment", srv.port);
                CHECK(http_client_new(&q, &(HttpClientConfig){.url = qurl, .max_conns = 1, .max_answer = 64}) == 0,
                      "a client of %s", qurl);
                http_client_post(q, rq, 1, 2000);
                pthread_mutex_lock(&srv.lock);
                CHECK(rq[0].status == 200 && strncmp(srv.last_head, "POST /?x=1 HTTP/1.1\r\n", 21) == 0,
                      "a query without a path, a fragment not sent: %ld %s", rq[0].status, srv.last_head);
                pthread_mutex_unlock(&srv.lock);
                http_client_free(q);
        }

        /* An answer over the client's limit (64 bytes here). */
        srv.mode = LARGE;
        http_client_post(c, rq, 1, 2000);
        CHECK(rq[0].status == 0 && strstr(rq[0].error, "answer larger than 64 bytes"), "over the limit: %ld '%s'",
              rq[0].status, rq[0].error);

        /* An answer before the request's 8 MB body went (the server stops reading and closes): the answer counts. */
        char *big = malloc(8 << 20);
        memset(big, 'x', 8 << 20);
        srv.mode = EARLY;
        rq[0] = (HttpRequest){.path = "/big", .body = big, .body_len = 8 << 20, .answer = rq[0].answer};
        http_client_post(c, rq, 1, 5000);
        CHECK(rq[0].status == 413, "an early 413: %ld (%s)", rq[0].status, rq[0].error);
        free(big);
        rq[0] = (HttpRequest){.path = "", .body = "{}", .body_len = 2, .answer = rq[0].answer};
        srv.mode = CUT;
        http_client_post(c, rq, 1, 2000);
        CHECK(rq[0].status == 0 && strstr(rq[0].error, "connection closed before the answer was complete"),
              "an answer cut by the close: %ld '%s'", rq[0].status, rq[0].error);

        /* No answer: the call ends at its deadline. */
        srv.mode = SILENT;
        int64_t t0 = ms();
        http_client_post(c, rq, 2, 300);
        int64_t took = ms() - t0;
        CHECK(rq[0].status == 0 && rq[1].status == 0 && strstr(rq[0].error, "timed out after 300 ms"),
              "a silent server: %ld '%s'", rq[0].status, rq[0].error);
        CHECK(took >= 290 && took < 1500, "the deadline: %lld ms", (long long)took);
        srv.mode = ANSWER;
        http_client_post(c, rq, 1, 2000);
        CHECK(rq[0].status == 200, "answered again after a timeout: %ld (%s)", rq[0].status, rq[0].error);
        for (int i = 0; i < 4; i++)
                textbuf_free(&rq[i].answer);
        http_client_free(c);

        srv.stop = 1;
        pthread_join(th, NULL);
        close(srv.listen_fd);

        /* Nobody listens any more. */
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
        CHECK(http_client_new(&c, &(HttpClientConfig){.url = url, .max_conns = 1, .max_answer = 64}) == 0, "a client of %s",
              url);
        memset(rq, 0, sizeof(rq));
        rq[0].body = "";
        http_client_post(c, rq, 1, 2000);
        CHECK(rq[0].status == 0 && strstr(rq[0].error, "connect: Connection refused"), "refused: '%s'", rq[0].error);
        textbuf_free(&rq[0].answer);
        http_client_free(c);
}

static void test_urls(void) {
        static const char *const bad[] = {"", "ftp://x", "http://", "http://:80", "http://u:p@host/", "http://h:0",
                                          "http://h:65536", "http://h:8x", "http://[::1", "http://h/a b", "http://h\n"};
        HttpClient *c = NULL;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                CHECK(http_client_new(&c, &(HttpClientConfig){.url = bad[i], .max_conns = 1, .max_answer = 1}) == -EINVAL,
                      "URL '%s': expected -EINVAL", bad[i]);
        CHECK(http_client_new(&c, &(HttpClientConfig){.url = "http://h", .max_conns = 0, .max_answer = 1}) == -EINVAL,
              "no connections: expected -EINVAL");
        CHECK(http_client_new(&c, &(HttpClientConfig){.url = "http://h", .bearer = "a\nb", .max_conns = 1, .max_answer = 1}) ==
                      -EINVAL,
              "a bearer token with a line break: expected -EINVAL");
        static const char *const good[] = {"http://localhost", "http://h:8091/x?y=1", "https://psp.example/v1",
                                           "http://[::1]:8080/", "http://h?q=1", "http://h/x#f"};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                int r = http_client_new(&c, &(HttpClientConfig){.url = good[i], .max_conns = 2, .max_answer = 10});
                CHECK(r == 0, "URL '%s': %d", good[i], r);
                http_client_free(c);
                c = NULL;
        }
        http_client_free(NULL);
}

/* ---- TLS ---- */

/* A self-signed certificate for `san` (e.g. "DNS:localhost") with its key. */
static X509 *self_signed(const char *san, EVP_PKEY **key) {
        X509 *x = X509_new();
        X509V3_CTX v3;
        *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!x || !*key)
                return NULL;
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(ms() & 0x7fffffff));
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, *key);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"food-test", -1,
                                   -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(x));
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
        X509_sign(x, *key, EVP_sha256());
        return x;
}

static struct {
        int listen_fd;
        SSL_CTX *ctx;
        _Atomic int stop, handshakes;
} tls_srv;

static void *tls_server(void *arg) {
        (void)arg;
        while (!tls_srv.stop) {
                struct pollfd p = {.fd = tls_srv.listen_fd, .events = POLLIN};
                if (poll(&p, 1, 50) <= 0)
                        continue;
                int fd = accept(tls_srv.listen_fd, NULL, NULL);
                if (fd < 0)
                        continue;
                struct timeval tv = {.tv_sec = 2};
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                SSL *ssl = SSL_new(tls_srv.ctx);
                SSL_set_fd(ssl, fd);
                if (SSL_accept(ssl) == 1) {
                        tls_srv.handshakes++;
                        char buf[4096];
                        size_t len = 0;
                        for (;;) { /* requests on the kept connection until the client leaves */
                                int k = SSL_read(ssl, buf + len, (int)(sizeof(buf) - 1 - len));
                                if (k <= 0)
                                        break;
                                len += (size_t)k;
                                buf[len] = 0;
                                char *end = strstr(buf, "\r\n\r\n"), *cl = end ? strcasestr(buf, "Content-Length: ") : NULL;
                                if (end && len >= (size_t)(end + 4 - buf) + (cl ? (size_t)atol(cl + 16) : 0)) {
                                        const char *ok = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                         "7\r\n{\"tls\":\r\n5\r\ntrue}\r\n0\r\n\r\n";
                                        SSL_write(ssl, ok, (int)strlen(ok));
                                        len = 0;
                                }
                        }
                }
                SSL_free(ssl);
                close(fd);
        }
        return NULL;
}

/* POSTs to `url` once; the client's status, its error in `error`. */
static long tls_post(const char *url, char *error, size_t cap, char *body, size_t body_cap) {
        HttpClient *c = NULL;
        HttpRequest rq = {.path = "", .body = "{}", .body_len = 2};
        int r = http_client_new(&c, &(HttpClientConfig){.url = url, .max_conns = 1, .max_answer = 1024});
        CHECK(r == 0, "http_client_new(%s): %d", url, r);
        if (r < 0)
                return -1;
        http_client_post(c, &rq, 1, 3000);
        snprintf(error, cap, "%s", rq.error);
        snprintf(body, body_cap, "%s", rq.answer.p ? rq.answer.p : "");
        textbuf_free(&rq.answer);
        http_client_free(c);
        return rq.status;
}

/* Before any https client: the trust file is read when TLS starts. */
static void test_tls(void) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof(a);
        EVP_PKEY *key = NULL, *other_key = NULL;
        X509 *trusted = self_signed("DNS:localhost", &key), *other = self_signed("DNS:localhost", &other_key);
        char path[] = "/tmp/test-http-client-ca-XXXXXX", url[96], error[HTTP_ERROR_MAX], body[64];
        pthread_t th;
        long st;

        int fd = mkstemp(path);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        CHECK(trusted && other && f && PEM_write_X509(f, trusted) == 1, "a certificate in %s", path);
        if (f)
                fclose(f);
        setenv("SSL_CERT_FILE", path, 1); /* the system's authorities, for this process: only ours */

        tls_srv.ctx = SSL_CTX_new(TLS_server_method());
        SSL_CTX_use_certificate(tls_srv.ctx, trusted);
        SSL_CTX_use_PrivateKey(tls_srv.ctx, key);
        tls_srv.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(bind(tls_srv.listen_fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(tls_srv.listen_fd, 8) == 0 &&
                      getsockname(tls_srv.listen_fd, (struct sockaddr *)&a, &al) == 0,
              "a TLS listener: %s", strerror(errno));
        pthread_create(&th, NULL, tls_server, NULL);

        /* localhost may resolve to ::1 first, where nobody listens: the next address is tried. */
        snprintf(url, sizeof(url), "https://localhost:%d/hook", ntohs(a.sin_port));
        st = tls_post(url, error, sizeof(error), body, sizeof(body));
        CHECK(st == 201 && strcmp(body, "{\"tls\":true}") == 0, "https to a trusted certificate: %ld '%s' (%s)", st, body,
              error);
        /* The certificate names localhost, not the address. */
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/hook", ntohs(a.sin_port));
        st = tls_post(url, error, sizeof(error), body, sizeof(body));
        CHECK(st == 0 && strstr(error, "certificate"), "https to a name the certificate lacks: %ld '%s'", st, error);
        /* A certificate nobody here trusts. */
        SSL_CTX_use_certificate(tls_srv.ctx, other);
        SSL_CTX_use_PrivateKey(tls_srv.ctx, other_key);
        snprintf(url, sizeof(url), "https://localhost:%d/hook", ntohs(a.sin_port));
        st = tls_post(url, error, sizeof(error), body, sizeof(body));
        CHECK(st == 0 && strstr(error, "TLS handshake: certificate: self-signed certificate"),
              "https to an untrusted certificate: %ld '%s'", st, error);
        CHECK(tls_srv.handshakes == 1, "handshakes completed: expected 1, got %d", tls_srv.handshakes);

        tls_srv.stop = 1;
        pthread_join(th, NULL);
        close(tls_srv.listen_fd);
        SSL_CTX_free(tls_srv.ctx);
        X509_free(trusted);
        X509_free(other);
        EVP_PKEY_free(key);
        EVP_PKEY_free(other_key);
        unlink(path);
}

int main(void) {
        signal(SIGPIPE, SIG_IGN); /* as every service does (http-client.h) */
        test_parser();
        test_tls();
        test_urls();
        test_server();
        return failures ? 1 : 0;
}
