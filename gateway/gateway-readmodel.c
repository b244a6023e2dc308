/* Read-side queries, asked of the reader over NATS (food.read.<query>). */
#include "gateway-readmodel.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"

static Metric *m_answered, *m_timeout, *m_unavailable, *m_failed;

void readmodel_metrics_init(void) {
        m_answered = metrics_counter("gateway_reads_total{outcome=\"answered\"}", "Read queries asked of the reader by outcome");
        m_timeout = metrics_counter("gateway_reads_total{outcome=\"timeout\"}", "Read queries asked of the reader by outcome");
        m_unavailable = metrics_counter("gateway_reads_total{outcome=\"unavailable\"}",
                                        "Read queries asked of the reader by outcome");
        m_failed = metrics_counter("gateway_reads_total{outcome=\"failed\"}", "Read queries asked of the reader by outcome");
}

struct Readmodel {
        Bus *bus; /* borrowed */
        int64_t timeout_ms;
        _Atomic int64_t warned_at_ms; /* the last failed read logged: one a second at most (the metrics count all) */
};

/* Logs a failed read unless one was logged less than a second ago: with the reader away, every request fails. */
static void readmodel_warn(Readmodel *rm, const char *query, const char *why) {
        int64_t now = ids_now_ms(), last = atomic_load(&rm->warned_at_ms);
        if (now - last >= 1000 && atomic_compare_exchange_strong(&rm->warned_at_ms, &last, now))
                log_warn("readmodel: %s: %s (failed reads are counted in gateway_reads_total)", query, why);
}

/* Order statuses of the API (SPEC §4), the only values a status filter may name. */
static const char *const readmodel_statuses[] = {
        "PAYMENT_PENDING", "PAID",      "ACCEPTED", "COOKING", "COOKED",    "PICKED_UP",
        "DELIVERED",       "COMPLETED", "REJECTED", "REFUSED", "CANCELLED",
};

int readmodel_new(Readmodel **ret, Bus *bus, int64_t timeout_ms) {
        Readmodel *rm = calloc(1, sizeof(*rm));
        if (!rm)
                return -ENOMEM;
        rm->bus = bus;
        rm->timeout_ms = timeout_ms;
        *ret = rm;
        return 0;
}

void readmodel_free(Readmodel *rm) {
        free(rm);
}

int readmodel_status_array(const char *list, char *buf, size_t cap) {
        size_t pos = 0;
        const char *p = list;

        if (cap < 3)
                return -EINVAL;
        buf[pos++] = '{';
        while (*p) {
                size_t n = strcspn(p, ","), i;
                for (i = 0; i < sizeof(readmodel_statuses) / sizeof(readmodel_statuses[0]); i++)
                        if (strlen(readmodel_statuses[i]) == n && strncmp(readmodel_statuses[i], p, n) == 0)
                                break;
                if (i == sizeof(readmodel_statuses) / sizeof(readmodel_statuses[0]) || pos + n + 2 >= cap)
                        return -EINVAL;
                if (pos > 1)
                        buf[pos++] = ',';
                memcpy(buf + pos, p, n);
                pos += n;
                p += n;
                if (*p == ',' && *++p == 0)
                        return -EINVAL; /* trailing comma */
        }
        if (pos == 1)
                return -EINVAL;
        buf[pos++] = '}';
        buf[pos] = 0;
        return 0;
}

int readmodel_query(Readmodel *rm, const char *query, int n, const char *const *vals, Food__V1__ReadRows **ret) {
        char subject[TOPO_SUBJECT_MAX];
        char *args[TOPO_READ_ARGS_MAX];
        protobuf_c_boolean nulls[TOPO_READ_ARGS_MAX];
        Food__V1__ReadQuery q = FOOD__V1__READ_QUERY__INIT;
        ProtobufCMessage *unpacked = NULL;
        natsMsg *reply = NULL;
        uint8_t *data = NULL;
        size_t len = 0;

        if (n < 0 || n > TOPO_READ_ARGS_MAX || topo_read_subject(subject, sizeof(subject), query) < 0)
                return -EINVAL;
        for (int i = 0; i < n; i++) {
                args[i] = (char *)(vals[i] ? vals[i] : "");
                nulls[i] = vals[i] == NULL;
        }
        q.n_args = q.n_null_args = (size_t)n;
        q.args = args;
        q.null_args = nulls;
        int r = codec_pack(&q.base, &data, &len);
        if (r == 0)
                r = bus_request(rm->bus, subject, &(const BusHeaders){.type = food__v1__read_query__descriptor.name}, data,
                                len, rm->timeout_ms, &reply);
        free(data);
        if (r == -EHOSTUNREACH)
                r = -ENOTCONN; /* no reader runs */
        if (r < 0) {
                metric_add(r == -ETIMEDOUT ? m_timeout : m_unavailable, 1);
                readmodel_warn(rm, query, r == -ETIMEDOUT ? "no answer in time" : strerror(-r));
                return r;
        }
        r = codec_unpack(&food__v1__read_rows__descriptor, natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply),
                         &unpacked);
        natsMsg_Destroy(reply);
        if (r < 0) {
                metric_add(m_failed, 1);
                readmodel_warn(rm, query, "an unreadable answer");
                return -EPROTO;
        }
        Food__V1__ReadRows *rows = (Food__V1__ReadRows *)unpacked;
        if (*rows->error || (rows->n_cells && rows->columns <= 0) ||
            (rows->columns > 0 && rows->n_cells % (size_t)rows->columns)) {
                metric_add(m_failed, 1);
                readmodel_warn(rm, query, *rows->error ? rows->error : "a ragged answer");
                codec_free(unpacked);
                return -EPROTO;
        }
        metric_add(m_answered, 1);
        *ret = rows;
        return 0;
}

int readmodel_ll(const Food__V1__ReadRows *rows, size_t row, int column, int64_t *ret) {
        const char *text = readmodel_cell(rows, row, column);
        char *end = NULL;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!*text || *end || errno)
                return -EPROTO;
        *ret = v;
        return 0;
}

size_t readmodel_rows(const Food__V1__ReadRows *rows) {
        return rows->columns > 0 ? rows->n_cells / (size_t)rows->columns : 0;
}

const char *readmodel_cell(const Food__V1__ReadRows *rows, size_t row, int column) {
        size_t i = row * (size_t)rows->columns + (size_t)column;
        return column >= 0 && column < rows->columns && i < rows->n_cells ? rows->cells[i] : "";
}

/* For the single-cell queries: hands over a strdup of cell (0,0). */
static int readmodel_text(Readmodel *rm, const char *query, int n, const char *const *vals, char **ret) {
        Food__V1__ReadRows *rows = NULL;
        int r = readmodel_query(rm, query, n, vals, &rows);
        if (r < 0)
                return r;
        *ret = strdup(readmodel_rows(rows) == 1 ? readmodel_cell(rows, 0, 0) : "[]");
        codec_free(&rows->base);
        return *ret ? 0 : -ENOMEM;
}

int readmodel_order(Readmodel *rm, const char *order_id, ReadOrder *ret) {
        const char *vals[] = {order_id};
        Food__V1__ReadRows *rows = NULL;
        int r = readmodel_query(rm, TOPO_READ_ORDER, 1, vals, &rows);

        if (r < 0)
                return r;
        if (readmodel_rows(rows) != 1 || rows->columns != 5) {
                codec_free(&rows->base);
                return READMODEL_NOT_FOUND;
        }
        snprintf(ret->customer_id, sizeof(ret->customer_id), "%s", readmodel_cell(rows, 0, 0));
        snprintf(ret->store_id, sizeof(ret->store_id), "%s", readmodel_cell(rows, 0, 1));
        snprintf(ret->status, sizeof(ret->status), "%s", readmodel_cell(rows, 0, 4));
        r = readmodel_ll(rows, 0, 2, &ret->version);
        ret->view = r == 0 ? strdup(readmodel_cell(rows, 0, 3)) : NULL;
        codec_free(&rows->base);
        return r < 0 ? r : ret->view ? 0 : -ENOMEM;
}

void readmodel_order_clear(ReadOrder *o) {
        free(o->view);
        o->view = NULL;
}

int readmodel_customer_orders(Readmodel *rm, const char *customer_id, const char *statuses, char **ret) {
        const char *vals[] = {customer_id, statuses};
        return readmodel_text(rm, TOPO_READ_CUSTOMER_ORDERS, 2, vals, ret);
}

int readmodel_store_orders(Readmodel *rm, const char *store_id, const char *statuses, char **ret) {
        const char *vals[] = {store_id, statuses};
        return readmodel_text(rm, TOPO_READ_STORE_ORDERS, 2, vals, ret);
}

int readmodel_open_deliveries(Readmodel *rm, const GeoFilter *f, char **ret) {
        char lat[32], lon[32], radius[32];
        const char *vals[] = {f->region, NULL, NULL, NULL};

        if (f->near) {
                snprintf(lat, sizeof(lat), "%.9g", f->lat);
                snprintf(lon, sizeof(lon), "%.9g", f->lon);
                snprintf(radius, sizeof(radius), "%.9g", f->radius_m);
                vals[1] = lat;
                vals[2] = lon;
                vals[3] = radius;
        }
        return readmodel_text(rm, TOPO_READ_OPEN_DELIVERIES, 4, vals, ret);
}

int readmodel_notifications(Readmodel *rm, const char *customer_id, const char *order_id, char **ret) {
        const char *vals[] = {customer_id, order_id};
        return readmodel_text(rm, TOPO_READ_NOTIFICATIONS, 2, vals, ret);
}

int readmodel_coupons(Readmodel *rm, const char *customer_id, char **ret) {
        const char *vals[] = {customer_id};
        return readmodel_text(rm, TOPO_READ_COUPONS, 1, vals, ret);
}

int readmodel_completed_orders(Readmodel *rm, const char *customer_id, int64_t *ret) {
        const char *vals[] = {customer_id};
        Food__V1__ReadRows *rows = NULL;
        int r = readmodel_query(rm, TOPO_READ_COMPLETED_ORDERS, 1, vals, &rows);
        if (r < 0)
                return r;
        r = readmodel_rows(rows) == 1 ? readmodel_ll(rows, 0, 0, ret) : -EPROTO;
        codec_free(&rows->base);
        return r;
}
