/* /orders routes: place (priced from the catalog), read, list, modify, cancel, confirm. */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co: the digest alone, no provider to start (gateway-auth.c) */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway-json.h"
#include "gateway-routes.h"
#include "gateway-rpc.h"
#include "ids.h"
#include "log.h"

#define ORDERS_IDEMPOTENCY_KEY_MAX 128

/* 1-128 visible ASCII characters (it travels in logs, NATS and PostgreSQL). */
static bool idempotency_key_valid(const char *key) {
        size_t n = 0;
        for (; key[n]; n++)
                if ((unsigned char)key[n] < 0x21 || (unsigned char)key[n] > 0x7e || n >= ORDERS_IDEMPOTENCY_KEY_MAX)
                        return false;
        return n > 0;
}

/* Lowercase hex SHA-256 of the body: the orchestrator refuses a reused
 * Idempotency-Key whose body differs. */
static void request_hash(const char *body, size_t len, char hex[2 * SHA256_DIGEST_LENGTH + 1]) {
        SHA256_CTX ctx;
        uint8_t md[SHA256_DIGEST_LENGTH];
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, body, len);
        SHA256_Final(md, &ctx);
        for (size_t i = 0; i < sizeof(md); i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* The owner customer, the order's store, and admins see an order; the store
 * only once it was paid (an unpaid order never reached its inbox). */
static bool order_visible(const Request *rq, const ReadOrder *o) {
        switch (rq->auth.role) {
        case AUTH_ADMIN:
                return true;
        case AUTH_CUSTOMER:
                return strcmp(o->customer_id, rq->auth.sub) == 0;
        case AUTH_STORE:
                return strcmp(o->store_id, rq->auth.store_id) == 0 && strcmp(o->status, "PAYMENT_PENDING") != 0 &&
                       strcmp(o->status, "REJECTED") != 0;
        default:
                return false;
        }
}

int orders_read_visible(Request *rq, const char *id, ReadOrder *ret) {
        ReadOrder o = {0};
        /* The read model is written with each decision, before its answer leaves: what a client was
         * told is already there. */
        int r = readmodel_order(rq->gw->readmodel, id, &o);
        if (r < 0) {
                routes_read_failed(rq, r);
                return -1;
        }
        if (r == 0 && order_visible(rq, &o)) {
                *ret = o;
                return 0;
        }
        readmodel_order_clear(&o);
        http_problem(rq->x, 404, NULL, NULL, "no order %s", id);
        return -1;
}

void orders_place(Request *rq) {
        const char *key = http_header(rq->x, "Idempotency-Key");
        Food__V1__PlaceOrder place = FOOD__V1__PLACE_ORDER__INIT;
        Food__V1__Order order = FOOD__V1__ORDER__INIT;
        Food__V1__Location address = FOOD__V1__LOCATION__INIT;
        char order_id[64], hash[65];
        PricedOrder *priced = NULL;
        OrderBody body = {0};
        JsonProblem problem;
        char *text = NULL;
        size_t len = 0;

        /* Before any work: a customer testing stolen cards at speed costs one token check per try. */
        if (!ratelimit_check(rq->gw->order_limit, rq->x, RATELIMIT_ORDERS, rq->auth.sub))
                return;
        if (key && !idempotency_key_valid(key)) {
                http_problem(rq->x, 400, NULL, NULL, "Idempotency-Key must be 1-%d visible ASCII characters",
                             ORDERS_IDEMPOTENCY_KEY_MAX);
                return;
        }
        if (routes_body(rq, &text, &len) < 0)
                return;
        if (gjson_parse_order(text, len, &body, &problem) != 0) {
                http_problem(rq->x, problem.status, NULL, NULL, "%s", problem.detail);
                goto out;
        }
        priced = malloc(sizeof(*priced));
        if (!priced) {
                http_problem(rq->x, 500, NULL, NULL, "out of memory");
                goto out;
        }
        if (catalog_price(rq->gw->catalog, body.store_id, body.items, body.n_items, priced, &problem) != 0) {
                http_problem(rq->x, problem.status, NULL, NULL, "%s", problem.detail);
                goto out;
        }
        /* A retry with the same Idempotency-Key gets an order id of the same shard: the orchestrator that
         * owns it finds the key among its own. */
        if ((key ? ids_new_selected(order_id, sizeof(order_id), "ord", ids_selector(rq->auth.sub, key))
                 : ids_new(order_id, sizeof(order_id), "ord")) < 0) {
                http_problem(rq->x, 500, NULL, NULL, "could not prepare the order");
                goto out;
        }
        request_hash(text, len, hash);
        address.text = (char *)body.address.text;
        address.region = (char *)body.address.region;
        address.lat = body.address.lat;
        address.lon = body.address.lon;
        order.id = order_id;
        order.customer_id = rq->auth.sub;
        order.store_id = (char *)body.store_id;
        order.n_items = priced->n_items;
        order.items = priced->items;
        order.total = priced->total;
        order.address = &address;
        order.note = (char *)body.note;
        order.pickup = &priced->pickup;
        order.coupon_id = (char *)(body.coupon_id ? body.coupon_id : "");
        order.store_message = priced->thank_you;
        place.order = &order;
        place.card_token = (char *)body.card_token;
        place.idempotency_key = (char *)(key ? key : "");
        place.request_hash = hash;
        rpc_answer(rq, &place.base, order_id);
out:
        gjson_release(body.root);
        free(priced);
        free(text);
}

void orders_get(Request *rq) {
        ReadOrder o = {0};
        if (orders_read_visible(rq, rq->arg[0], &o) < 0)
                return;
        http_send_json_text(rq->x, 200, o.view, strlen(o.view), NULL);
        readmodel_order_clear(&o);
}

void orders_list(Request *rq) {
        char statuses[READMODEL_STATUSES_MAX];
        const char *filter;
        char *list = NULL;
        int r;

        if (routes_status_filter(rq, statuses, sizeof(statuses), &filter) < 0)
                return;
        r = readmodel_customer_orders(rq->gw->readmodel, rq->auth.sub, filter, &list);
        if (r < 0) {
                routes_read_failed(rq, r);
                return;
        }
        http_send_json_text(rq->x, 200, list, strlen(list), NULL);
        free(list);
}

void orders_modify(Request *rq) {
        Food__V1__ModifyOrder m = FOOD__V1__MODIFY_ORDER__INIT;
        Food__V1__Location address = FOOD__V1__LOCATION__INIT;
        PricedOrder *priced = NULL;
        ModifyBody body = {0};
        JsonProblem problem;
        ReadOrder o = {0};
        char *text = NULL;
        size_t len = 0;

        if (routes_body(rq, &text, &len) < 0)
                return;
        if (gjson_parse_modify(text, len, &body, &problem) != 0) {
                http_problem(rq->x, problem.status, NULL, NULL, "%s", problem.detail);
                goto out;
        }
        /* The order's store (which never changes) decides which menu the new
         * items come from: any version of the row will do. */
        if (orders_read_visible(rq, rq->arg[0], &o) < 0)
                goto out;
        if (body.has_items) {
                priced = malloc(sizeof(*priced));
                if (!priced) {
                        http_problem(rq->x, 500, NULL, NULL, "out of memory");
                        goto out;
                }
                if (catalog_price(rq->gw->catalog, o.store_id, body.items, body.n_items, priced, &problem) != 0) {
                        http_problem(rq->x, problem.status, NULL, NULL, "%s", problem.detail);
                        goto out;
                }
                m.n_items = priced->n_items;
                m.items = priced->items;
                m.total = priced->total;
                m.has_items = true;
        }
        if (body.has_address) {
                address.text = (char *)body.address.text;
                address.region = (char *)body.address.region;
                address.lat = body.address.lat;
                address.lon = body.address.lon;
                m.address = &address;
                m.has_address = true;
        }
        if (body.has_note) {
                m.note = (char *)body.note;
                m.has_note = true;
        }
        m.order_id = (char *)rq->arg[0];
        m.customer_id = rq->auth.sub;
        m.card_token = (char *)(body.card_token ? body.card_token : "");
        rpc_answer(rq, &m.base, m.order_id);
out:
        readmodel_order_clear(&o);
        gjson_release(body.root);
        free(priced);
        free(text);
}

void orders_cancel(Request *rq) {
        ReasonBody body = {0};
        JsonProblem problem;
        char *text = NULL;
        size_t len = 0;

        if (routes_body(rq, &text, &len) < 0)
                return;
        if (gjson_parse_reason(text, len, &body, &problem) != 0)
                http_problem(rq->x, problem.status, NULL, NULL, "%s", problem.detail);
        else
                routes_order_action(rq, rq->arg[0], "cancel", "", body.reason);
        gjson_release(body.root);
        free(text);
}

void orders_confirm(Request *rq) {
        routes_order_action(rq, rq->arg[0], "confirm", "", "");
}
