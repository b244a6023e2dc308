/* The saga orchestrator: owns every order's state and drives the workers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ids.h"
#include "log.h"
#include "orchestrator.h"
#include "saga-admin.h"
#include "saga-steps.h"
#include "worker.h"

extern const EmbeddedFile orchestrator_migrations[];
extern const size_t orchestrator_migrations_len;
extern const EmbeddedFile readmodel_migrations[];
extern const size_t readmodel_migrations_len;
extern const EmbeddedFile notification_migrations[];
extern const size_t notification_migrations_len;

/* FOOD_CRASH_AT=<point>:<n>, a fault for crash tests: kill this process at a point of a batch. */
static int orchestrator_crash_config(Orchestrator *o) {
        const char *v;
        char *colon, *end;
        int r = config_str("FOOD_CRASH_AT", "", &v);
        if (r < 0 || !*v)
                return r;
        colon = strchr(v, ':');
        long long n = colon ? strtoll(colon + 1, &end, 10) : 0;
        if (!colon || *end || n < 1 || (size_t)(colon - v) >= sizeof(o->crash_point) ||
            (strncmp(v, "before-commit", (size_t)(colon - v)) != 0 && strncmp(v, "after-commit", (size_t)(colon - v)) != 0 &&
             strncmp(v, "lose-session", (size_t)(colon - v)) != 0)) {
                log_error("config: FOOD_CRASH_AT=\"%s\" is not before-commit:<n>, after-commit:<n> or lose-session:<n>", v);
                return -EINVAL;
        }
        snprintf(o->crash_point, sizeof(o->crash_point), "%.*s", (int)(colon - v), v);
        o->crash_after = n;
        log_warn("FOOD_CRASH_AT: this orchestrator kills itself %s of its batch %lld (a crash test)", o->crash_point, n);
        return 0;
}

static int orchestrator_config(Orchestrator *o) {
        int64_t pay_s, store_s, complete_s, resend_ms, attempts, stuck_s, coupon, batch, linger_ms, events_s, keys_s;
        int r = config_int("PAYMENT_TIMEOUT_S", 60, 1, 3600, &pay_s);
        if (r == 0)
                r = config_int("STORE_ACCEPT_TIMEOUT_S", 600, 1, 86400, &store_s);
        if (r == 0)
                r = config_int("AUTO_COMPLETE_S", 3600, 1, 30 * 86400, &complete_s);
        if (r == 0)
                r = config_int("COMMAND_RESEND_MS", 10000, 100, 3600000, &resend_ms);
        if (r == 0)
                r = config_int("COMMAND_MAX_ATTEMPTS", 20, 1, 1000, &attempts);
        if (r == 0)
                r = config_int("STUCK_AFTER_S", 900, 1, 30 * 86400, &stuck_s);
        if (r == 0)
                r = config_int("COUPON_COOKED_DISCOUNT", 1000, 0, 1000000, &coupon);
        if (r == 0)
                r = config_int("ORCHESTRATOR_BATCH", 512, 1, 4096, &batch);
        if (r == 0)
                /* Well before a command is re-sent: a held one would go twice. */
                r = config_int("COMMAND_LINGER_MS", 50, 0, resend_ms / 2, &linger_ms);
        if (r == 0)
                r = config_int("EVENTS_KEEP_S", 3600, 60, 30 * 86400, &events_s);
        if (r == 0)
                r = config_int("IDEMPOTENCY_KEEP_S", 86400, 600, 365 * 86400, &keys_s);
        if (r == 0)
                r = orchestrator_crash_config(o);
        if (r < 0)
                return r;
        o->engine.payment_timeout_ms = pay_s * 1000;
        o->engine.store_accept_timeout_ms = store_s * 1000;
        o->engine.auto_complete_ms = complete_s * 1000;
        o->engine.cooked_coupon_discount = coupon;
        o->resend_after_ms = resend_ms;
        o->max_attempts = (int)attempts;
        o->stuck_after_ms = stuck_s * 1000;
        o->batch_max = (int)batch;
        o->linger_ms = linger_ms;
        o->events_keep_s = events_s;
        o->keys_keep_s = keys_s;
        return 0;
}

int main(void) {
        static Orchestrator o;
        /* The orchestrator writes its sagas with the read model and the customers' notifications. */
        const ServiceSchema schemas[] = {
                {"orchestrator", orchestrator_migrations, orchestrator_migrations_len},
                {"readmodel", readmodel_migrations, readmodel_migrations_len},
                {"notification", notification_migrations, notification_migrations_len},
        };
        int r;

        r = orchestrator_config(&o);
        if (r == 0)
                r = ids_new(o.instance, sizeof(o.instance), "orch");
        if (r == 0)
                r = service_start(&o.svc, "orchestrator", schemas, sizeof(schemas) / sizeof(schemas[0]), 9101);
        if (r < 0) {
                service_stop(&o.svc);
                return EXIT_FAILURE;
        }
        saga_admin_setup(o.stuck_after_ms);
        saga_steps_configure(o.resend_after_ms, o.max_attempts);
        worker_poison_init(); /* the metrics registry is filled before threads start */
        r = writer_start(&o);
        if (r < 0) {
                log_error_errno(r, "orchestrator: cannot start");
                service_stop(&o.svc);
                return EXIT_FAILURE;
        }
        log_info("orchestrator %s: store deadline %llds, auto-complete %llds, up to %d inputs per batch", o.instance,
                 (long long)(o.engine.store_accept_timeout_ms / 1000), (long long)(o.engine.auto_complete_ms / 1000),
                 o.batch_max);
        writer_stop(o.writer);
        service_stop(&o.svc);
        return EXIT_SUCCESS;
}
