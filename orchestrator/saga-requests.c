/* The pure checks of the orchestrator's RPC requests (see saga-requests.h). */
#include "saga-requests.h"

#include <string.h>

#include "ids.h"

static const RpcActionDef actions[] = {
        {"accept", SAGA_IN_ACCEPT, "store"},
        {"refuse", SAGA_IN_REFUSE, "store"},
        {"cooking_started", SAGA_IN_COOKING_STARTED, "store"},
        {"cooking_finished", SAGA_IN_COOKING_FINISHED, "store"},
        {"pick", SAGA_IN_PICK, "rider"},
        {"delivered", SAGA_IN_DELIVERED, "rider"},
        {"confirm", SAGA_IN_CONFIRM, "customer"},
        {"cancel", SAGA_IN_CANCEL, "customer"},
};

const RpcActionDef *rpc_action_find(const char *name) {
        for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
                if (strcmp(actions[i].name, name) == 0)
                        return &actions[i];
        return NULL;
}

bool rpc_actor_owns(const Food__V1__OrderAction *a, const RpcActionDef *def, const Food__V1__Order *order) {
        if (strcmp(a->actor_role, "admin") == 0)
                return true;
        if (strcmp(a->actor_role, def->role) != 0)
                return false;
        if (strcmp(def->role, "store") == 0)
                return strcmp(a->store_id, order->store_id) == 0;
        if (strcmp(def->role, "customer") == 0)
                return strcmp(a->actor_id, order->customer_id) == 0;
        return true; /* riders: any rider may pick an open delivery */
}

/* An order id names a saga, a status subject and a row: 1 to RPC_ORDER_ID_MAX characters of
 * [A-Za-z0-9_-] (the gateway's are ord_ + 24 hex). */
static bool order_id_ok(const char *id) {
        size_t n = strlen(id);
        return n > 0 && n <= RPC_ORDER_ID_MAX &&
               strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

const char *rpc_place_invalid(const Food__V1__PlaceOrder *p) {
        const Food__V1__Order *o = p->order;
        if (!o || !*o->id || !*o->customer_id || !*o->store_id || o->n_items == 0)
                return "incomplete order";
        if (!order_id_ok(o->id))
                return "impossible order id";
        /* What was paid is the saga's to record, never the request's. */
        if (o->total < 0 || o->discount < 0 || o->discount > o->total || o->amount_paid != 0 ||
            o->amount_refunded != 0 || o->n_charges != 0)
                return "impossible amounts";
        for (size_t i = 0; i < o->n_items; i++)
                if (!o->items[i] || !*o->items[i]->menu_item_id || o->items[i]->quantity < 1 ||
                    o->items[i]->unit_price < 0)
                        return "impossible item";
        if (!ids_card_token_valid(p->card_token))
                return "card token empty, over 128 characters or not printable ASCII";
        return NULL;
}
