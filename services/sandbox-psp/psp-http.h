/* HTTP face of the sandbox payment provider (civetweb): /charges, /refunds, /config, /ledger, /healthz. */
#pragma once
#include "sandbox-http.h"
#include "psp-ledger.h"

#define PSP_BODY_MAX (16 * 1024) /* request bodies above this get 413 */

typedef struct PspServer PspServer;

/* Starts listening with keep-alive and TCP_NODELAY. `ledger` is borrowed and must outlive the
 * server. Returns 0, or -EADDRINUSE (logged) when civetweb cannot start. */
int psp_server_start(PspServer **ret, PspLedger *ledger, const SandboxServerConfig *cfg);
/* Stops accepting, waits for in-flight requests, frees. NULL is fine. */
void psp_server_stop(PspServer *s);
