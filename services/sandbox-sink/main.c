/* sandbox-sink: the local stand-in for a KakaoTalk/SMS provider; records the notification webhooks it
 * receives, in memory (no NATS, no PostgreSQL). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "sink-http.h"
#include "sink-store.h"

int main(void) {
        SinkServerConfig cfg = {0};
        SinkStore *store = NULL;
        SinkServer *server = NULL;
        const char *level_name;
        LogLevel level = LOG_INFO;
        int64_t threads = 0, max_messages = 0;
        sigset_t stop_signals;
        int r, sig = 0;

        log_setup("sandbox-sink", LOG_INFO);
        r = config_str("LOG_LEVEL", "info", &level_name);
        if (r == 0 && log_level_parse(level_name, &level) < 0) {
                log_error("config: LOG_LEVEL=\"%s\" is not one of debug, info, warn, error", level_name);
                r = -EINVAL;
        }
        log_setup("sandbox-sink", level);
        if (r == 0)
                r = config_str("SANDBOX_SINK_BIND", "127.0.0.1", &cfg.bind_addr);
        if (r == 0)
                r = config_port("SANDBOX_SINK_PORT", 8092, &cfg.port);
        if (r == 0)
                r = config_int("SANDBOX_SINK_THREADS", 128, 2, 1024, &threads);
        if (r == 0)
                r = config_int("SANDBOX_SINK_MAX_MESSAGES", 1000000, 1, 100000000, &max_messages);
        if (r < 0)
                return 2;
        cfg.threads = (int)threads;

        /* Block the stop signals before civetweb starts its threads so that only sigwait sees them. */
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGTERM);
        sigaddset(&stop_signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
        signal(SIGPIPE, SIG_IGN);

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
