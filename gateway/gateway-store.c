/* /stores routes: catalog listing and menus (any caller), the store owner's inbox and decisions. */
#include <stdlib.h>
#include <string.h>

#include "gateway-json.h"
#include "gateway-routes.h"

void store_list(Request *rq) {
        char region[CATALOG_ID_MAX + 1];
        GeoFilter f;
        json_t *list;

        if (routes_geo_filter(rq, &f, region, sizeof(region)) < 0)
                return;
        list = catalog_stores_json(rq->gw->catalog, &f);
        if (!list) {
                http_problem(rq->x, 500, NULL, NULL, "out of memory");
                return;
        }
        http_send_json(rq->x, 200, list, NULL);
        json_decref(list);
}

void store_menu(Request *rq) {
        json_t *menu = NULL;
        int r = catalog_menu_json(rq->gw->catalog, rq->arg[0], &menu);

        if (r == CATALOG_UNKNOWN) {
                http_problem(rq->x, 404, NULL, NULL, "no store %s", rq->arg[0]);
                return;
        }
        if (r < 0) {
                http_problem(rq->x, 500, NULL, NULL, "out of memory");
                return;
        }
        http_send_json(rq->x, 200, menu, NULL);
        json_decref(menu);
}

/* Store routes act for the store in the path: only its owner's token (admins
 * may read the inbox). 0, or -1 after answering 403. */
static int store_owner_check(Request *rq, bool admin_ok) {
        if (admin_ok && rq->auth.role == AUTH_ADMIN)
                return 0;
        if (rq->auth.role == AUTH_STORE && strcmp(rq->auth.store_id, rq->arg[0]) == 0)
                return 0;
        if (rq->auth.role == AUTH_STORE)
                http_problem(rq->x, 403, NULL, NULL, "this token is for store %s, not %s", rq->auth.store_id,
                             rq->arg[0]);
        else
                http_problem(rq->x, 403, NULL, NULL, "only the owner of store %s may do this", rq->arg[0]);
        return -1;
}

void store_inbox(Request *rq) {
        char statuses[READMODEL_STATUSES_MAX];
        const char *filter;
        char *list = NULL;
        int r;

        if (store_owner_check(rq, true) < 0 || routes_status_filter(rq, statuses, sizeof(statuses), &filter) < 0)
                return;
        if (!catalog_store_exists(rq->gw->catalog, rq->arg[0])) {
                http_problem(rq->x, 404, NULL, NULL, "no store %s", rq->arg[0]);
                return;
        }
        r = readmodel_store_orders(rq->gw->readmodel, rq->arg[0], filter, &list);
        if (r < 0) {
                routes_read_failed(rq, r);
                return;
        }
        http_send_json_text(rq->x, 200, list, strlen(list), NULL);
        free(list);
}

static void store_action(Request *rq, const char *action) {
        if (store_owner_check(rq, false) < 0)
                return;
        routes_order_action(rq, rq->arg[1], action, rq->arg[0], "");
}

void store_accept(Request *rq) {
        store_action(rq, "accept");
}

void store_refuse(Request *rq) {
        ReasonBody body = {0};
        JsonProblem problem;
        char *text = NULL;
        size_t len = 0;

        if (store_owner_check(rq, false) < 0 || routes_body(rq, &text, &len) < 0)
                return;
        if (gjson_parse_reason(text, len, &body, &problem) != 0)
                http_problem(rq->x, problem.status, NULL, NULL, "%s", problem.detail);
        else
                routes_order_action(rq, rq->arg[1], "refuse", rq->arg[0], body.reason);
        gjson_release(body.root);
        free(text);
}

void store_cooking_started(Request *rq) {
        store_action(rq, "cooking_started");
}

void store_cooking_finished(Request *rq) {
        store_action(rq, "cooking_finished");
}
