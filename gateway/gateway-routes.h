/* What a route handler receives, the handlers of SPEC §4, and the checks
 * they share. Every handler answers exactly once through gateway-http. */
#pragma once
#include "gateway-auth.h"
#include "gateway-http.h"
#include "gateway.h"

#define ROUTE_ARGS_MAX 2

/* The request's bearer token, verified once, when the rate limiter or the route first needs it. */
typedef enum { TOKEN_UNCHECKED, TOKEN_NONE, TOKEN_INVALID, TOKEN_VALID } TokenState;

typedef struct {
        Gateway *gw;
        HttpExchange *x;
        TokenState token;
        const char *token_why;              /* why it did not verify (static text) */
        AuthClaims auth;                    /* valid when token is TOKEN_VALID (routes that need a token) */
        const char *arg[ROUTE_ARGS_MAX];    /* path captures, checked with auth_id_valid */
        char client[CLIENT_ADDR_MAX];       /* the client's address (gateway-client.h) */
} Request;

typedef void (*RouteHandler)(Request *rq);

/* gateway-system.c */
void system_healthz(Request *rq);
void system_readyz(Request *rq);
void system_metrics(Request *rq);
void system_dev_token(Request *rq);
void system_admin_saga(Request *rq);
void store_issue_coupon(Request *rq);

/* gateway-store.c */
void store_list(Request *rq);
void store_menu(Request *rq);
void store_inbox(Request *rq);
void store_accept(Request *rq);
void store_refuse(Request *rq);
void store_cooking_started(Request *rq);
void store_cooking_finished(Request *rq);

/* gateway-orders.c */
/* The read-model row of order `id` as the caller may see it (owner customer, its store once paid,
 * admin): 0 with *ret (readmodel_order_clear it), or -1 after answering 404 (not there, or not theirs:
 * no BOLA) or 503 (read model unavailable). */
int orders_read_visible(Request *rq, const char *id, ReadOrder *ret);

void orders_place(Request *rq);
void orders_get(Request *rq);
void orders_list(Request *rq);
void orders_modify(Request *rq);
void orders_cancel(Request *rq);
void orders_confirm(Request *rq);

/* gateway-rider.c */
void rider_deliveries(Request *rq);
void rider_pick(Request *rq);
void rider_delivered(Request *rq);

/* gateway-customer.c */
void customer_me(Request *rq);
void customer_notifications(Request *rq);

/* gateway-ui.c: the web UI from memory. GET|HEAD / is its page, /ui/{name}
 * its other assets (404 problem+json for an unknown name). */
void ui_index(Request *rq);
void ui_asset(Request *rq);
/* The embedded asset called `name` (its index in *ret_index when not NULL), or NULL. */
const EmbeddedFile *ui_lookup(const char *name, size_t *ret_index);
/* The Content-Type of a file name by its extension, or NULL when unknown. */
const char *ui_content_type(const char *name);
/* Whether an If-None-Match value (NULL when absent) names `etag`. */
bool ui_etag_matches(const char *if_none_match, const char *etag);

/* ---- shared by the handlers (gateway-routes.c) ---- */

/* Reads the body within MAX_BODY_BYTES. 0 with *ret (free it), or -1 after
 * answering 413 / 400. */
int routes_body(Request *rq, char **ret, size_t *ret_len);
/* Reads ?region= and ?lat=&lon=&radius_m= into *f (strings in the buffers
 * given). 0, or -1 after answering 400 with the parameter named. */
int routes_geo_filter(Request *rq, GeoFilter *f, char *region, size_t region_cap);
/* Reads ?status=A,B into a text[] literal in buf, or NULL (*ret) when absent.
 * 0, or -1 after answering 400. */
int routes_status_filter(Request *rq, char *buf, size_t cap, const char **ret);
/* Answers a negative errno of the read side: 503 with Retry-After. */
void routes_read_failed(Request *rq, int r);
/* The OrderAction RPC for `action` on `order_id` by the token's owner, with
 * `store_id` ("" when none) and `reason`; answers with the reply. */
void routes_order_action(Request *rq, const char *order_id, const char *action, const char *store_id,
                         const char *reason);
