/* Unit test of the driver's HTTP client against servers on loopback (forked children): its byte counters match
 * what a server read and wrote, headers and bodies included; a chunked answer is decoded; a request whose
 * kept-alive connection the server closed goes again on a new one; a request without an answer times out. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-http.h"
#include "test-check.h"

/* Two answers on one keep-alive connection: the second request must reuse it. */
static const char reply[] = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n"
                            "{\"status\":\"PAID\"}";

/* Reads one request (headers, then Content-Length bytes of body) from fd. Returns the bytes read, or -1. */
static long read_request(int fd) {
        char buf[8192];
        size_t len = 0;
        long body = -1;
        for (;;) {
                ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (n <= 0)
                        return -1;
                len += (size_t)n;
                buf[len] = '\0';
                char *end = strstr(buf, "\r\n\r\n");
                if (!end)
                        continue;
                if (body < 0) {
                        /* The client writes the header with this spelling; no digits means no body. */
                        const char *cl = strstr(buf, "Content-Length: ");
                        body = 0;
                        for (const char *d = cl ? cl + 16 : ""; *d >= '0' && *d <= '9' && body < 100000; d++)
                                body = body * 10 + (*d - '0');
                }
                if (len >= (size_t)(end + 4 - buf) + (size_t)body)
                        return (long)len;
        }
}

/* The child: serves two requests on one connection and writes "read written" to `out`. */
static int serve(int listener, int out) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0)
                return 1;
        long got = 0, sent = 0;
        for (int i = 0; i < 2; i++) {
                long n = read_request(fd);
                if (n < 0 || write(fd, reply, sizeof(reply) - 1) != (ssize_t)(sizeof(reply) - 1))
                        return 1;
                got += n;
                sent += (long)sizeof(reply) - 1;
        }
        dprintf(out, "%ld %ld\n", got, sent);
        close(fd);
        return 0;
}

/* The second child: a chunked answer; the next request read on the same connection, which is then closed without
 * an answer (a server dropping a kept-alive connection as a request arrives): the client must send it again on a
 * new connection, where it is answered; then a request left unanswered until the client gives up. */
static int serve_faults(int listener) {
        static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        static const char small[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        int fd = accept(listener, NULL, NULL);
        if (fd < 0 || read_request(fd) < 0 || write(fd, chunked, sizeof(chunked) - 1) != (ssize_t)(sizeof(chunked) - 1))
                return 1;
        if (read_request(fd) < 0) /* the second request's first try, on the kept-alive connection */
                return 1;
        close(fd);
        fd = accept(listener, NULL, NULL);
        if (fd < 0 || read_request(fd) < 0 || write(fd, small, sizeof(small) - 1) != (ssize_t)(sizeof(small) - 1))
                return 1;
        if (read_request(fd) < 0)
                return 1;
        char c;
        (void)read(fd, &c, 1); /* until the client closes */
        close(fd);
        return 0;
}

static void test_faults(void) {
        int listener = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(addr);
        if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 4) < 0 ||
            getsockname(listener, (struct sockaddr *)&addr, &alen) < 0) {
                CHECK(0, "cannot listen on loopback");
                return;
        }
        pid_t child = fork();
        if (child == 0)
                _exit(serve_faults(listener));
        char url[64], err[256] = "";
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
        Http *h = NULL;
        int r = http_new(&h, url, 1, 300);
        CHECK(r == 0, "http_new: expected 0, got %d", r);
        long status = 0;
        char *body = NULL;
        r = h ? http_fetch(h, "GET", "/a", NULL, NULL, &status, &body, err, sizeof(err)) : -1;
        CHECK(r == 0 && status == 200 && body && strcmp(body, "{\"a\":1}") == 0,
              "chunked answer: expected 0, 200 and {\"a\":1}, got %d, %ld and %s (%s)", r, status, body ? body : "-", err);
        free(body);
        body = NULL;
        r = h ? http_fetch(h, "POST", "/b", "tok", "{}", &status, &body, err, sizeof(err)) : -1;
        CHECK(r == 0 && status == 200 && body && strcmp(body, "{}") == 0,
              "sent again after the server closed the connection under it: expected 0, 200 and {}, got %d, %ld and %s (%s)",
              r, status,
              body ? body : "-", err);
        free(body);
        body = NULL;
        err[0] = '\0';
        int64_t t0 = http_now_us();
        r = h ? http_fetch(h, "GET", "/c", NULL, NULL, &status, &body, err, sizeof(err)) : -1;
        int64_t waited_ms = (http_now_us() - t0) / 1000;
        CHECK(r == -EIO && strstr(err, "timeout") && waited_ms >= 290 && waited_ms < 2000,
              "unanswered request: expected -EIO with a timeout after 300 ms, got %d (%s) after %lld ms", r, err,
              (long long)waited_ms);
        free(body);
        CHECK(h && http_in_flight(h) == 0, "in flight after the timeout: expected 0");
        http_free(h);
        int wstatus = 0;
        waitpid(child, &wstatus, 0);
        CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "fault server: expected exit 0, got status %d", wstatus);
        close(listener);
}

int main(void) {
        test_faults();
        int listener = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(addr);
        int pipefd[2];
        if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 1) < 0 ||
            getsockname(listener, (struct sockaddr *)&addr, &alen) < 0 || pipe(pipefd) < 0) {
                printf("FAIL: cannot listen on loopback\n");
                return 1;
        }
        pid_t child = fork();
        if (child == 0)
                _exit(serve(listener, pipefd[1]));
        close(pipefd[1]);

        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
        Http *h = NULL;
        int r = http_new(&h, url, 1, 5000);
        CHECK(r == 0, "http_new: expected 0, got %d", r);
        uint64_t sent = 1, received = 1;
        if (h)
                http_bytes(h, &sent, &received);
        CHECK(sent == 0 && received == 0, "fresh engine: expected 0 0, got %" PRIu64 " %" PRIu64, sent, received);

        char err[256] = "";
        long status = 0;
        char *body = NULL;
        r = h ? http_fetch(h, "POST", "/orders", "tok", "{\"items\":[1,2,3]}", &status, &body, err, sizeof(err)) : -1;
        CHECK(r == 0 && status == 201, "first request: expected 0 and 201, got %d and %ld (%s)", r, status, err);
        free(body);
        body = NULL;
        r = h ? http_fetch(h, "GET", "/stores", NULL, NULL, &status, &body, err, sizeof(err)) : -1;
        CHECK(r == 0 && status == 201, "second request: expected 0 and 201, got %d and %ld (%s)", r, status, err);
        free(body);

        long got = -1, written = -1;
        FILE *in = fdopen(pipefd[0], "r");
        int scanned = in ? fscanf(in, "%ld %ld", &got, &written) : 0;
        CHECK(scanned == 2, "server's counts: expected 2 numbers, got %d", scanned);
        if (in)
                fclose(in);
        int wstatus = 0;
        waitpid(child, &wstatus, 0);
        CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "server: expected exit 0, got status %d", wstatus);

        if (h)
                http_bytes(h, &sent, &received);
        CHECK(got > 0 && sent == (uint64_t)got, "sent: expected the %ld bytes the server read, got %" PRIu64, got,
              sent);
        CHECK(written > 0 && received == (uint64_t)written,
              "received: expected the %ld bytes the server wrote, got %" PRIu64, written, received);
        http_free(h);
        close(listener);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
