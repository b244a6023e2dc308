/* libFuzzer harness of the gateway's RPC answers: bytes as the orchestrator's RpcReply, decoded as
 * rpc_answer does and turned into the HTTP status, headers and body by rpc_answer_plan (what the
 * gateway then writes to the client). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "gateway-rpc-answer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtobufCMessage *m = NULL;
        RpcAnswer a;

        fuzz_quiet();
        if (codec_unpack(&food__v1__rpc_reply__descriptor, data, size, &m) < 0)
                return 0;
        rpc_answer_plan((const Food__V1__RpcReply *)m, &a);
        FUZZ_CHECK(a.status >= 200 && a.status <= 599, "HTTP status %d", a.status);
        FUZZ_CHECK(a.body || a.status >= 400, "status %d without a body", a.status);
        /* Header lines go to the client as they are: each must end in CRLF and hold no other. */
        size_t n = strlen(a.headers);
        FUZZ_CHECK(n == 0 || (n >= 2 && strcmp(a.headers + n - 2, "\r\n") == 0), "headers cut: %s", a.headers);
        FUZZ_CHECK(strcspn(a.headers, "\r\n") >= (n ? n - 2 : 0), "header injection: %s", a.headers);
        const Food__V1__RpcReply *r = (const Food__V1__RpcReply *)m;
        if (a.body && r->order_view.len > 0 && r->n_sagas != 1) {
                /* The orchestrator's view goes as it is, once it looks like one object and holds no NUL. */
                FUZZ_CHECK(a.body_len == r->order_view.len && memcmp(a.body, r->order_view.data, a.body_len) == 0,
                           "the view was not sent as it came");
                FUZZ_CHECK(a.body[0] == '{' && a.body[a.body_len - 1] == '}' && strlen(a.body) == a.body_len,
                           "a view that is not {...}: %s", a.body);
        } else if (a.body) {
                /* The order view is written directly (lib/order-json.c): whatever the reply held, it must be one
                 * JSON object of exactly body_len bytes. */
                json_error_t err;
                json_t *v = json_loadb(a.body, a.body_len, 0, &err);
                FUZZ_CHECK(v && json_is_object(v), "body is not a JSON object (%s): %s", err.text, a.body);
                FUZZ_CHECK(strlen(a.body) == a.body_len, "body length %zu, text %zu", a.body_len, strlen(a.body));
                json_decref(v);
        }
        rpc_answer_clear(&a);
        codec_free(m);
        return 0;
}
