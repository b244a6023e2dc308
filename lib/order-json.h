/* The order view of SPEC §4 as JSON, built from the Order protobuf: the one
 * place that decides field names (used by the orchestrator, the tools and the gateway). */
#pragma once
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "food.pb-c.h"

/* Formats epoch milliseconds as RFC 3339 UTC with milliseconds into buf (>= 25 bytes). */
void order_json_time(int64_t ms, char *buf, size_t cap);
/* The full order view as compact JSON text: {"id","customer_id","store_id","status","items":[...],
 * "total","discount","amount_paid","amount_refunded","address","note","rider_id","history":[{"status","at"}],
 * "updated_at"} (+ "coupon_id", "reason" when set). Written directly, as jansson would with JSON_COMPACT and
 * JSON_REAL_PRECISION(12): it is built for every answer and every decision. malloc'ed (its length in *len
 * when len is not NULL), or NULL when a string is not UTF-8, a coordinate not finite, or memory ran out. */
char *order_json_view(const Food__V1__Order *o, size_t *len);
/* Delivery id of an order ("dlv_" + the order id's suffix) and back. 0 or -EINVAL. */
int order_delivery_id(const char *order_id, char *buf, size_t cap);
int order_id_of_delivery(const char *delivery_id, char *buf, size_t cap);
/* The open-delivery view: {"id","order_id","store_id","pickup","dropoff"} (each place {"text","region","lat",
 * "lon"}, or null), written directly as order_json_view is (a delivery's rows are written at each of its
 * steps; jansson's tree and dump were a tenth of the orchestrator's CPU). malloc'ed, its length in *len when
 * len is not NULL; NULL as for order_json_view, or for an order id without the "ord_" prefix. */
char *order_json_delivery(const Food__V1__Order *o, size_t *len);
/* A saga's state and step history for operators: {"order_id","state","step",
 * "attempt","version","definition_version","deadline_at","compensation_failed",
 * "created_at","updated_at","steps":[{"kind","type","step","attempt","at","detail"}]}. */
json_t *order_json_saga(const Food__V1__SagaHistory *h);
