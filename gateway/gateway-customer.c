/* /customers/me routes: loyalty grade from completed orders, and the notifications sent. */
#include <stdlib.h>
#include <string.h>

#include "gateway-routes.h"

/* F15: BRONZE below 3 completed orders, SILVER below 10, then GOLD. */
static const char *customer_grade(int64_t completed) {
        return completed < 3 ? "BRONZE" : completed < 10 ? "SILVER" : "GOLD";
}

void customer_me(Request *rq) {
        int64_t completed = 0;
        json_t *me;
        int r = readmodel_completed_orders(rq->gw->readmodel, rq->auth.sub, &completed);

        if (r < 0) {
                routes_read_failed(rq, r);
                return;
        }
        /* Coupons come with the coupon worker (a later milestone). */
        me = json_pack("{s:s, s:s, s:I, s:[]}", "id", rq->auth.sub, "grade", customer_grade(completed),
                       "completed_orders", (json_int_t)completed, "coupons");
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
