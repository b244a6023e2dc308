/* HTTP face of the sandbox payment provider (civetweb): /charges, /refunds, /config, /ledger, /healthz. */
#pragma once
#include "psp-ledger.h"

#define PSP_BODY_MAX (16 * 1024) /* request bodies above this get 413 */

typedef struct PspServer PspServer;

typedef struct {
        const char *bind_addr; /* borrowed */
        int port;
        int threads; /* civetweb worker threads: one per kept-alive client connection */
} PspServerConfig;

/* Starts listening with keep-alive and TCP_NODELAY. `ledger` is borrowed and must outlive the
 * server. Returns 0, or -EADDRINUSE (logged) when civetweb cannot start. */
int psp_server_start(PspServer **ret, PspLedger *ledger, const PspServerConfig *cfg);
/* Stops accepting, waits for in-flight requests, frees. NULL is fine. */
void psp_server_stop(PspServer *s);
