/* HTTP plumbing shared by the sandbox servers (payment provider, notification
 * sink): JSON answers with a Content-Length (keep-alive), bounded JSON bodies,
 * the client's deadline header and the injected latency. */
#pragma once
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <civetweb.h>

#include "http-client.h" /* HTTP_TIMEOUT_HEADER: the client's whole-request deadline, sent with every request */
/* Answers closer than this to the client's deadline may arrive after it gave up. */
#define SANDBOX_DEADLINE_MARGIN_MS 50

/* Where a sandbox server listens, with how many civetweb threads (one per
 * kept-alive client connection). */
typedef struct {
        const char *bind_addr; /* borrowed from the environment */
        int port;
        int threads;
} SandboxServerConfig;

/* Reads LOG_LEVEL (logging as `service`), <prefix>_BIND (127.0.0.1),
 * <prefix>_PORT and <prefix>_THREADS (2..1024). 0 or -EINVAL (logged). */
int sandbox_config(const char *service, const char *prefix, int default_port, int default_threads,
                   SandboxServerConfig *ret);
/* Blocks SIGTERM and SIGINT in every thread started later (call it before the
 * server starts) and ignores SIGPIPE; sigwait(set) then waits for a stop. */
void sandbox_block_stop_signals(sigset_t *set);

/* Starts civetweb on bind_addr:port with `threads` workers, tcp_nodelay and
 * keep-alive (idle connections closed after keepalive_ms); every path goes to
 * handler(conn, cbdata). The context, or NULL (logged). */
struct mg_context *sandbox_listen(const char *bind_addr, int port, int threads, int keepalive_ms,
                                  mg_request_handler handler, void *cbdata);

/* Writes `body` (stolen; NULL answers 500) as JSON; returns the status written. */
int sandbox_reply(struct mg_connection *conn, int status, json_t *body);
/* {"error": msg} with `status`; returns it. */
int sandbox_error(struct mg_connection *conn, int status, const char *msg);
/* Reads a body of at most `max` bytes as a JSON object (duplicate keys
 * refused). 0 with *ret (a new reference), or the status of the answer already
 * written (413 too large, 400 not a JSON object). */
int sandbox_read_json(struct mg_connection *conn, size_t max, json_t **ret);
/* Applies a PUT /config body's optional "latency_ms" (integer) and
 * "failure_rate" (number) to the values given: 0, or the status of the 400
 * already written for a wrong type. Ranges are the caller's to check. */
int sandbox_behaviour_update(struct mg_connection *conn, json_t *doc, int64_t *latency_ms, double *failure_rate);
/* The client's deadline in ms from HTTP_TIMEOUT_HEADER, or 0 when absent or invalid. */
int64_t sandbox_client_timeout_ms(struct mg_connection *conn);
/* Sleeps the injected latency; returns true when it runs past the client's
 * deadline (the caller then answers 504 and does nothing). */
bool sandbox_delay_past_deadline(struct mg_connection *conn, int64_t latency_ms);
