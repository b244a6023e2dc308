/* Health, readiness, metrics on the gateway's own port, and local-mode dev tokens. */
#include <civetweb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway-json.h"
#include "gateway-routes.h"
#include "gateway-rpc.h"
#include "health.h"
#include "log.h"

#define DEV_TOKEN_TTL_S (24 * 3600)

/* NATS connected and the catalog loaded (from the reader): the gateway holds no
 * PostgreSQL session, so a database away makes its reads 503, not the gateway
 * unready (the reader and the orchestrator say that on their own /readyz). */
bool gateway_ready(Gateway *gw) {
        return catalog_loaded(gw->catalog) && service_ready(&gw->svc);
}

/* The lib/health.h writers answer on the connection directly. */
void system_healthz(Request *rq) {
        health_write_healthz(rq->x->conn);
        rq->x->status = 200;
}

void system_readyz(Request *rq) {
        bool ready = gateway_ready(rq->gw);
        health_write_readyz(rq->x->conn, ready);
        rq->x->status = ready ? 200 : 503;
}

void system_metrics(Request *rq) {
        health_write_metrics(rq->x->conn);
        rq->x->status = 200;
}

void system_dev_token(Request *rq) {
        char token[1024];
        DevTokenBody body = {0};
        AuthClaims claims = {0};
        JsonProblem problem;
        char *text = NULL;
        size_t len = 0;
        json_t *answer;

        if (routes_body(rq, &text, &len) < 0)
                return;
        if (gjson_parse_dev_token(text, len, &body, &problem) != 0) {
                http_problem(rq->x, problem.status, NULL, NULL, "%s", problem.detail);
                goto out;
        }
        snprintf(claims.sub, sizeof(claims.sub), "%s", body.sub);
        (void)auth_role_parse(body.role, &claims.role); /* checked by the parser */
        if (claims.role == AUTH_STORE) {
                if (!catalog_store_exists(rq->gw->catalog, body.store_id)) {
                        http_problem(rq->x, 422, NULL, NULL, "unknown store \"%s\"", body.store_id);
                        goto out;
                }
                snprintf(claims.store_id, sizeof(claims.store_id), "%s", body.store_id);
        }
        if (auth_sign(&rq->gw->cfg.keys, &claims, (int64_t)time(NULL), DEV_TOKEN_TTL_S, token, sizeof(token)) < 0) {
                http_problem(rq->x, 500, NULL, NULL, "could not sign the token");
                goto out;
        }
        answer = json_pack("{s:s}", "token", token);
        if (!answer) {
                http_problem(rq->x, 500, NULL, NULL, "out of memory");
                goto out;
        }
        http_send_json(rq->x, 200, answer, NULL);
        json_decref(answer);
        log_info("dev token issued for %s (%s)", claims.sub, body.role);
out:
        gjson_release(body.root);
        free(text);
}

/* GET /admin/sagas/{order_id}: the orchestrator's own record of the saga. */
void system_admin_saga(Request *rq) {
        Food__V1__SagaQuery q = FOOD__V1__SAGA_QUERY__INIT;
        q.query = "show";
        q.order_id = (char *)rq->arg[0];
        rpc_answer(rq, &q.base, q.order_id);
}
