/* Read side for the gateway: the projector's readmodel.orders/deliveries and
 * the notification worker's notifications, each query on a session borrowed
 * from the gateway's bounded pool (gateway-pgpool.h) and handed back at once.
 * Never the write side. List queries answer a ready JSON array built by PostgreSQL. */
#pragma once
#include <stdint.h>

#include "gateway-catalog.h"
#include "gateway-pgpool.h"

#define READMODEL_NOT_FOUND 1   /* result: no such row */
#define READMODEL_LIST_MAX 200  /* rows per list answer */
#define READMODEL_STATUSES_MAX 256 /* bytes of a PostgreSQL text[] literal of statuses */

typedef struct Readmodel Readmodel;

/* The read model row of one order. `view` is the JSON text (malloc'ed). */
typedef struct {
        char customer_id[128];
        char store_id[128];
        char status[32];
        int64_t version;
        char *view;
} ReadOrder;

/* Queries through `pool` (borrowed: it outlives the read model). 0 or -ENOMEM. */
int readmodel_new(Readmodel **ret, PgPool *pool);
/* Accepts NULL. */
void readmodel_free(Readmodel *rm);

/* Turns "PAID,ACCEPTED" into the text[] literal "{PAID,ACCEPTED}" after
 * checking every name is an order status of the API. 0 or -EINVAL. */
int readmodel_status_array(const char *list, char *buf, size_t cap);

/* 0 with *ret filled (free ret->view), READMODEL_NOT_FOUND, or a negative
 * errno (-ENOTCONN, -EPROTO: the read side is unavailable; -ETIMEDOUT: every
 * pooled session stayed busy). The list queries below fail the same way. */
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
