/* libFuzzer harness of the read model's writer (lib/readmodel-write.c): archived status events
 * (the input is up to FUZZ_EVENTS of them, each behind a 2-byte big-endian length) as
 * projector-rebuild takes them (order_check, order_check_transition), each order through
 * readmodel_write_add as both the rebuild and the orchestrator's batches add it (the orchestrator
 * adds a saga's order without order_check), then the statements' array parameters as PostgreSQL
 * would read them. Stops where PostgreSQL would start. */
#include <string.h>

#include "fuzz-common.h"
#include "order-check.h"
#include "readmodel-write.h"

#define FUZZ_EVENTS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtobufCMessage *events[FUZZ_EVENTS];
        size_t n_events = 0, orders = 0, deliveries = 0, cancels = 0;
        ReadmodelWrite w;
        PgCall calls[3];

        fuzz_quiet();
        while (size >= 2 && n_events < FUZZ_EVENTS) {
                size_t len = (size_t)data[0] << 8 | data[1];
                if (len > size - 2)
                        len = size - 2;
                ProtobufCMessage *m = NULL;
                if (codec_unpack(&food__v1__order_status_changed__descriptor, data + 2, len, &m) == 0 &&
                    ((Food__V1__OrderStatusChanged *)m)->order)
                        events[n_events++] = m;
                else
                        codec_free(m);
                data += 2 + len;
                size -= 2 + len;
        }
        readmodel_write_init(&w);
        for (size_t i = 0; i < n_events; i++) {
                const Food__V1__OrderStatusChanged *ev = (const Food__V1__OrderStatusChanged *)events[i];
                const Food__V1__Order *o = ev->order;
                const char *why = NULL;
                bool creates = false;
                /* The rebuild skips what the orchestrator could never have written. */
                bool rebuilt = order_check(o, &why) == 0 && order_check_transition(ev->previous_status, o->status);
                FUZZ_CHECK(rebuilt || why || !order_check_transition(ev->previous_status, o->status),
                           "order_check refused without a reason");
                const char *dstatus = readmodel_write_delivery_status(o->status, &creates);
                FUZZ_CHECK(!dstatus || order_status_known(o->status), "a delivery row for status %s", o->status);
                int64_t created = readmodel_write_created_at_ms(o, ev->at_ms);
                FUZZ_CHECK(created > 0 || ev->at_ms <= 0 || o->updated_at_ms > 0 || o->n_history > 0,
                           "created at %lld for an event at %lld", (long long)created, (long long)ev->at_ms);
                int r = readmodel_write_add(&w, o, ev->at_ms);
                FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM, "readmodel_write_add returned %d", r);
                if (r != 0)
                        continue;
                orders++;
                if (dstatus && creates)
                        deliveries++;
                else if (dstatus)
                        cancels++;
        }
        FUZZ_CHECK(w.n_orders == orders && w.n_deliveries == deliveries && w.n_cancels == cancels,
                   "rows %zu/%zu/%zu for %zu/%zu/%zu added", w.n_orders, w.n_deliveries, w.n_cancels, orders,
                   deliveries, cancels);
        int n = readmodel_write_calls(&w, calls);
        FUZZ_CHECK(n == (orders > 0) + (deliveries > 0) + (cancels > 0), "%d statements for %zu/%zu/%zu rows", n,
                   orders, deliveries, cancels);
        size_t rows[3] = {orders, deliveries, cancels};
        for (int i = 0, k = 0; i < 3; i++)
                if (rows[i])
                        fuzz_pg_call_check(&calls[k++], (int32_t)rows[i]);
        readmodel_write_free(&w);
        for (size_t i = 0; i < n_events; i++)
                codec_free(events[i]);
        return 0;
}
