/* /deliveries routes: riders list open deliveries near them, pick one, mark it delivered. */
#include <stdlib.h>
#include <string.h>

#include "gateway-routes.h"
#include "order-json.h"

void rider_deliveries(Request *rq) {
        char region[CATALOG_ID_MAX + 1];
        char *list = NULL;
        GeoFilter f;
        int r;

        if (routes_geo_filter(rq, &f, region, sizeof(region)) < 0)
                return;
        r = readmodel_open_deliveries(rq->gw->readmodel, &f, &list);
        if (r < 0) {
                routes_read_failed(rq, r);
                return;
        }
        http_send_json_text(rq->x, 200, list, strlen(list), NULL);
        free(list);
}

/* Deliveries are addressed by "dlv_X"; the saga knows order "ord_X". */
static void rider_action(Request *rq, const char *action) {
        char order_id[AUTH_ID_MAX + 1];
        if (order_id_of_delivery(rq->arg[0], order_id, sizeof(order_id)) < 0) {
                http_problem(rq->x, 404, NULL, NULL, "no delivery %s", rq->arg[0]);
                return;
        }
        routes_order_action(rq, order_id, action, "", "");
}

void rider_pick(Request *rq) {
        rider_action(rq, "pick");
}

void rider_delivered(Request *rq) {
        rider_action(rq, "delivered");
}
