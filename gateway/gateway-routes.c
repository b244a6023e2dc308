/* Checks and answers shared by the route handlers. */
#include "gateway-routes.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway-rpc.h"
#include "log.h"

#define ROUTES_RADIUS_DEFAULT_M 3000.0
#define ROUTES_RADIUS_MAX_M 100000.0

int routes_body(Request *rq, char **ret, size_t *ret_len) {
        int r = http_read_body(rq->x, (size_t)rq->gw->cfg.max_body, ret, ret_len);
        if (r == 0)
                return 0;
        if (r == -EFBIG)
                /* The rest of the body stays unread: the connection cannot be reused. */
                http_problem(rq->x, 413, NULL, "Connection: close\r\n", "the request body is larger than %lld bytes",
                             (long long)rq->gw->cfg.max_body);
        else if (r == -ENOMEM)
                http_problem(rq->x, 500, NULL, NULL, "out of memory");
        else
                http_problem(rq->x, 400, NULL, "Connection: close\r\n", "could not read the request body");
        return -1;
}

/* A query parameter that must be a finite number in [min, max]: 1 present,
 * 0 absent, -1 after answering 400. */
static int query_number(Request *rq, const char *name, double min, double max, double *ret) {
        char buf[64], *end = NULL;
        int r = http_query(rq->x, name, buf, sizeof(buf));
        double v;

        if (r == 0 || (r == 1 && !*buf))
                return 0;
        if (r < 0) {
                http_problem(rq->x, 400, NULL, NULL, "%s is too long", name);
                return -1;
        }
        errno = 0;
        v = strtod(buf, &end);
        if (errno != 0 || end == buf || *end || !isfinite(v) || v < min || v > max) {
                http_problem(rq->x, 400, NULL, NULL, "%s must be a number between %g and %g", name, min, max);
                return -1;
        }
        *ret = v;
        return 1;
}

int routes_geo_filter(Request *rq, GeoFilter *f, char *region, size_t region_cap) {
        int r, has_lat, has_lon, has_radius;

        memset(f, 0, sizeof(*f));
        r = http_query(rq->x, "region", region, region_cap);
        if (r < 0) {
                http_problem(rq->x, 400, NULL, NULL, "region is too long");
                return -1;
        }
        if (r == 1 && *region)
                f->region = region;
        has_lat = query_number(rq, "lat", -90, 90, &f->lat);
        if (has_lat < 0)
                return -1;
        has_lon = query_number(rq, "lon", -180, 180, &f->lon);
        if (has_lon < 0)
                return -1;
        has_radius = query_number(rq, "radius_m", 1, ROUTES_RADIUS_MAX_M, &f->radius_m);
        if (has_radius < 0)
                return -1;
        if (has_lat != has_lon || (has_radius && !has_lat)) {
                http_problem(rq->x, 400, NULL, NULL, "lat, lon (and optionally radius_m) go together");
                return -1;
        }
        f->near = has_lat;
        if (f->near && !has_radius)
                f->radius_m = ROUTES_RADIUS_DEFAULT_M;
        return 0;
}

int routes_status_filter(Request *rq, char *buf, size_t cap, const char **ret) {
        char list[READMODEL_STATUSES_MAX];
        int r = http_query(rq->x, "status", list, sizeof(list));

        *ret = NULL;
        if (r == 0 || (r == 1 && !*list))
                return 0;
        if (r < 0 || readmodel_status_array(list, buf, cap) < 0) {
                http_problem(rq->x, 400, NULL, NULL,
                             "status must be one or more of PAID, ACCEPTED, COOKING, COOKED, PICKED_UP, DELIVERED, "
                             "COMPLETED, REFUSED, CANCELLED, REJECTED separated by commas");
                return -1;
        }
        *ret = buf;
        return 0;
}

void routes_read_failed(Request *rq, int r) {
        if (r == -ENOMEM)
                http_problem(rq->x, 500, NULL, NULL, "out of memory");
        else if (r == -ETIMEDOUT)
                http_problem(rq->x, 503, NULL, "Retry-After: 1\r\n", "the read side did not answer in time; retry shortly");
        else
                http_problem(rq->x, 503, NULL, "Retry-After: 1\r\n", "the read model is unavailable; retry shortly");
}

void routes_order_action(Request *rq, const char *order_id, const char *action, const char *store_id,
                         const char *reason) {
        Food__V1__OrderAction a = FOOD__V1__ORDER_ACTION__INIT;

        a.order_id = (char *)order_id;
        a.action = (char *)action;
        a.actor_id = rq->auth.sub;
        a.actor_role = (char *)auth_role_name(rq->auth.role);
        a.store_id = (char *)store_id;
        a.reason = (char *)reason;
        rpc_answer(rq, &a.base, order_id);
}
