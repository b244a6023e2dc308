/* libFuzzer harness of the delivery worker: a delivery command through decode, delivery_check (ids,
 * coordinates, rider) and the numbers an opening stores (delivery_open_params), and the reply
 * packed. Stops where the deliveries table would be written. */
#include <math.h>
#include <string.h>

#include "delivery-handler.h"
#include "fuzz-common.h"

static const char *const types[] = {"food.v1.OpenDelivery", "food.v1.AssignRider", "food.v1.CompleteDelivery",
                                    "food.v1.CancelDelivery"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const DeliveryConfig cfg = {.far_m = 20000};
        char order_id[128];

        ProtobufCMessage *m = FUZZ_INPUT(types, data, size);
        if (!m)
                return 0;
        int r = delivery_check(m, order_id, sizeof(order_id));
        FUZZ_CHECK(r == 0 || r == WORKER_POISON, "delivery_check returned %d", r);
        if (r == 0) {
                const Food__V1__Correlation *corr = codec_correlation(m);
                FUZZ_CHECK(corr && strncmp(order_id, "ord_", 4) == 0, "accepted without an order (%s)", order_id);
                if (m->descriptor == &food__v1__open_delivery__descriptor) {
                        DeliveryOpenParams p;
                        FUZZ_CHECK(delivery_open_params(&cfg, (const Food__V1__OpenDelivery *)m, &p) == 0, "params");
                        FUZZ_CHECK(!p.dist[0] || (isfinite(p.distance_m) && p.distance_m >= 0),
                                   "distance %f between valid coordinates", p.distance_m);
                }
                Food__V1__DeliveryRecorded rep = FOOD__V1__DELIVERY_RECORDED__INIT;
                rep.corr = (Food__V1__Correlation *)corr;
                rep.delivery_id = (char *)"dlv_x";
                rep.status = (char *)"OPEN";
                fuzz_repack(&rep.base);
        }
        codec_free(m);
        return 0;
}
