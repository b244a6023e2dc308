/* sandbox-psp: the shipped sandbox payment provider (no NATS, no PostgreSQL; the ledger is in memory). */
#include <signal.h>

#include "config.h"
#include "log.h"
#include "psp-http.h"
#include "psp-ledger.h"

int main(void) {
        SandboxServerConfig cfg = {0};
        PspLedger *ledger = NULL;
        PspServer *server = NULL;
        int64_t max_entries = 0;
        sigset_t stop_signals;
        int r, sig = 0;

        r = sandbox_config("sandbox-psp", "SANDBOX_PSP", 8091, 64, &cfg);
        if (r == 0)
                r = config_int("SANDBOX_PSP_MAX_ENTRIES", 1000000, 1, 100000000, &max_entries);
        if (r < 0)
                return 2;
        sandbox_block_stop_signals(&stop_signals);

        r = psp_ledger_new(&ledger, (size_t)max_entries);
        if (r < 0) {
                log_error_errno(r, "cannot create the ledger");
                goto out;
        }
        r = psp_server_start(&server, ledger, &cfg);
        if (r < 0)
                goto out;
        log_info("sandbox payment provider listening on %s:%d (tok_ok approves, other tokens decline)",
                 cfg.bind_addr, cfg.port);
        sigwait(&stop_signals, &sig);
        log_info("stopping on signal %d", sig);
out:
        psp_server_stop(server);
        psp_ledger_free(ledger);
        return r < 0 ? 1 : 0;
}
