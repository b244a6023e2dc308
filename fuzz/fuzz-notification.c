/* libFuzzer harness of the customers' notifications, both halves. An even first byte: the rest is a
 * message on food.cmd.notification through the worker loop's decode (fuzz_command_batch: rows
 * only, a command there is dead-lettered), each row as the sender takes it (notify_sender_feed,
 * then the webhook's idempotency key and body, notification-delivery.c). An odd one: the rest is a
 * status event whose change the orchestrator words for the customer as it records the event
 * (notification_message, lib/notification-message.c). Stops where HTTP would start. */
#include <jansson.h>
#include <string.h>

#include "fuzz-common.h"
#include "notification-delivery.h"
#include "notification-message.h"

/* A key goes out as an HTTP header value: bounded, printable, never empty. */
static void check_key(const char *key) {
        size_t n = strlen(key);
        FUZZ_CHECK(n > 0 && n < NOTIFY_KEY_MAX, "key of %zu bytes", n);
        for (size_t i = 0; i < n; i++)
                FUZZ_CHECK((unsigned char)key[i] >= 0x20 && key[i] != 0x7f, "control byte %#x in the key %s",
                           (unsigned)(unsigned char)key[i], key);
}

static void row(const Food__V1__Notification *r) {
        NotifyItem it = {.attempts = 1, .msg_id = r->msg_id, .customer_id = r->customer_id, .order_id = r->order_id,
                         .status = r->status, .message = r->message, .at_ms = r->at_ms};
        char key[NOTIFY_KEY_MAX];
        char *body = NULL;

        notify_idempotency_key(&it, key, sizeof(key));
        check_key(key);
        int r2 = notify_webhook_body(&it, &body);
        FUZZ_CHECK(r2 == 0 || r2 == -ENOMEM, "notify_webhook_body returned %d", r2);
        if (r2 != 0)
                return;
        json_t *doc = json_loads(body, 0, NULL);
        FUZZ_CHECK(doc && json_is_object(doc), "webhook body %s does not read back", body);
        FUZZ_CHECK(json_is_string(json_object_get(doc, "id")) && json_is_string(json_object_get(doc, "at")) &&
                           strcmp(json_string_value(json_object_get(doc, "message")), r->message) == 0,
                   "webhook body %s", body);
        json_decref(doc);
        free(body);
}

static void status_event(const uint8_t *data, size_t size) {
        ProtobufCMessage *m = NULL;
        char text[NOTIFICATION_MESSAGE_MAX];

        if (codec_unpack(&food__v1__order_status_changed__descriptor, data, size, &m) < 0)
                return;
        const Food__V1__OrderStatusChanged *ev = (const Food__V1__OrderStatusChanged *)m;
        if (ev->order) {
                const Food__V1__Order *o = ev->order;
                text[0] = 0;
                int r = notification_message(o->status, ev->previous_status, o->amount_refunded, text, sizeof(text));
                FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOSPC, "notification_message returned %d", r);
                FUZZ_CHECK(r != -EINVAL || !*o->status, "no text for status %s", o->status);
                FUZZ_CHECK(memchr(text, 0, sizeof(text)) != NULL, "text overran");
                FUZZ_CHECK(r != 0 || *text, "an empty text");
        }
        codec_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_quiet();
        if (size < 1)
                return 0;
        if (data[0] & 1) {
                status_event(data + 1, size - 1);
                return 0;
        }
        Food__V1__CommandBatch *b = fuzz_command_batch("notification", data + 1, size - 1);
        if (!b)
                return 0;
        FUZZ_CHECK(b->n_commands == 0, "%zu commands for the notification worker kept", b->n_commands);
        for (size_t i = 0; i < b->n_notifications; i++)
                row(b->notifications[i]);
        codec_free(&b->base);
        return 0;
}
