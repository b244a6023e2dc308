/* HTTP face of the sandbox notification sink (civetweb): /messages, /config, /healthz. */
#pragma once
#include "sink-store.h"

#define SINK_BODY_MAX (16 * 1024) /* request bodies above this get 413 */

typedef struct SinkServer SinkServer;

typedef struct {
        const char *bind_addr; /* borrowed */
        int port;
        int threads; /* civetweb worker threads: one per kept-alive client connection */
} SinkServerConfig;

/* Starts listening with keep-alive and TCP_NODELAY. `store` is borrowed and must outlive the server.
 * Returns 0, or -EADDRINUSE (logged) when civetweb cannot start. */
int sink_server_start(SinkServer **ret, SinkStore *store, const SinkServerConfig *cfg);
/* Stops accepting, waits for in-flight requests, frees. NULL is fine. */
void sink_server_stop(SinkServer *s);
