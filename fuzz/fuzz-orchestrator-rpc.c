/* libFuzzer harness of the orchestrator's RPC lanes (saga-rpc.c): bytes as the request a lane takes
 * off food.rpc.> (the first byte picks the Food-Type: PlaceOrder, OrderAction, ModifyOrder,
 * SagaQuery), decoded and matched to its subject as rpc_dispatch does, then the lane's own checks:
 * a place request's plausibility, an action's name, who may act on the order and what the saga
 * machine decides for it in every state. PostgreSQL would come next. */
#include <string.h>

#include "fuzz-common.h"
#include "saga-requests.h"
#include "worker.h"

static const char *const types[] = {"food.v1.PlaceOrder", "food.v1.OrderAction", "food.v1.ModifyOrder",
                                    "food.v1.SagaQuery"};

static void place(const Food__V1__PlaceOrder *p) {
        const char *why = rpc_place_invalid(p);
        if (why)
                return;
        /* What the engine then starts a saga with: present, priced, nothing paid yet. */
        const Food__V1__Order *o = p->order;
        FUZZ_CHECK(o && *o->id && *o->customer_id && *o->store_id && o->n_items > 0, "incomplete order accepted");
        FUZZ_CHECK(o->total >= 0 && o->discount >= 0 && o->discount <= o->total, "amounts %lld - %lld",
                   (long long)o->total, (long long)o->discount);
        FUZZ_CHECK(o->amount_paid == 0 && o->amount_refunded == 0, "an order arrives already paid");
        for (size_t i = 0; i < o->n_items; i++)
                FUZZ_CHECK(o->items[i]->quantity >= 1 && o->items[i]->unit_price >= 0, "item %zu accepted", i);
}

static void action(const Food__V1__OrderAction *a, uint8_t flags) {
        const RpcActionDef *def = rpc_action_find(a->action);
        if (!def)
                return;
        FUZZ_CHECK(strcmp(def->name, a->action) == 0, "%s found for %s", def->name, a->action);
        /* The order as stored: the actor's own, or somebody else's. */
        Food__V1__Order o = FOOD__V1__ORDER__INIT;
        o.id = a->order_id;
        o.customer_id = (flags & 1) ? a->actor_id : "cus_other";
        o.store_id = (flags & 2) ? a->store_id : "sto_other";
        bool owns = rpc_actor_owns(a, def, &o);
        if (owns && strcmp(a->actor_role, "admin") != 0) {
                FUZZ_CHECK(strcmp(a->actor_role, def->role) == 0, "%s may %s", a->actor_role, def->name);
                if (strcmp(def->role, "customer") == 0)
                        FUZZ_CHECK(strcmp(a->actor_id, o.customer_id) == 0, "a customer acts on another's order");
                if (strcmp(def->role, "store") == 0)
                        FUZZ_CHECK(strcmp(a->store_id, o.store_id) == 0, "a store acts on another's order");
        }
        for (int s = 0; s < SAGA_STATE_COUNT; s++) {
                SagaDecision d;
                if (saga_decide((SagaState)s, def->input, &d) == 0)
                        FUZZ_CHECK((int)d.next >= 0 && (int)d.next < SAGA_STATE_COUNT, "%s -> state %d",
                                   saga_state_name((SagaState)s), (int)d.next);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtobufCMessage *m = FUZZ_INPUT(types, data, size);
        if (!m)
                return 0;
        const CodecType *t = codec_type_by_desc(m->descriptor);
        FUZZ_CHECK(t && t->subject, "no subject for %s", m->descriptor->name);
        (void)worker_subject_fits(m, t->subject);
        if (m->descriptor == &food__v1__place_order__descriptor)
                place((const Food__V1__PlaceOrder *)m);
        else if (m->descriptor == &food__v1__order_action__descriptor)
                action((const Food__V1__OrderAction *)m, data[0] >> 2);
        codec_free(m);
        return 0;
}
