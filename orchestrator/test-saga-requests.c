/* Unit test of the RPC requests' pure checks: what a place request may carry, who may act. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "saga-requests.h"
#include "test-check.h"

int main(void) {
        Food__V1__OrderItem item = FOOD__V1__ORDER_ITEM__INIT, *items[] = {&item};
        Food__V1__Order o = FOOD__V1__ORDER__INIT;
        Food__V1__PlaceOrder p = FOOD__V1__PLACE_ORDER__INIT;
        Food__V1__Charge ch = FOOD__V1__CHARGE__INIT, *charges[] = {&ch};
        char id[80];

        item.menu_item_id = "m1";
        item.quantity = 2;
        item.unit_price = 5000;
        o.id = "ord_01a2425bed9673a23746ee43";
        o.customer_id = "cus_1";
        o.store_id = "st_1";
        o.items = items;
        o.n_items = 1;
        o.total = 10000;
        p.order = &o;
        p.card_token = "tok_ok";
        CHECK(rpc_place_invalid(&p) == NULL, "a plain order is placed: %s", rpc_place_invalid(&p));

        /* One card token limit end to end (lib/ids.h): refused, never cut to what a saga row holds. */
        char token[IDS_CARD_TOKEN_MAX + 2];
        memset(token, 't', sizeof(token));
        token[IDS_CARD_TOKEN_MAX] = 0;
        p.card_token = token;
        CHECK(rpc_place_invalid(&p) == NULL, "a card token of %d characters is placed", IDS_CARD_TOKEN_MAX);
        token[IDS_CARD_TOKEN_MAX] = 't';
        token[IDS_CARD_TOKEN_MAX + 1] = 0;
        CHECK(rpc_place_invalid(&p) != NULL, "a card token longer than a saga row holds is refused");
        const char *bad_tokens[] = {"", "tok ok", "tok\n", "\xed\x86\xa0\xed\x81\xb0"};
        for (size_t i = 0; i < sizeof(bad_tokens) / sizeof(bad_tokens[0]); i++) {
                p.card_token = (char *)bad_tokens[i];
                CHECK(rpc_place_invalid(&p) != NULL, "card token %zu is refused", i);
        }
        p.card_token = "tok_ok";

        /* Ids name a saga row, a status subject and a PostgreSQL row: a safe token that fits. */
        memset(id, 'a', sizeof(id));
        id[RPC_ORDER_ID_MAX] = 0;
        o.id = id;
        CHECK(rpc_place_invalid(&p) == NULL, "an id of %d characters is placed", RPC_ORDER_ID_MAX);
        id[RPC_ORDER_ID_MAX] = 'a';
        id[RPC_ORDER_ID_MAX + 1] = 0;
        CHECK(rpc_place_invalid(&p) != NULL, "an id longer than a saga row holds is refused");
        const char *unsafe[] = {"ord.1", "ord*", "ord>", "ord 1", "", "ord\n"};
        for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
                o.id = (char *)unsafe[i];
                CHECK(rpc_place_invalid(&p) != NULL, "id '%s' is refused", unsafe[i]);
        }
        o.id = "ord_01a2425bed9673a23746ee43";

        /* What was paid is the saga's to record: a request that carries charges is refused. */
        ch.payment_id = "forged";
        ch.amount = INT64_MAX;
        ch.refunded = -5;
        o.charges = charges;
        o.n_charges = 1;
        CHECK(rpc_place_invalid(&p) != NULL, "an order that carries charges is refused");
        o.n_charges = 0;
        o.amount_paid = 1;
        CHECK(rpc_place_invalid(&p) != NULL, "an order already paid is refused");
        o.amount_paid = 0;
        item.quantity = 0;
        CHECK(rpc_place_invalid(&p) != NULL, "a quantity of 0 is refused");
        item.quantity = 1;
        o.discount = 20000;
        CHECK(rpc_place_invalid(&p) != NULL, "a discount above the total is refused");
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
