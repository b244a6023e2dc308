/* /stores routes: catalog listing and menus (any caller), the store owner's inbox and decisions. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "gateway-json.h"
#include "gateway-routes.h"
#include "gateway-rpc.h"
#include "ids.h"

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

/* POST /stores/{id}/coupons {"customer_id","discount"}: the store owner gives a customer a coupon
 * for this store; the orchestrator has the coupon worker record it and notifies the customer. */
void store_issue_coupon(Request *rq) {
        Food__V1__GrantCoupon grant = FOOD__V1__GRANT_COUPON__INIT;
        Food__V1__RpcReply *reply = NULL;
        CouponBody body = {0};
        JsonProblem problem;
        char id[64];
        char *text = NULL;
        size_t len = 0;
        json_t *coupon;

        /* Counted once the caller is the store's owner: nobody else can spend a store's coupon budget. */
        if (store_owner_check(rq, false) < 0 ||
            !ratelimit_check(rq->gw->coupon_limit, rq->x, RATELIMIT_COUPONS, rq->arg[0]) ||
            routes_body(rq, &text, &len) < 0)
                goto out;
        if (gjson_parse_coupon(text, len, &body, &problem) != 0) {
                http_problem(rq->x, problem.status, NULL, NULL, "%s", problem.detail);
                goto out;
        }
        if (ids_new(id, sizeof(id), "cpn") < 0) {
                http_problem(rq->x, 500, NULL, NULL, "could not make a coupon id");
                goto out;
        }
        grant.coupon_id = id;
        grant.customer_id = (char *)body.customer_id;
        grant.store_id = (char *)rq->arg[0];
        grant.discount = body.discount;
        if (rpc_call(rq, &grant.base, body.customer_id, &reply) < 0)
                goto out;
        if (reply->http_status != 201) {
                http_problem(rq->x, reply->http_status >= 400 && reply->http_status < 600 ? reply->http_status : 502,
                             NULL, "Retry-After: 1\r\n", "%s",
                             reply->detail && *reply->detail ? reply->detail : "the coupon could not be recorded");
                goto out;
        }
        coupon = json_pack("{s:s, s:s, s:s, s:I, s:b}", "id", id, "store_id", rq->arg[0], "customer_id",
                           body.customer_id, "discount", (json_int_t)body.discount, "used", 0);
        if (!coupon) {
                http_problem(rq->x, 500, NULL, NULL, "out of memory");
                goto out;
        }
        http_send_json(rq->x, 201, coupon, NULL);
        json_decref(coupon);
out:
        codec_free(reply ? &reply->base : NULL);
        gjson_release(body.root);
        free(text);
}
