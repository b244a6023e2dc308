/* The read side's queries, each a subject of its own (food.read.<name>): the read model of orders and open
 * deliveries, a customer's notifications and coupons, and the catalog. The gateway names them
 * (gateway/gateway-readmodel.c, gateway-catalog.c); only the reader runs them. Never the write side. */
#pragma once
#include <stddef.h>

#include "pg.h"

typedef struct {
        const char *name; /* the last token of its subject */
        PgStmt stmt;
        int n_args; /* parameters the query takes, in order */
} ReaderQuery;

/* The query called `name`, or NULL. */
const ReaderQuery *reader_query(const char *name);
/* The i-th query (0-based), NULL past the last. */
const ReaderQuery *reader_query_at(size_t i);
