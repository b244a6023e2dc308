/* Unit test of the answers' form (engine_reply_set): the order's JSON view with its id and version, and the
 * Order as well only while a gateway of an older build (requests without Food-Answer-Form) was heard lately. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ids.h"
#include "order-json.h"
#include "saga-engine.h"
#include "test-check.h"

static Food__V1__RpcReply *answer(const Food__V1__Order *o) {
        EngineReply r = {0};
        ProtobufCMessage *m = NULL;
        CHECK(engine_reply_set(&r, 200, NULL, NULL, o, 0) == 0, "engine_reply_set");
        CHECK(codec_unpack(&food__v1__rpc_reply__descriptor, r.data, r.len, &m) == 0, "the answer decodes");
        engine_reply_clear(&r);
        return (Food__V1__RpcReply *)m;
}

int main(void) {
        Food__V1__Order o = FOOD__V1__ORDER__INIT;
        o.id = "ord_reply";
        o.customer_id = "cus_1";
        o.store_id = "sto_1";
        o.status = "ACCEPTED";
        o.version = 7;
        size_t len = 0;
        char *view = order_json_view(&o, &len);

        Food__V1__RpcReply *a = answer(&o);
        CHECK(a && !a->order, "no Order in an answer while no older gateway was heard");
        CHECK(a && a->order_view.len == len && memcmp(a->order_view.data, view, len) == 0, "the view as the read "
              "model has it");
        CHECK(a && strcmp(a->order_id, "ord_reply") == 0 && a->order_version == 7, "id and version beside it");
        codec_free(a ? &a->base : NULL);

        engine_reply_legacy_seen(ids_now_ms());
        a = answer(&o);
        CHECK(a && a->order && strcmp(a->order->id, "ord_reply") == 0, "the Order too after an older gateway's request");
        CHECK(a && a->order_view.len == len, "and the view");
        codec_free(a ? &a->base : NULL);

        engine_reply_legacy_seen(ids_now_ms() - 11 * 60 * 1000);
        a = answer(&o);
        CHECK(a && !a->order, "no Order once no older gateway was heard for 10 minutes");
        codec_free(a ? &a->base : NULL);
        free(view);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
