/* Read-model rules: delivery status per order status, creation time. */
#include "projector-view.h"

#include <string.h>

typedef struct {
        const char *order_status;
        const char *delivery_status;
        bool creates;
} DeliveryRule;

static const DeliveryRule rules[] = {
        {"COOKED", "OPEN", true},           {"PICKED_UP", "PICKED_UP", true}, {"DELIVERED", "DELIVERED", true},
        {"COMPLETED", "DELIVERED", true},   {"CANCELLED", "CANCELLED", false}, {"REFUSED", "CANCELLED", false},
};

const char *projector_delivery_status(const char *order_status, bool *creates) {
        *creates = false;
        if (!order_status)
                return NULL;
        for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
                if (strcmp(rules[i].order_status, order_status) == 0) {
                        *creates = rules[i].creates;
                        return rules[i].delivery_status;
                }
        return NULL;
}

int64_t projector_created_at_ms(const Food__V1__Order *o, int64_t event_at_ms) {
        if (o->n_history > 0 && o->history[0] && o->history[0]->at_ms > 0)
                return o->history[0]->at_ms;
        if (o->updated_at_ms > 0)
                return o->updated_at_ms;
        return event_at_ms;
}
