/* coupon-worker: durable "coupon" — coupons issued, redeemed at payment and given back. */
#include "config.h"
#include "coupon-handler.h"
#include "log.h"
#include "service.h"
#include "worker.h"

extern const EmbeddedFile coupon_migrations[];
extern const size_t coupon_migrations_len;

int main(void) {
        CouponConfig cfg = {0};
        WorkerDef def = {.durable = "coupon", .handle = coupon_handle, .handle_batch = coupon_handle_batch,
                         .ctx = &cfg, .transactional = true};
        Service svc;
        int r;

        log_setup("coupon", LOG_INFO);
        r = worker_config(&def, 2, 32);
        if (r == 0)
                r = config_int("COUPON_VALID_DAYS", 30, 1, 3650, &cfg.valid_days);
        if (r < 0)
                return 2;
        coupon_metrics_init();
        const ServiceSchema schema = {"coupon", coupon_migrations, coupon_migrations_len};
        r = service_start(&svc, "coupon", &schema, 1, 9107);
        if (r == 0)
                r = worker_run(&svc, &def);
        service_stop(&svc);
        return r < 0 ? 1 : 0;
}
