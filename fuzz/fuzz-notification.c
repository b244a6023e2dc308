/* libFuzzer harness of the notification worker: a status event (durable "notification") or a
 * NotifyCustomer command (durable "notification-cmd") through decode and the same checks and text
 * the handlers compute before they insert the row (order_check, notification_message,
 * notification_kind_message), and the command's reply packed. */
#include <string.h>

#include "fuzz-common.h"
#include "notification-message.h"
#include "order-check.h"
#include "worker.h"

static const char *const types[] = {"food.v1.OrderStatusChanged", "food.v1.NotifyCustomer"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char text[NOTIFICATION_MESSAGE_MAX];
        const char *why = NULL;

        ProtobufCMessage *m = FUZZ_INPUT(types, data, size);
        if (!m)
                return 0;
        if (m->descriptor == &food__v1__order_status_changed__descriptor) {
                const Food__V1__OrderStatusChanged *ev = (const Food__V1__OrderStatusChanged *)m;
                const Food__V1__Order *o = ev->order;
                if (order_check(o, &why) == 0) {
                        int r = notification_message(o->status, ev->previous_status, o->amount_refunded, text,
                                                     sizeof(text));
                        FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOSPC, "notification_message returned %d", r);
                        FUZZ_CHECK(strlen(text) < sizeof(text), "text overran");
                }
        } else {
                const Food__V1__NotifyCustomer *c = (const Food__V1__NotifyCustomer *)m;
                if (c->corr && order_check_id(c->customer_id) && *c->kind && strlen(c->kind) <= 64) {
                        const char *t = c->message;
                        if (!*t) {
                                FUZZ_CHECK(notification_kind_message(c->kind, text, sizeof(text)) == 0 ||
                                                   strlen(text) < sizeof(text),
                                           "kind message overran");
                                t = text;
                        }
                        (void)t;
                        Food__V1__NotificationSent rep = FOOD__V1__NOTIFICATION_SENT__INIT;
                        rep.corr = c->corr;
                        rep.customer_id = c->customer_id;
                        fuzz_repack(&rep.base);
                }
        }
        codec_free(m);
        return 0;
}
