/* libFuzzer harness of GET /orders/{id}/events: a live NATS message (the first byte picks its
 * Food-Type header) through live_status_event and live_frame, the SSE frame the client gets, and
 * the end-of-stream rule (sse_state). */
#include <string.h>

#include "fuzz-common.h"
#include "gateway-live.h"
#include "gateway-sse.h"

static const char *const types[] = {"food.v1.OrderStatusChanged", "food.v1.RpcReply", "food.v1.CreateTicket",
                                    "food.v1.Unknown"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Food__V1__OrderStatusChanged *ev = NULL;
        char *frame = NULL;
        size_t len = 0;

        fuzz_quiet();
        if (size < 1)
                return 0;
        /* The stream's order: the one a seed is about, or another (its events are skipped). */
        const char *order_id = (data[0] & 4) ? "ord_other" : "ord_fuzz0001";
        if (live_status_event(types[data[0] % 4], data + 1, size - 1, order_id, &ev) != 1)
                return 0;
        FUZZ_CHECK(ev->order && strcmp(ev->order->id, order_id) == 0, "another order's event kept");
        int64_t last = (data[0] & 8) && ev->order->version > INT64_MIN ? ev->order->version - 1 : 0;
        int r = live_frame(ev->order, last, &frame, &len);
        FUZZ_CHECK(r == 0 || r == 1 || r == -ENOMEM || r == -EINVAL, "live_frame returned %d", r);
        if (r == 1) {
                FUZZ_CHECK(len == strlen(frame) && len > 2 && strcmp(frame + len - 2, "\n\n") == 0 &&
                                   strstr(frame, "\n\n") == frame + len - 2,
                           "frame is not one event: %s", frame);
                free(frame);
        }
        (void)sse_state(ev->order->status, ev->order->amount_paid, ev->order->amount_refunded);
        codec_free(&ev->base);
        return 0;
}
