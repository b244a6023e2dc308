/* libFuzzer harness of the coupon worker: a message on food.cmd.coupon (the rest of the input)
 * through the worker loop's decode (fuzz_command_batch), then each command as coupon_handle takes
 * it: coupon_check, the redemption rule (coupon_refusal) against the coupon row the first byte
 * shapes from the command itself, and the answer. Stops where the coupons table would be read. */
#include <string.h>

#include "coupon-handler.h"
#include "fuzz-common.h"

static void redeem(uint8_t flags, const Food__V1__RedeemCoupon *c) {
        const char *order = c->corr->order_id;
        /* The coupon row as stored: its own customer and store, or another's, used or not. */
        const char *owner = (flags & 1) ? c->customer_id : "cus_other";
        const char *store = (flags & 2) ? c->store_id : "sto_other";
        const char *status = (flags & 4) ? "REDEEMED" : "ISSUED";
        const char *by = (flags & 8) ? order : "";
        int returned = flags & 32; /* already given back for this order */
        const char *why = coupon_refusal(owner, store, status, by, flags & 16, returned, c->customer_id, c->store_id,
                                         order);
        FUZZ_CHECK(why || (strcmp(owner, c->customer_id) == 0 && strcmp(store, c->store_id) == 0),
                   "redeemed another customer's or store's coupon");
        FUZZ_CHECK(why || strcmp(status, "REDEEMED") != 0 || strcmp(by, order) == 0,
                   "a coupon redeemed by another order redeemed again");
        FUZZ_CHECK(why || !returned, "a coupon given back for this order taken again");
        if (why) {
                Food__V1__CouponRejected rep = FOOD__V1__COUPON_REJECTED__INIT;
                rep.corr = c->corr;
                rep.coupon_id = c->coupon_id;
                rep.reason = (char *)why;
                fuzz_answer(&rep.base);
        } else {
                Food__V1__CouponRedeemed rep = FOOD__V1__COUPON_REDEEMED__INIT;
                rep.corr = c->corr;
                rep.coupon_id = c->coupon_id;
                rep.discount = 1000;
                fuzz_answer(&rep.base);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_quiet();
        if (size < 1)
                return 0;
        Food__V1__CommandBatch *b = fuzz_command_batch("coupon", data + 1, size - 1);
        if (!b)
                return 0;
        for (size_t i = 0; i < b->n_commands; i++) {
                const ProtobufCMessage *m = codec_command_message(b->commands[i]);
                int r = coupon_check(m);
                FUZZ_CHECK(r == 0 || r == WORKER_POISON, "coupon_check returned %d", r);
                if (r != 0)
                        continue;
                if (m->descriptor == &food__v1__redeem_coupon__descriptor) {
                        const Food__V1__RedeemCoupon *c = (const Food__V1__RedeemCoupon *)m;
                        FUZZ_CHECK(c->corr && *c->corr->order_id && *c->coupon_id, "accepted an impossible redemption");
                        redeem(data[0], c);
                } else if (m->descriptor == &food__v1__issue_coupon__descriptor) {
                        const Food__V1__IssueCoupon *c = (const Food__V1__IssueCoupon *)m;
                        FUZZ_CHECK(c->discount > 0 && *c->coupon_id && *c->customer_id && *c->store_id,
                                   "issued an impossible coupon");
                        /* Only a saga's coupon is answered; a store owner's has no order. */
                        if (c->corr && *c->corr->order_id) {
                                Food__V1__CouponIssued rep = FOOD__V1__COUPON_ISSUED__INIT;
                                rep.corr = c->corr;
                                rep.coupon_id = c->coupon_id;
                                rep.customer_id = c->customer_id;
                                fuzz_answer(&rep.base);
                        }
                } else {
                        FUZZ_CHECK(m->descriptor == &food__v1__return_coupon__descriptor, "%s in a coupon batch",
                                   m->descriptor->name);
                        const Food__V1__ReturnCoupon *c = (const Food__V1__ReturnCoupon *)m;
                        FUZZ_CHECK(c->corr && *c->corr->order_id && *c->coupon_id, "accepted an impossible return");
                        Food__V1__CouponReturned rep = FOOD__V1__COUPON_RETURNED__INIT;
                        rep.corr = c->corr;
                        rep.coupon_id = c->coupon_id;
                        fuzz_answer(&rep.base);
                }
        }
        codec_free(&b->base);
        return 0;
}
