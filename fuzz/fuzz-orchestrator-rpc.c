/* libFuzzer harness of the orchestrator's requests: a sequence of RPCs as they come on
 * food.rpc.orders.<shard>.<verb> (PlaceOrder, OrderAction, ModifyOrder, GrantCoupon, SagaQuery),
 * decided by saga-inputs.c with the saga engine on the orchestrator in memory (writer-memory.c:
 * every hook, batch and message checked there), while well-behaved workers answer what it sent
 * and time passes. The input is a list of records [op][length, 2 bytes big-endian][payload]:
 *   op & 7 in 0..4: the payload is a request of that type (rpc_types) on its own subject; 7: of the
 *     type (op >> 5) % 5 on the subject of the next type (refused); bit 3: in the same batch as the
 *     record before; bit 4: with a valid traceparent header; bits 5..7: the shard token;
 *   op & 7 == 5: the workers answer everything sent, in the mood op >> 3 (WORKERS_MEMORY_*);
 *   op & 7 == 6: time passes (advance_ms[op >> 3 & 3]) and the timers and re-sends are decided. */
#include <string.h>

#include "fuzz-common.h"
#include "workers-memory.h"
#include "writer-memory.h"

#define RECORDS_MAX 48

static const ProtobufCMessageDescriptor *const rpc_types[] = {
        &food__v1__place_order__descriptor, &food__v1__order_action__descriptor, &food__v1__modify_order__descriptor,
        &food__v1__grant_coupon__descriptor, &food__v1__saga_query__descriptor};
static const int64_t advance_ms[] = {1000, 70000, 660000, 7200000};

static int rpc(Writer *w, uint8_t op, const uint8_t *data, size_t len) {
        char subject[TOPO_SUBJECT_MAX];
        size_t k = op & 7;
        const ProtobufCMessageDescriptor *type = rpc_types[k == 7 ? (size_t)(op >> 5) % 5 : k];
        const CodecType *on = codec_type_by_desc(rpc_types[k == 7 ? (size_t)((op >> 5) + 1) % 5 : k]);
        FUZZ_CHECK(on && on->verb, "no verb for %s", type->name);
        FUZZ_CHECK(topo_rpc_subject(subject, sizeof(subject), op >> 5, on->verb) == 0, "no subject for %s", on->verb);
        return writer_memory_rpc(w, type->name, subject, data, len,
                                 (op & 16) ? "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" : NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Writer *w = writer_memory_reset();
        bool open = false, failed = false;

        for (int n = 0; size >= 3 && n < RECORDS_MAX; n++) {
                uint8_t op = data[0];
                size_t len = (size_t)data[1] << 8 | data[2];
                if (len > size - 3)
                        len = size - 3;
                const uint8_t *payload = data + 3;
                data += 3 + len;
                size -= 3 + len;
                switch (op & 7) {
                case 5:
                case 6:
                        if (open)
                                writer_memory_end(w, failed);
                        open = false;
                        if ((op & 7) == 5) {
                                workers_memory_answer(w, op >> 3, 1000);
                        } else {
                                writer_memory_begin(w, advance_ms[op >> 3 & 3]);
                                writer_memory_end(w, writer_memory_timers(w) < 0);
                        }
                        break;
                default:
                        if (!open || !(op & 8)) {
                                if (open)
                                        writer_memory_end(w, failed);
                                writer_memory_begin(w, 0);
                                open = true;
                                failed = false;
                        }
                        /* A batch that failed is rolled back whole: nothing more is decided in it. */
                        if (!failed)
                                failed = rpc(w, op, payload, len) < 0;
                        break;
                }
        }
        if (open)
                writer_memory_end(w, failed);
        return 0;
}
