/* Live status events: decode by Food-Type, keep the stream's order only, frame newer versions. */
#include "gateway-live.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "gateway-sse.h"
#include "order-json.h"

int live_status_event(const char *type, const void *data, size_t len, const char *order_id,
                      Food__V1__OrderStatusChanged **ret) {
        const CodecType *ct = type ? codec_type_by_name(type) : NULL;
        ProtobufCMessage *msg = NULL;
        Food__V1__OrderStatusChanged *ev;

        if (!ct || ct->desc != &food__v1__order_status_changed__descriptor || codec_unpack(ct->desc, data, len, &msg) < 0)
                return 0;
        ev = (Food__V1__OrderStatusChanged *)msg;
        if (!ev->order || !ev->order->id || strcmp(ev->order->id, order_id) != 0) {
                codec_free(msg);
                return 0;
        }
        *ret = ev;
        return 1;
}

int live_frame(const Food__V1__Order *o, int64_t last_sent, char **frame, size_t *len) {
        if (o->version <= last_sent)
                return 0;
        char *text = order_json_view(o, NULL);
        int r = text ? sse_frame(o->version, text, frame, len) : -ENOMEM;
        free(text);
        return r < 0 ? r : 1;
}
