/* /stores routes: catalog listing and menus (any caller), the store owner's inbox and decisions. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "gateway-json.h"
#include "gateway-routes.h"
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

/* Publishes `m` as a command to its worker through JetStream and waits for the
 * stream to store it. One publisher for these rare commands, created on first use. */
static int store_command(Request *rq, const ProtobufCMessage *m, const char *msg_id) {
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        static BusPublisher *pub;
        char subject[CODEC_SUBJECT_MAX];
        uint8_t *buf = NULL;
        size_t len = 0;
        int r = codec_subject(m->descriptor, NULL, subject, sizeof(subject));
        if (r == 0)
                r = codec_pack(m, &buf, &len);
        if (r < 0)
                return r;
        pthread_mutex_lock(&lock);
        if (!pub)
                r = bus_publisher_new(rq->gw->svc.bus, &pub);
        if (r == 0)
                r = bus_publish(pub, subject, msg_id, m->descriptor->name, buf, len, NULL);
        if (r == 0)
                r = bus_publisher_flush(pub, 3000);
        pthread_mutex_unlock(&lock);
        free(buf);
        return r;
}

/* POST /stores/{id}/coupons {"customer_id","discount"}: the store owner gives a
 * customer a coupon for this store; the customer is notified. */
void store_issue_coupon(Request *rq) {
        Food__V1__IssueCoupon issue = FOOD__V1__ISSUE_COUPON__INIT;
        Food__V1__NotifyCustomer notice = FOOD__V1__NOTIFY_CUSTOMER__INIT;
        Food__V1__Correlation corr = FOOD__V1__CORRELATION__INIT; /* no saga: no order, no reply awaited */
        CouponBody body = {0};
        JsonProblem problem;
        char id[64], notice_id[80], message[256];
        char *text = NULL;
        size_t len = 0;
        json_t *coupon;
        int r;

        if (store_owner_check(rq, false) < 0 || routes_body(rq, &text, &len) < 0)
                goto out;
        if (gjson_parse_coupon(text, len, &body, &problem) != 0) {
                http_problem(rq->x, problem.status, NULL, NULL, "%s", problem.detail);
                goto out;
        }
        if (ids_new(id, sizeof(id), "cpn") < 0) {
                http_problem(rq->x, 500, NULL, NULL, "could not make a coupon id");
                goto out;
        }
        issue.corr = &corr;
        issue.coupon_id = id;
        issue.customer_id = (char *)body.customer_id;
        issue.store_id = (char *)rq->arg[0];
        issue.discount = body.discount;
        snprintf(message, sizeof(message), "쿠폰이 도착했습니다: %lld원 할인 (A %lld KRW coupon from %s)",
                 (long long)body.discount, (long long)body.discount, rq->arg[0]);
        notice.corr = &corr;
        notice.customer_id = (char *)body.customer_id;
        notice.kind = "COUPON";
        notice.message = message;
        snprintf(notice_id, sizeof(notice_id), "n.%s", id);
        r = store_command(rq, &issue.base, id);
        if (r == 0)
                r = store_command(rq, &notice.base, notice_id);
        if (r < 0) {
                http_problem(rq->x, 503, NULL, "Retry-After: 1\r\n", "the coupon could not be recorded; retry shortly");
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
        gjson_release(body.root);
        free(text);
}
