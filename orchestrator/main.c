/* The saga orchestrator: owns every order's state and drives the workers. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "orchestrator.h"
#include "saga-admin.h"
#include "saga-retry.h"
#include "worker.h"

extern const EmbeddedFile orchestrator_migrations[];
extern const size_t orchestrator_migrations_len;

#define MAX_LANES 32

static int orchestrator_config(Orchestrator *o) {
        int64_t pay_s, store_s, complete_s, lanes, resend_ms, attempts, stuck_s, coupon;
        int r = config_int("PAYMENT_TIMEOUT_S", 60, 1, 3600, &pay_s);
        if (r == 0)
                r = config_int("STORE_ACCEPT_TIMEOUT_S", 600, 1, 86400, &store_s);
        if (r == 0)
                r = config_int("AUTO_COMPLETE_S", 3600, 1, 30 * 86400, &complete_s);
        if (r == 0)
                r = config_int("ORCHESTRATOR_RPC_LANES", 8, 1, MAX_LANES, &lanes);
        if (r == 0)
                r = config_int("COMMAND_RESEND_MS", 10000, 100, 3600000, &resend_ms);
        if (r == 0)
                r = config_int("COMMAND_MAX_ATTEMPTS", 20, 1, 1000, &attempts);
        if (r == 0)
                r = config_int("STUCK_AFTER_S", 900, 1, 30 * 86400, &stuck_s);
        if (r == 0)
                r = config_int("COUPON_COOKED_DISCOUNT", 1000, 0, 1000000, &coupon);
        if (r < 0)
                return r;
        o->engine.payment_timeout_ms = pay_s * 1000;
        o->engine.store_accept_timeout_ms = store_s * 1000;
        o->engine.auto_complete_ms = complete_s * 1000;
        o->engine.cooked_coupon_discount = coupon;
        o->rpc_lanes = (int)lanes;
        o->resend_after_ms = resend_ms;
        o->max_attempts = (int)attempts;
        o->stuck_after_ms = stuck_s * 1000;
        return 0;
}

int main(void) {
        static Orchestrator o;
        pthread_t threads[MAX_LANES + 2];
        int n = 0, r;

        pthread_mutex_init(&o.kick_lock, NULL);
        pthread_cond_init(&o.kick_cond, NULL);
        r = service_start(&o.svc, "orchestrator", "orchestrator", orchestrator_migrations,
                          orchestrator_migrations_len, 9101);
        if (r == 0)
                r = orchestrator_config(&o);
        if (r < 0) {
                service_stop(&o.svc);
                return EXIT_FAILURE;
        }
        saga_admin_setup(o.stuck_after_ms);
        retry_configure(o.resend_after_ms, o.max_attempts);
        worker_poison_init(); /* the metrics registry is filled before threads start */
        if (pthread_create(&threads[n], NULL, outbox_relay_run, &o) == 0)
                n++;
        if (pthread_create(&threads[n], NULL, reply_consumer_run, &o) == 0)
                n++;
        for (int i = 0; i < o.rpc_lanes; i++)
                if (pthread_create(&threads[n], NULL, rpc_lane_run, &o) == 0)
                        n++;
        log_info("orchestrator: %d rpc lanes, store deadline %llds, auto-complete %llds", o.rpc_lanes,
                 (long long)(o.engine.store_accept_timeout_ms / 1000), (long long)(o.engine.auto_complete_ms / 1000));
        orchestrator_kick_relay(&o); /* resume: publish whatever a previous run left */
        for (int i = 0; i < n; i++) {
                orchestrator_kick_relay(&o); /* lets a waiting relay see the stop */
                pthread_join(threads[i], NULL);
        }
        service_stop(&o.svc);
        return EXIT_SUCCESS;
}
