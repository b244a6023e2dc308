/* HTTP face of the sandbox notification sink (civetweb): /messages, /config, /healthz. */
#pragma once
#include "sandbox-http.h"
#include "sink-store.h"

#define SINK_BODY_MAX (16 * 1024)          /* request bodies above this get 413, and batched messages above it */
#define SINK_BATCH_BODY_MAX (1024 * 1024)  /* a batch POST's body */
#define SINK_BATCH_MAX 256                 /* messages in one batch POST */

typedef struct SinkServer SinkServer;

/* Starts listening with keep-alive and TCP_NODELAY. `store` is borrowed and must outlive the server.
 * Returns 0, or -EADDRINUSE (logged) when civetweb cannot start. */
int sink_server_start(SinkServer **ret, SinkStore *store, const SandboxServerConfig *cfg);
/* Stops accepting, waits for in-flight requests, frees. NULL is fine. */
void sink_server_stop(SinkServer *s);
