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

/* The newest 200, oldest first; ?order_id= narrows them to one order (all of
 * an order's fit: a handful per status change). */
void customer_notifications(Request *rq) {
        char order_id[AUTH_ID_MAX + 1];
        char *list = NULL;
        int r = http_query(rq->x, "order_id", order_id, sizeof(order_id));

        if (r < 0 || (r == 1 && !auth_id_valid(order_id))) {
                http_problem(rq->x, 400, NULL, NULL, "order_id must be an order id");
                return;
        }
        r = readmodel_notifications(rq->gw->readmodel, rq->auth.sub, r == 1 ? order_id : NULL, &list);
        if (r < 0) {
                routes_read_failed(rq, r);
                return;
        }
        http_send_json_text(rq->x, 200, list, strlen(list), NULL);
        free(list);
}
