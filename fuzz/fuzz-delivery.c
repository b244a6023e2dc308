/* libFuzzer harness of the delivery worker: a message on food.cmd.delivery through the worker
 * loop's decode (fuzz_command_batch), then each command as delivery_handle takes it: delivery_check
 * (ids, coordinates, rider), the numbers an opening stores (delivery_open_params), and the answer.
 * Stops where the deliveries table would be written. */
#include <math.h>
#include <string.h>

#include "delivery-handler.h"
#include "fuzz-common.h"
#include "order-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const DeliveryConfig cfg = {.far_m = 20000};
        char order_id[ORDER_ID_MAX + 8];

        fuzz_quiet();
        Food__V1__CommandBatch *b = fuzz_command_batch("delivery", data, size);
        if (!b)
                return 0;
        for (size_t i = 0; i < b->n_commands; i++) {
                const ProtobufCMessage *m = codec_command_message(b->commands[i]);
                int r = delivery_check(m, order_id, sizeof(order_id));
                FUZZ_CHECK(r == 0 || r == WORKER_POISON, "delivery_check returned %d", r);
                if (r != 0)
                        continue;
                const Food__V1__Correlation *corr = codec_correlation(m);
                FUZZ_CHECK(corr && strncmp(order_id, "ord_", 4) == 0, "accepted without an order (%s)", order_id);
                FUZZ_CHECK(!*corr->order_id || strcmp(corr->order_id, order_id) == 0,
                           "delivery of %s accepted for order %s", order_id, corr->order_id);
                if (m->descriptor == &food__v1__open_delivery__descriptor) {
                        DeliveryOpenParams p;
                        FUZZ_CHECK(delivery_open_params(&cfg, (const Food__V1__OpenDelivery *)m, &p) == 0, "params");
                        FUZZ_CHECK(!p.dist[0] || (isfinite(p.distance_m) && p.distance_m >= 0),
                                   "distance %f between valid coordinates", p.distance_m);
                        for (int k = 0; k < 4; k++)
                                FUZZ_CHECK(memchr(p.num[k], 0, sizeof(p.num[k])) && strlen(p.num[k]) < 31,
                                           "coordinate text %d cut", k);
                }
                /* The state after it, as the table answers (the rider NULL -> ""). */
                Food__V1__DeliveryRecorded rep = FOOD__V1__DELIVERY_RECORDED__INIT;
                rep.corr = (Food__V1__Correlation *)corr;
                rep.delivery_id = (char *)"dlv_x";
                rep.status = (char *)"OPEN";
                rep.rider_id = (char *)"";
                fuzz_answer(&rep.base);
        }
        codec_free(&b->base);
        return 0;
}
