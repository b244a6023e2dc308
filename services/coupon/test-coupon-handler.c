/* Unit test of the redemption rule: same customer, same store, once, unexpired. */
#include <stdio.h>
#include <string.h>

#include "coupon-handler.h"
#include "test-check.h"

static void expect(const char *what, const char *got, const char *want) {
        bool ok = want ? (got && strcmp(got, want) == 0) : got == NULL;
        CHECK(ok, "%s: expected %s, got %s", what, want ? want : "(allowed)", got ? got : "(allowed)");
}

int main(void) {
        expect("fresh coupon", coupon_refusal("c1", "s1", "ISSUED", "", 0, 0, "c1", "s1", "o1"), NULL);
        expect("another customer", coupon_refusal("c1", "s1", "ISSUED", "", 0, 0, "c2", "s1", "o1"),
               "this coupon belongs to another customer");
        expect("another store", coupon_refusal("c1", "s1", "ISSUED", "", 0, 0, "c1", "s2", "o1"),
               "this coupon is for another store");
        expect("used by another order", coupon_refusal("c1", "s1", "REDEEMED", "o0", 0, 0, "c1", "s1", "o1"),
               "this coupon was already used");
        expect("re-sent redemption of the same order", coupon_refusal("c1", "s1", "REDEEMED", "o1", 0, 0, "c1", "s1", "o1"),
               NULL);
        expect("redemption arriving after the order gave the coupon back",
               coupon_refusal("c1", "s1", "ISSUED", "", 0, 1, "c1", "s1", "o1"), "this coupon was given back for this order");
        expect("redeemed again after its return",
               coupon_refusal("c1", "s1", "REDEEMED", "o1", 0, 1, "c1", "s1", "o1"), "this coupon was given back for this order");
        expect("expired", coupon_refusal("c1", "s1", "ISSUED", "", 1, 0, "c1", "s1", "o1"), "this coupon has expired");
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
