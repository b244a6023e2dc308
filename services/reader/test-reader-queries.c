/* Unit test of the reader's query table: every name the topology gives the gateway is there, each travels as a
 * subject token, and each statement takes exactly the arguments the table says (a query answered with the
 * wrong parameters would fail at PostgreSQL for every asker). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader-queries.h"
#include "test-check.h"
#include "topology.h"

/* The highest $n in `sql`. */
static int highest_param(const char *sql) {
        int high = 0;
        for (const char *p = strchr(sql, '$'); p; p = strchr(p + 1, '$')) {
                long n = strtol(p + 1, NULL, 10);
                if (n > high)
                        high = (int)n;
        }
        return high;
}

int main(void) {
        const char *asked[] = {TOPO_READ_ORDER,         TOPO_READ_CUSTOMER_ORDERS, TOPO_READ_STORE_ORDERS,
                               TOPO_READ_OPEN_DELIVERIES, TOPO_READ_NOTIFICATIONS,  TOPO_READ_COUPONS,
                               TOPO_READ_COMPLETED_ORDERS, TOPO_READ_CATALOG_STORES, TOPO_READ_CATALOG_ITEMS};
        const ReaderQuery *q;
        char subject[TOPO_SUBJECT_MAX];
        size_t n = 0;

        for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++)
                CHECK(reader_query(asked[i]) != NULL, "the reader runs %s", asked[i]);
        for (size_t i = 0; (q = reader_query_at(i)); i++, n++) {
                CHECK(topo_read_subject(subject, sizeof(subject), q->name) == 0 &&
                              topo_subject_matches(TOPO_READ_SUBJECTS, subject),
                      "%s travels on %s", q->name, subject);
                CHECK(highest_param(q->stmt.sql) == q->n_args, "%s takes %d arguments, its statement %d", q->name,
                      q->n_args, highest_param(q->stmt.sql));
                CHECK(reader_query(q->name) == q, "%s is named once", q->name);
        }
        CHECK(n == sizeof(asked) / sizeof(asked[0]), "no query the gateway does not ask (%zu)", n);
        CHECK(reader_query("orders") == NULL && reader_query(NULL) == NULL, "an unknown name finds nothing");
        return failures ? 1 : 0;
}
