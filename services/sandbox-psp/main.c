/* sandbox-psp: the shipped sandbox payment provider (no NATS, no PostgreSQL; the ledger is in memory). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "psp-http.h"
#include "psp-ledger.h"

int main(void) {
        PspServerConfig cfg = {0};
        PspLedger *ledger = NULL;
        PspServer *server = NULL;
        const char *level_name;
        LogLevel level = LOG_INFO;
        int64_t threads = 0, max_entries = 0;
        sigset_t stop_signals;
        int r, sig = 0;

        log_setup("sandbox-psp", LOG_INFO);
        r = config_str("LOG_LEVEL", "info", &level_name);
        if (r == 0 && log_level_parse(level_name, &level) < 0) {
                log_error("config: LOG_LEVEL=\"%s\" is not one of debug, info, warn, error", level_name);
                r = -EINVAL;
        }
        log_setup("sandbox-psp", level);
        if (r == 0)
                r = config_str("SANDBOX_PSP_BIND", "127.0.0.1", &cfg.bind_addr);
        if (r == 0)
                r = config_port("SANDBOX_PSP_PORT", 8091, &cfg.port);
        if (r == 0)
                r = config_int("SANDBOX_PSP_THREADS", 64, 2, 1024, &threads);
        if (r == 0)
                r = config_int("SANDBOX_PSP_MAX_ENTRIES", 1000000, 1, 100000000, &max_entries);
        if (r < 0)
                return 2;
        cfg.threads = (int)threads;

        /* Block the stop signals before civetweb starts its threads so that only sigwait sees them. */
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGTERM);
        sigaddset(&stop_signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
        signal(SIGPIPE, SIG_IGN);

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
