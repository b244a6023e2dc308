/* libFuzzer harness of the orchestrator's answer consumer: workers' ReplyBatch messages on
 * food.ans.<instance> decided by saga-inputs.c (on_reply: the correlation, the awaited command,
 * payments, coupons, refunds, late charges) with the saga engine on the orchestrator in memory
 * (writer-memory.c: every hook, batch and message checked there), against a saga the first byte
 * brings to one of SCENARIOS through the real requests and well-behaved answers. The rest is a
 * list of records [op][length, 2 bytes big-endian][payload]:
 *   op & 3 == 0: the payload is a ReplyBatch (bit 2: in the same batch as the record before);
 *   op & 3 == 1: the workers answer everything sent, in the mood op >> 2 (WORKERS_MEMORY_*);
 *   op & 3 == 2: time passes (advance_ms[op >> 2 & 3]) and the timers and re-sends are decided;
 *   op & 3 == 3: an operator's SagaQuery of the saga: "show", or (bit 2) "redrive". */
#include <string.h>

#include "fuzz-common.h"
#include "workers-memory.h"
#include "writer-memory.h"

#define RECORDS_MAX 32
#define ORDER_ID "ord_fuzz0001"

static const int64_t advance_ms[] = {1000, 70000, 660000, 7200000};

/* A request of the scenario, decided in a batch of its own. */
static void request(Writer *w, const ProtobufCMessage *m) {
        const CodecType *t = codec_type_by_desc(m->descriptor);
        char subject[TOPO_SUBJECT_MAX];
        uint8_t *data = NULL;
        size_t len = 0;
        FUZZ_CHECK(t && topo_rpc_subject(subject, sizeof(subject), ids_shard(ORDER_ID), t->verb) == 0 &&
                           codec_pack(m, &data, &len) == 0,
                   "cannot send %s", m->descriptor->name);
        writer_memory_begin(w, 0);
        writer_memory_end(w, writer_memory_rpc(w, m->descriptor->name, subject, data, len, NULL) < 0);
        free(data);
}

static void place(Writer *w, bool coupon) {
        Food__V1__Location addr = FOOD__V1__LOCATION__INIT, pickup = FOOD__V1__LOCATION__INIT;
        Food__V1__OrderItem item = FOOD__V1__ORDER_ITEM__INIT, *items[] = {&item};
        Food__V1__Order o = FOOD__V1__ORDER__INIT;
        Food__V1__PlaceOrder p = FOOD__V1__PLACE_ORDER__INIT;

        addr.text = (char *)"Teheran-ro 1";
        addr.region = (char *)"gangnam";
        addr.lat = 37.4979;
        addr.lon = 127.0276;
        pickup.text = (char *)"Store 1";
        pickup.region = (char *)"gangnam";
        pickup.lat = 37.5;
        pickup.lon = 127.03;
        item.menu_item_id = (char *)"m_bibimbap";
        item.name = (char *)"Bibimbap";
        item.quantity = 2;
        item.unit_price = 10250;
        o.id = (char *)ORDER_ID;
        o.customer_id = (char *)"cus_1";
        o.store_id = (char *)"sto_1";
        o.status = (char *)"PAYMENT_PENDING";
        o.items = items;
        o.n_items = 1;
        o.total = 20500;
        o.address = &addr;
        o.pickup = &pickup;
        o.coupon_id = (char *)(coupon ? "cpn_1" : "");
        p.order = &o;
        p.card_token = (char *)"tok_ok";
        p.idempotency_key = (char *)"idem-1";
        p.request_hash = (char *)"sha256:00";
        request(w, &p.base);
}

static void action(Writer *w, const char *name) {
        Food__V1__OrderAction a = FOOD__V1__ORDER_ACTION__INIT;
        bool rider = strcmp(name, "pick") == 0 || strcmp(name, "delivered") == 0;
        bool customer = strcmp(name, "cancel") == 0 || strcmp(name, "confirm") == 0;
        a.order_id = (char *)ORDER_ID;
        a.action = (char *)name;
        a.actor_role = (char *)(rider ? "rider" : customer ? "customer" : "store");
        a.actor_id = (char *)(rider ? "rid_1" : customer ? "cus_1" : "owner_1");
        a.store_id = (char *)(rider || customer ? "" : "sto_1");
        request(w, &a.base);
}

static void modify(Writer *w, int64_t total) {
        Food__V1__OrderItem item = FOOD__V1__ORDER_ITEM__INIT, *items[] = {&item};
        Food__V1__ModifyOrder m = FOOD__V1__MODIFY_ORDER__INIT;
        item.menu_item_id = (char *)"m_bibimbap";
        item.name = (char *)"Bibimbap";
        item.quantity = 3;
        item.unit_price = total / 3;
        m.order_id = (char *)ORDER_ID;
        m.customer_id = (char *)"cus_1";
        m.items = items;
        m.n_items = 1;
        m.has_items = true;
        m.total = total;
        request(w, &m.base);
}

static void query(Writer *w, const char *what) {
        Food__V1__SagaQuery q = FOOD__V1__SAGA_QUERY__INIT;
        q.query = (char *)what;
        q.order_id = (char *)ORDER_ID;
        request(w, &q.base);
}

/* The workers answer all, as expected. */
static void answered(Writer *w) {
        workers_memory_answer(w, 0, 1000);
}

/* Brings saga ORDER_ID where the fuzzed answers find it; what the last step sent stays
 * unanswered (its command ids are the seeds', see fuzz-seeds.c). */
#define SCENARIOS 8
static void scenario(Writer *w, unsigned s) {
        switch (s % SCENARIOS) {
        case 0: /* PAYMENT_PENDING: authorize (command 1) */
                place(w, false);
                return;
        case 1: /* PAYMENT_PENDING: redeem_coupon (1) */
                place(w, true);
                return;
        case 7: /* REJECTED by the payment deadline, authorize (1) still unanswered: a late charge */
                place(w, false);
                writer_memory_begin(w, 120000);
                writer_memory_end(w, writer_memory_timers(w) < 0);
                return;
        default:
                break;
        }
        place(w, false);
        answered(w); /* authorize (1) -> PAID */
        if (s % SCENARIOS == 2) /* PAID: create_ticket (2) */
                return;
        answered(w); /* create_ticket (2) */
        action(w, "accept");
        answered(w); /* update_ticket (3) */
        switch (s % SCENARIOS) {
        case 3: /* ACCEPTED, a modification's extra charge: modify_charge (4) */
                modify(w, 25500);
                return;
        case 6: /* CANCELLED: withdraw_ticket (4), refund (5) */
                action(w, "cancel");
                return;
        default:
                break;
        }
        action(w, "cooking_started");
        answered(w); /* update_ticket (4) */
        action(w, "cooking_finished");
        if (s % SCENARIOS == 4) /* COOKED: update_ticket (5), open_delivery (6), issue_coupon (7) */
                return;
        answered(w);
        action(w, "pick");
        answered(w); /* assign_rider (8) */
        action(w, "delivered"); /* DELIVERED: complete_delivery (9) */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Writer *w = writer_memory_reset();
        bool open = false, failed = false;

        if (size < 1)
                return 0;
        scenario(w, data[0]);
        FUZZ_CHECK(writer_memory_saga(w, ORDER_ID), "scenario %u left no saga", data[0] % SCENARIOS);
        data++;
        size--;
        for (int n = 0; size >= 3 && n < RECORDS_MAX; n++) {
                uint8_t op = data[0];
                size_t len = (size_t)data[1] << 8 | data[2];
                if (len > size - 3)
                        len = size - 3;
                const uint8_t *payload = data + 3;
                data += 3 + len;
                size -= 3 + len;
                if ((op & 3) == 0) {
                        if (!open || !(op & 4)) {
                                if (open)
                                        writer_memory_end(w, failed);
                                writer_memory_begin(w, 0);
                                open = true;
                                failed = false;
                        }
                        if (!failed)
                                failed = writer_memory_answers(w, food__v1__reply_batch__descriptor.name, payload,
                                                               len) < 0;
                        continue;
                }
                if (open)
                        writer_memory_end(w, failed);
                open = false;
                if ((op & 3) == 1) {
                        workers_memory_answer(w, op >> 2, 1000);
                } else if ((op & 3) == 2) {
                        writer_memory_begin(w, advance_ms[op >> 2 & 3]);
                        writer_memory_end(w, writer_memory_timers(w) < 0);
                } else {
                        query(w, (op & 4) ? "redrive" : "show");
                }
        }
        if (open)
                writer_memory_end(w, failed);
        return 0;
}
