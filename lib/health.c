/* /healthz, /readyz and /metrics over civetweb for every process. */
#include "health.h"

#include <civetweb.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

struct Health {
        struct mg_context *ctx;
        HealthReadyFn ready;
        void *userdata;
};

void health_write_healthz(struct mg_connection *conn) {
        mg_printf(conn,
                  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}");
}

void health_write_readyz(struct mg_connection *conn, bool ready) {
        const char *body = ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\"}";
        mg_printf(conn, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                  ready ? "200 OK" : "503 Service Unavailable", strlen(body), body);
}

void health_write_metrics(struct mg_connection *conn) {
        size_t cap = 64 * 1024, n;
        char *buf = malloc(cap);
        if (!buf) {
                mg_printf(conn, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
                return;
        }
        n = metrics_render(buf, cap);
        mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %zu\r\n\r\n",
                  n);
        mg_write(conn, buf, n);
        free(buf);
}

static int health_handle(struct mg_connection *conn, void *cbdata) {
        Health *h = cbdata;
        const char *uri = mg_get_request_info(conn)->local_uri;

        if (strcmp(uri, "/healthz") == 0)
                health_write_healthz(conn);
        else if (strcmp(uri, "/readyz") == 0)
                health_write_readyz(conn, h->ready ? h->ready(h->userdata) : true);
        else if (strcmp(uri, "/metrics") == 0)
                health_write_metrics(conn);
        else
                mg_printf(conn, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return 200;
}

int health_start(Health **ret, const char *bind_addr, int port, HealthReadyFn ready, void *userdata) {
        char ports[80];
        Health *h = calloc(1, sizeof(*h));
        struct mg_callbacks cb = {0};

        if (!h)
                return -ENOMEM;
        h->ready = ready;
        h->userdata = userdata;
        snprintf(ports, sizeof(ports), "%s:%d", bind_addr, port);
        const char *opts[] = {"listening_ports", ports, "num_threads", "2", "tcp_nodelay", "1",
                              "request_timeout_ms", "5000", NULL};
        h->ctx = mg_start(&cb, NULL, opts);
        if (!h->ctx) {
                free(h);
                return log_error_errno(-EADDRINUSE, "health: cannot listen on %s", ports);
        }
        mg_set_request_handler(h->ctx, "/", health_handle, h);
        *ret = h;
        return 0;
}

void health_stop(Health *h) {
        if (!h)
                return;
        mg_stop(h->ctx);
        free(h);
}
