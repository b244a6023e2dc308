/* payment-worker: durable "payment" — authorizes and refunds through the payment provider, one
 * command per message (a slow provider call delays no other), with no state of its own. */
#include <errno.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "payment-handler.h"
#include "payment-provider.h"
#include "service.h"
#include "worker.h"

int main(void) {
        PaymentProviderConfig pcfg = {0};
        PaymentProvider *provider = NULL;
        PaymentHandler *handler = NULL;
        WorkerDef def = {.durable = "payment", .handle = payment_handle};
        BreakerConfig breaker = {0};
        int64_t window, min_calls, pct, slow_ms, cooldown_ms;
        Service svc;
        int r;

        log_setup("payment", LOG_INFO);
        r = config_str("PSP_URL", "http://127.0.0.1:8091", &pcfg.url);
        if (r == 0)
                r = config_str("PSP_API_KEY", "", &pcfg.api_key);
        if (r == 0)
                r = config_int("PSP_TIMEOUT_MS", 2000, 50, 60000, &pcfg.timeout_ms);
        /* One provider call per message: small batches keep one slow call from delaying others. */
        if (r == 0)
                r = worker_config(&def, 8, 1);
        /* The circuit breaker in front of the provider's charges. */
        if (r == 0)
                r = config_int("PAYMENT_BREAKER_WINDOW", 20, 1, BREAKER_WINDOW_MAX, &window);
        if (r == 0)
                r = config_int("PAYMENT_BREAKER_MIN_CALLS", 5, 1, BREAKER_WINDOW_MAX, &min_calls);
        if (r == 0)
                r = config_int("PAYMENT_BREAKER_FAILURE_PCT", 50, 1, 100, &pct);
        if (r == 0)
                r = config_int("PAYMENT_BREAKER_SLOW_MS", 1500, 1, 600000, &slow_ms);
        if (r == 0)
                r = config_int("PAYMENT_BREAKER_COOLDOWN_MS", 5000, 1, 3600000, &cooldown_ms);
        if (r < 0)
                return 2;
        breaker = (BreakerConfig){.window = (int)window, .min_calls = (int)min_calls, .max_failure_pct = (int)pct,
                                  .slow_ms = slow_ms, .cooldown_ms = cooldown_ms};
        r = payment_provider_new(&provider, &pcfg);
        if (r < 0) {
                if (r == -EINVAL)
                        log_error("config: PSP_URL=\"%s\" is not an http(s) URL, or PSP_API_KEY holds a control character",
                                  pcfg.url);
                else
                        log_error_errno(r, "PSP_URL=\"%s\": the client could not start (TLS)", pcfg.url);
                goto out;
        }
        r = payment_handler_new(&handler, provider, &breaker);
        if (r < 0)
                goto out;
        /* Stateless: no PostgreSQL (the provider's idempotency keys make every command safe to repeat). */
        r = service_start_nats(&svc, "payment", 9102);
        if (r == 0) {
                log_info("payment provider at %s (timeout %lld ms)", pcfg.url, (long long)pcfg.timeout_ms);
                def.ctx = handler;
                r = worker_run(&svc, &def);
        }
        service_stop(&svc);
out:
        payment_handler_free(handler);
        payment_provider_free(provider);
        return r < 0 ? 1 : 0;
}
