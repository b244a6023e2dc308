/* libFuzzer harness of the coupon worker: a coupon command through decode, coupon_check, and the
 * redemption rule (coupon_refusal) against coupons shaped from the command itself, and the reply
 * packed. Stops where the coupons table would be read. */
#include <string.h>

#include "coupon-handler.h"
#include "fuzz-common.h"

static const char *const types[] = {"food.v1.IssueCoupon", "food.v1.RedeemCoupon", "food.v1.ReturnCoupon"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtobufCMessage *m = FUZZ_INPUT(types, data, size);
        if (!m)
                return 0;
        int r = coupon_check(m);
        FUZZ_CHECK(r == 0 || r == WORKER_POISON, "coupon_check returned %d", r);
        if (r == 0 && m->descriptor == &food__v1__redeem_coupon__descriptor) {
                const Food__V1__RedeemCoupon *c = (const Food__V1__RedeemCoupon *)m;
                const char *order = c->corr->order_id;
                /* The coupon row as stored: its own customer and store, or another's, used or not. */
                const char *owner = (data[0] & 2) ? c->customer_id : "cus_other";
                const char *store = (data[0] & 4) ? c->store_id : "sto_other";
                const char *status = (data[0] & 8) ? "REDEEMED" : "ISSUED";
                const char *by = (data[0] & 16) ? order : "";
                const char *why = coupon_refusal(owner, store, status, by, data[0] & 32, c->customer_id,
                                                 c->store_id, order);
                FUZZ_CHECK(why || (strcmp(owner, c->customer_id) == 0 && strcmp(store, c->store_id) == 0),
                           "redeemed another customer's or store's coupon");
                if (why) {
                        Food__V1__CouponRejected rep = FOOD__V1__COUPON_REJECTED__INIT;
                        rep.corr = c->corr;
                        rep.coupon_id = c->coupon_id;
                        rep.reason = (char *)why;
                        fuzz_repack(&rep.base);
                } else {
                        Food__V1__CouponRedeemed rep = FOOD__V1__COUPON_REDEEMED__INIT;
                        rep.corr = c->corr;
                        rep.coupon_id = c->coupon_id;
                        rep.discount = 1000;
                        fuzz_repack(&rep.base);
                }
        } else if (r == 0 && m->descriptor == &food__v1__issue_coupon__descriptor) {
                const Food__V1__IssueCoupon *c = (const Food__V1__IssueCoupon *)m;
                FUZZ_CHECK(c->discount > 0 && *c->coupon_id, "issued an impossible coupon");
                Food__V1__CouponIssued rep = FOOD__V1__COUPON_ISSUED__INIT;
                rep.corr = c->corr;
                rep.coupon_id = c->coupon_id;
                rep.customer_id = c->customer_id;
                fuzz_repack(&rep.base);
        }
        codec_free(m);
        return 0;
}
