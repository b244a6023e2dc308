/* The civetweb server of the gateway: options, every request to the router, shutdown. */
#include <civetweb.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "gateway-http.h"
#include "gateway.h"
#include "log.h"

static int server_log_message(const struct mg_connection *conn, const char *message) {
        (void)conn;
        log_warn("civetweb: %s", message);
        return 1; /* logged here, not on civetweb's stderr */
}

/* Errors civetweb answers itself, before any handler (a request line or
 * header too large or malformed): problem+json like every other answer. */
static int server_http_error(struct mg_connection *conn, int status, const char *errmsg) {
        HttpExchange x = {conn, mg_get_request_info(conn), 0};
        http_problem(&x, status, NULL, "Connection: close\r\n", "%s",
                     errmsg && *errmsg ? errmsg : "the request could not be read");
        return 0; /* answered here */
}

/* Every request goes to the router from the first one on: a handler registered after mg_start left
 * a window in which civetweb answered 404 itself (a restarted gateway under load did). */
static int server_begin_request(struct mg_connection *conn) {
        return gateway_router_handle(conn, mg_get_user_data(mg_get_context(conn)));
}

/* A worker thread whose connection closed waits for the next one with the stack pages its requests touched,
 * about 24 kB. civetweb hands each new connection to whichever idle thread wakes first, so after a while every
 * one of the GATEWAY_THREADS has served some connection: their stacks held 3.1 MB of a gateway that had served
 * 40,000 orders (README, Benchmarks). The pages below this frame go back to the kernel here (the calls made
 * from it fit in the two pages kept); the thread's next connection faults in the few it uses. The stack's
 * bounds are read once per thread (pthread_getattr_np allocates and asks the kernel for the CPU set). */
static void server_connection_close(const struct mg_connection *conn) {
        static __thread uintptr_t low, high;
        (void)conn;
        if (!high) {
                pthread_attr_t attr;
                void *addr;
                size_t size;
                if (pthread_getattr_np(pthread_self(), &attr) != 0)
                        return;
                if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
                        low = (uintptr_t)addr;
                        high = low + size;
                }
                pthread_attr_destroy(&attr);
        }
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), here = (uintptr_t)__builtin_frame_address(0);
        uintptr_t from = (low + page - 1) & ~(page - 1), to = (here & ~(page - 1)) - 2 * page;
        if (here > low && here <= high && to > from)
                (void)madvise((void *)from, to - from, MADV_DONTNEED);
}

int gateway_server_start(Gateway *gw) {
        char ports[128], threads[24], timeout[24];
        struct mg_callbacks cb;

        /* An IPv6 bind address goes in brackets: [::]:8080. */
        snprintf(ports, sizeof(ports), strchr(gw->cfg.bind, ':') ? "[%s]:%d" : "%s:%d", gw->cfg.bind, gw->cfg.port);
        snprintf(threads, sizeof(threads), "%lld", (long long)gw->cfg.threads);
        snprintf(timeout, sizeof(timeout), "%lld", (long long)gw->cfg.request_timeout_ms);
        /* No document_root: nothing is served from disk. tcp_nodelay: without
         * it Nagle + delayed ACK add ~40 ms to every keep-alive answer.
         * civetweb holds a thread per open connection, so idle keep-alive
         * connections are closed after 10 s rather than kept forever; 10 s
         * is longer than common clients' own idle timeout (4-5 s), so the
         * client closes first and never sends on a socket the gateway is
         * closing ("other side closed"). */
        const char *opts[] = {"listening_ports", ports, "num_threads", threads, "request_timeout_ms", timeout,
                              "enable_keep_alive", "yes", "keep_alive_timeout_ms", "10000", "tcp_nodelay", "1",
                              NULL};
        memset(&cb, 0, sizeof(cb));
        cb.log_message = server_log_message;
        cb.http_error = server_http_error;
        cb.begin_request = server_begin_request;
        cb.connection_close = server_connection_close;
        gw->http = mg_start(&cb, gw, opts);
        if (!gw->http)
                return log_error_errno(-EADDRINUSE, "cannot listen on %s", ports);
        log_info("gateway listening on http://%s (%s threads)", ports, threads);
        return 0;
}

void gateway_server_stop(Gateway *gw) {
        struct timespec tick = {0, 50 * 1000000L};
        int64_t waited_ms = 0;

        if (!gw->http)
                return;
        /* civetweb drops every write once mg_stop began: an answer still being
         * computed would be lost, so wait for the handlers first. */
        while (gateway_router_in_flight() > 0 && waited_ms < gw->cfg.drain_s * 1000) {
                nanosleep(&tick, NULL);
                waited_ms += 50;
        }
        if (gateway_router_in_flight() > 0)
                log_warn("stopping with %lld request(s) still in flight after %lld s", gateway_router_in_flight(),
                         (long long)gw->cfg.drain_s);
        mg_stop(gw->http);
        gw->http = NULL;
}
