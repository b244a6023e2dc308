/* The pure checks of the orchestrator's RPC requests (saga-rpc.c): which
 * action a request names, whether its actor may act on the order, whether a
 * priced order is plausible. No I/O, so the fuzz harness runs them too. */
#pragma once
#include <stdbool.h>

#include "food.pb-c.h"
#include "saga-machine.h"

typedef struct {
        const char *name;
        SagaInput input;
        const char *role; /* who may ask */
} RpcActionDef;

/* The action called `name` (OrderAction.action), or NULL. */
const RpcActionDef *rpc_action_find(const char *name);
/* Whether the actor may act on `order` at all; not -> 404 (no BOLA). */
bool rpc_actor_owns(const Food__V1__OrderAction *a, const RpcActionDef *def, const Food__V1__Order *order);
#define RPC_ORDER_ID_MAX 63 /* SagaRow.order_id holds one more byte */
/* Why a priced order from the gateway cannot be placed, or NULL when it is
 * plausible: ids present (the order's a safe token), every quantity >= 1, no
 * negative price or amount, nothing paid yet. */
const char *rpc_place_invalid(const Food__V1__PlaceOrder *p);
