/* sandbox-sink: the local stand-in for a KakaoTalk/SMS provider; records the notification webhooks it
 * receives, in memory (no NATS, no PostgreSQL). */
#include <signal.h>

#include "config.h"
#include "log.h"
#include "sink-http.h"
#include "sink-store.h"

int main(void) {
        SandboxServerConfig cfg = {0};
        SinkStore *store = NULL;
        SinkServer *server = NULL;
        int64_t max_messages = 0;
        sigset_t stop_signals;
        int r, sig = 0;

        r = sandbox_config("sandbox-sink", "SANDBOX_SINK", 8092, 128, &cfg);
        if (r == 0)
                r = config_int("SANDBOX_SINK_MAX_MESSAGES", 1000000, 1, 100000000, &max_messages);
        if (r < 0)
                return 2;
        sandbox_block_stop_signals(&stop_signals);

        r = sink_store_new(&store, (size_t)max_messages);
        if (r < 0) {
                log_error_errno(r, "cannot create the message store");
                goto out;
        }
        r = sink_server_start(&server, store, &cfg);
        if (r < 0)
                goto out;
        log_info("sandbox notification sink listening on %s:%d (POST /messages, GET /messages, PUT /config)",
                 cfg.bind_addr, cfg.port);
        sigwait(&stop_signals, &sig);
        log_info("stopping on signal %d", sig);
out:
        sink_server_stop(server);
        sink_store_free(store);
        return r < 0 ? 1 : 0;
}
