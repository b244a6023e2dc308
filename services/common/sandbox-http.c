/* HTTP plumbing shared by the sandbox servers. */
#include "sandbox-http.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"

int sandbox_config(const char *service, const char *prefix, int default_port, int default_threads,
                   SandboxServerConfig *ret) {
        char name[64];
        int64_t threads = 0;
        int r = config_log(service);

        snprintf(name, sizeof(name), "%s_BIND", prefix);
        if (r == 0)
                r = config_str(name, "127.0.0.1", &ret->bind_addr);
        snprintf(name, sizeof(name), "%s_PORT", prefix);
        if (r == 0)
                r = config_port(name, default_port, &ret->port);
        snprintf(name, sizeof(name), "%s_THREADS", prefix);
        if (r == 0)
                r = config_int(name, default_threads, 2, 1024, &threads);
        ret->threads = (int)threads;
        return r;
}

void sandbox_block_stop_signals(sigset_t *set) {
        sigemptyset(set);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
        pthread_sigmask(SIG_BLOCK, set, NULL);
        signal(SIGPIPE, SIG_IGN);
}

static const char *status_text(int status) {
        switch (status) {
        case 200:
                return "OK";
        case 201:
                return "Created";
        case 400:
                return "Bad Request";
        case 402:
                return "Payment Required";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 409:
                return "Conflict";
        case 411:
                return "Length Required";
        case 413:
                return "Content Too Large";
        case 422:
                return "Unprocessable Content";
        case 503:
                return "Service Unavailable";
        case 504:
                return "Gateway Timeout";
        case 507:
                return "Insufficient Storage";
        default:
                return "Internal Server Error";
        }
}

int sandbox_reply(struct mg_connection *conn, int status, json_t *body) {
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!text) {
                status = 500;
                text = strdup("{\"error\":\"out of memory\"}");
                if (!text)
                        return 500;
        }
        size_t len = strlen(text);
        mg_printf(conn,
                  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                  "Cache-Control: no-store\r\n\r\n",
                  status, status_text(status), len);
        mg_write(conn, text, len);
        free(text);
        return status;
}

int sandbox_error(struct mg_connection *conn, int status, const char *msg) {
        return sandbox_reply(conn, status, json_pack("{s:s}", "error", msg));
}

int sandbox_read_json(struct mg_connection *conn, size_t max, json_t **ret) {
        const struct mg_request_info *ri = mg_get_request_info(conn);
        /* As much as the request says it holds (a chunked one: up to max), and one byte to see past it. */
        size_t cap = ri->content_length >= 0 && ri->content_length <= (long long)max ? (size_t)ri->content_length : max;
        char *buf = malloc(cap + 1);
        size_t n = 0;
        json_error_t err;
        json_t *doc;
        int status = 0;

        if (!buf)
                return sandbox_error(conn, 500, "out of memory");
        if (ri->content_length > (long long)max)
                status = sandbox_error(conn, 413, "request body too large");
        while (status == 0 && n <= cap) {
                int k = mg_read(conn, buf + n, cap + 1 - n);
                if (k <= 0)
                        break;
                n += (size_t)k;
                if (n > max)
                        status = sandbox_error(conn, 413, "request body too large");
        }
        if (status == 0) {
                doc = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &err);
                if (!doc)
                        status = sandbox_error(conn, 400, "request body is not valid JSON");
                else if (!json_is_object(doc)) {
                        json_decref(doc);
                        status = sandbox_error(conn, 400, "request body must be a JSON object");
                } else
                        *ret = doc;
        }
        free(buf);
        return status;
}

int64_t sandbox_client_timeout_ms(struct mg_connection *conn) {
        const char *v = mg_get_header(conn, HTTP_TIMEOUT_HEADER);
        char *end = NULL;
        long long n;

        if (!v)
                return 0;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno != 0 || end == v || *end != 0 || n <= 0 || n > 3600000)
                return 0;
        return n;
}

bool sandbox_delay_past_deadline(struct mg_connection *conn, int64_t latency_ms) {
        int64_t client_timeout = sandbox_client_timeout_ms(conn);
        if (latency_ms > 0) {
                struct timespec ts = {(time_t)(latency_ms / 1000), (long)(latency_ms % 1000) * 1000000L};
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
        }
        return client_timeout > 0 && latency_ms + SANDBOX_DEADLINE_MARGIN_MS >= client_timeout;
}

struct mg_context *sandbox_listen(const char *bind_addr, int port, int threads, int keepalive_ms,
                                  mg_request_handler handler, void *cbdata) {
        char ports[300], nthreads[16], keepalive[16];
        struct mg_callbacks cb;
        struct mg_context *ctx;

        memset(&cb, 0, sizeof(cb));
        snprintf(ports, sizeof(ports), "%s:%d", bind_addr, port);
        snprintf(nthreads, sizeof(nthreads), "%d", threads);
        snprintf(keepalive, sizeof(keepalive), "%d", keepalive_ms);
        const char *opts[] = {"listening_ports", ports, "num_threads", nthreads, "tcp_nodelay", "1",
                              "enable_keep_alive", "yes", "keep_alive_timeout_ms", keepalive, "request_timeout_ms",
                              "70000", NULL};
        ctx = mg_start(&cb, NULL, opts);
        if (!ctx) {
                log_error("cannot listen on %s", ports);
                return NULL;
        }
        mg_set_request_handler(ctx, "/", handler, cbdata);
        return ctx;
}

int sandbox_behaviour_update(struct mg_connection *conn, json_t *doc, int64_t *latency_ms, double *failure_rate) {
        json_t *lat = json_object_get(doc, "latency_ms"), *fr = json_object_get(doc, "failure_rate");
        if (lat && !json_is_integer(lat))
                return sandbox_error(conn, 400, "latency_ms must be an integer");
        if (fr && !json_is_number(fr))
                return sandbox_error(conn, 400, "failure_rate must be a number between 0 and 1");
        if (lat)
                *latency_ms = json_integer_value(lat);
        if (fr)
                *failure_rate = json_number_value(fr);
        return 0;
}
