/* /customers/me routes: loyalty grade from completed orders, and the notifications sent. */
#include <stdlib.h>
#include <string.h>

#include "gateway-routes.h"

/* F15: BRONZE, SILVER from LOYALTY_SILVER_AT completed orders, GOLD from LOYALTY_GOLD_AT. */
static const char *customer_grade(const GatewayConfig *cfg, int64_t completed) {
        return completed >= cfg->loyalty_gold_at ? "GOLD" : completed >= cfg->loyalty_silver_at ? "SILVER" : "BRONZE";
}

void customer_me(Request *rq) {
        int64_t completed = 0;
        char *coupons_text = NULL;
        json_t *me, *coupons;
        int r = readmodel_completed_orders(rq->gw->readmodel, rq->auth.sub, &completed);

        if (r == 0)
                r = readmodel_coupons(rq->gw->readmodel, rq->auth.sub, &coupons_text);
        if (r < 0) {
                routes_read_failed(rq, r);
                return;
        }
        coupons = json_loads(coupons_text, 0, NULL);
        free(coupons_text);
        me = json_pack("{s:s, s:s, s:I, s:o}", "id", rq->auth.sub, "grade", customer_grade(&rq->gw->cfg, completed),
                       "completed_orders", (json_int_t)completed, "coupons", coupons ? coupons : json_array());
        if (!me) {
                http_problem(rq->x, 500, NULL, NULL, "out of memory");
                return;
        }
        http_send_json(rq->x, 200, me, NULL);
        json_decref(me);
}

void customer_notifications(Request *rq) {
        char *list = NULL;
        int r = readmodel_notifications(rq->gw->readmodel, rq->auth.sub, &list);
        if (r < 0) {
                routes_read_failed(rq, r);
                return;
        }
        http_send_json_text(rq->x, 200, list, strlen(list), NULL);
        free(list);
}
