/* Read side for the gateway: the read model of orders and open deliveries, a
 * customer's notifications and coupons, and the catalog, each a query the
 * reader (services/reader) runs on its own PostgreSQL sessions and answers
 * over NATS (food.read.<query>, lib/topology.h): the gateway holds no session.
 * Never the write side. List queries answer a ready JSON array built by PostgreSQL. */
#pragma once
#include <stdint.h>

#include "gateway-catalog.h"
#include "bus.h"
#include "food.pb-c.h"

#define READMODEL_NOT_FOUND 1   /* result: no such row */
#define READMODEL_LIST_MAX 200  /* rows per list answer */
#define READMODEL_STATUSES_MAX 256 /* bytes of a PostgreSQL text[] literal of statuses */

typedef struct Readmodel Readmodel;
/* Registers gateway_reads_total{outcome}; call once before any read. */
void readmodel_metrics_init(void);

/* The read model row of one order. `view` is the JSON text (malloc'ed). */
typedef struct {
        char customer_id[128];
        char store_id[128];
        char status[32];
        int64_t version;
        char *view;
} ReadOrder;

/* Asks over `bus` (borrowed: it outlives the read model), waiting up to
 * `timeout_ms` for an answer. 0 or -ENOMEM. */
int readmodel_new(Readmodel **ret, Bus *bus, int64_t timeout_ms);
/* Accepts NULL. */
void readmodel_free(Readmodel *rm);

/* Turns "PAID,ACCEPTED" into the text[] literal "{PAID,ACCEPTED}" after
 * checking every name is an order status of the API. 0 or -EINVAL. */
int readmodel_status_array(const char *list, char *buf, size_t cap);

/* Runs read query `query` (TOPO_READ_*) with `n` parameters (NULL ones are SQL
 * NULL): 0 with *ret (codec_free it), or a negative errno: -ENOTCONN (no
 * reader runs, or NATS is down), -ETIMEDOUT (no answer within the timeout),
 * -EPROTO (the reader could not run it: PostgreSQL unreachable), -EINVAL. */
int readmodel_query(Readmodel *rm, const char *query, int n, const char *const *vals, Food__V1__ReadRows **ret);
/* The rows of an answer, and the text of one cell ("" past the edges or for NULL). */
size_t readmodel_rows(const Food__V1__ReadRows *rows);
const char *readmodel_cell(const Food__V1__ReadRows *rows, size_t row, int column);
/* A cell read as a decimal integer into *ret: 0, or -EPROTO when it is not one. */
int readmodel_ll(const Food__V1__ReadRows *rows, size_t row, int column, int64_t *ret);
/* 0 with *ret filled (free ret->view), READMODEL_NOT_FOUND, or a negative
 * errno as readmodel_query's. The list queries below fail the same way. */
int readmodel_order(Readmodel *rm, const char *order_id, ReadOrder *ret);
void readmodel_order_clear(ReadOrder *o);

/* Each writes a malloc'ed JSON array into *ret (caller frees): 0 or a
 * negative errno. `statuses` is a literal from readmodel_status_array or NULL. */
/* An order whose payment was never authorized (PAYMENT_PENDING, REJECTED)
 * was never established (F3): lists leave it out unless a customer asks for
 * those statuses by name; a store never sees it. */
/* The customer's orders, newest first (the newest READMODEL_LIST_MAX). */
int readmodel_customer_orders(Readmodel *rm, const char *customer_id, const char *statuses, char **ret);
/* The store's orders, oldest first (of its newest 500, so new ones always show). */
int readmodel_store_orders(Readmodel *rm, const char *store_id, const char *statuses, char **ret);
/* Open deliveries matching `f` (dropoff region / distance), oldest first. */
int readmodel_open_deliveries(Readmodel *rm, const GeoFilter *f, char **ret);
/* [{"order_id","status","message","at"}] of the customer, oldest first (the newest READMODEL_LIST_MAX). */
int readmodel_notifications(Readmodel *rm, const char *customer_id, const char *order_id, char **ret);
/* The customer's coupons (unexpired or used) as JSON text [{"id","store_id","discount","used"}]. */
int readmodel_coupons(Readmodel *rm, const char *customer_id, char **ret);
/* Number of the customer's COMPLETED orders. */
int readmodel_completed_orders(Readmodel *rm, const char *customer_id, int64_t *ret);
