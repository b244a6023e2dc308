/* libFuzzer harness of the projector: a status event through decode and what projector_handle
 * computes before its upserts (order_check, the order's JSON view, created/updated times, the
 * delivery row its status implies with the delivery view), and the analytics archive's NDJSON line
 * of the same event (projector-export.c, read by the gateway and food-export). */
#include <jansson.h>
#include <string.h>

#include "fuzz-common.h"
#include "order-check.h"
#include "order-json.h"
#include "projector-export.h"
#include "projector-view.h"

static const char *const types[] = {"food.v1.OrderStatusChanged"};

static void view_roundtrip(json_t *v, const char *what) {
        if (!v)
                return;
        char *text = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(12));
        FUZZ_CHECK(text != NULL, "%s does not serialize", what);
        json_t *back = json_loads(text, 0, NULL);
        FUZZ_CHECK(back != NULL, "%s does not read back: %s", what, text);
        json_decref(back);
        free(text);
        json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *why = NULL;

        fuzz_quiet();
        ProtobufCMessage *m = fuzz_decode(types, 1, 0, data, size);
        if (!m)
                return 0;
        const Food__V1__OrderStatusChanged *ev = (const Food__V1__OrderStatusChanged *)m;
        const Food__V1__Order *o = ev->order;
        if (order_check(o, &why) == 0) {
                view_roundtrip(order_json_view(o), "order view");
                int64_t updated = o->updated_at_ms > 0 ? o->updated_at_ms : ev->at_ms > 0 ? ev->at_ms : 1;
                (void)projector_created_at_ms(o, updated);
                bool creates = false;
                const char *status = projector_delivery_status(o->status, &creates);
                char id[ORDER_ID_MAX + 8];
                if (status && order_delivery_id(o->id, id, sizeof(id)) == 0)
                        view_roundtrip(order_json_delivery(o), "delivery view");
        } else
                FUZZ_CHECK(why != NULL, "order_check refused without a reason");
        char *line = export_line(7, types[0], ev);
        if (line) {
                size_t n = strlen(line);
                FUZZ_CHECK(n > 1 && line[n - 1] == '\n' && !memchr(line, '\n', n - 1), "not one line: %s", line);
                free(line);
        }
        codec_free(m);
        return 0;
}
