/* Unit test of the sandbox ledger: approvals, declines, idempotency keys, refund ceilings, config. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "psp-ledger.h"
#include "test-check.h"

static void test_charges(PspLedger *l) {
        PspChargeResult a, b, d;
        int r;

        r = psp_ledger_charge(l, "k1", 15000, "tok_ok", &a);
        CHECK(r == 0 && a.approved, "tok_ok: expected approved, got r=%d approved=%d", r, a.approved);
        CHECK(strncmp(a.id, "ch_", 3) == 0, "charge id: expected ch_ prefix, got %s", a.id);
        CHECK(a.amount == 15000, "amount: expected 15000, got %lld", (long long)a.amount);

        r = psp_ledger_charge(l, "k1", 15000, "tok_ok", &b);
        CHECK(r == 0 && strcmp(a.id, b.id) == 0, "repeated key: expected the same charge %s, got r=%d id=%s", a.id, r,
              b.id);

        r = psp_ledger_charge(l, "k1", 16000, "tok_ok", &b);
        CHECK(r == PSP_MISMATCH, "key reused with another amount: expected PSP_MISMATCH, got %d", r);

        r = psp_ledger_charge(l, "k2", 5000, "tok_declined", &d);
        CHECK(r == 0 && !d.approved, "tok_declined: expected declined, got r=%d approved=%d", r, d.approved);
        r = psp_ledger_charge(l, "k3", 5000, "tok_unknown", &b);
        CHECK(r == 0 && !b.approved, "unknown token: expected declined, got r=%d approved=%d", r, b.approved);
        r = psp_ledger_charge(l, "k2", 5000, "tok_declined", &b);
        CHECK(r == 0 && !b.approved && strcmp(b.id, d.id) == 0,
              "repeated declined key: expected the same decline %s, got r=%d id=%s", d.id, r, b.id);

        r = psp_ledger_charge(l, "", 100, "tok_ok", &b);
        CHECK(r == -EINVAL, "empty key: expected -EINVAL, got %d", r);
        r = psp_ledger_charge(l, "k4", -1, "tok_ok", &b);
        CHECK(r == -EINVAL, "negative amount: expected -EINVAL, got %d", r);
}

static void test_refunds(PspLedger *l) {
        PspChargeResult c, d;
        PspRefundResult f1, f2;
        int r;

        (void)psp_ledger_charge(l, "rk-charge", 10000, "tok_ok", &c);
        (void)psp_ledger_charge(l, "rk-declined", 10000, "tok_declined", &d);

        r = psp_ledger_refund(l, "rf1", c.id, 4000, &f1);
        CHECK(r == 0 && strncmp(f1.id, "rf_", 3) == 0 && f1.amount == 4000,
              "partial refund: expected 0 rf_ 4000, got %d %s %lld", r, f1.id, (long long)f1.amount);
        r = psp_ledger_refund(l, "rf1", c.id, 4000, &f2);
        CHECK(r == 0 && strcmp(f1.id, f2.id) == 0, "repeated refund key: expected %s again, got %d %s", f1.id, r,
              f2.id);
        r = psp_ledger_refund(l, "rf2", c.id, 6001, &f2);
        CHECK(r == PSP_OVER_REFUND, "over refund (6001 of 6000 left): expected PSP_OVER_REFUND, got %d", r);
        r = psp_ledger_refund(l, "rf2", c.id, 6000, &f2);
        CHECK(r == 0, "refund of the rest: expected 0, got %d", r);
        r = psp_ledger_refund(l, "rf3", c.id, 1, &f2);
        CHECK(r == PSP_OVER_REFUND, "refund of a fully refunded charge: expected PSP_OVER_REFUND, got %d", r);
        r = psp_ledger_refund(l, "rf1", c.id, 3000, &f2);
        CHECK(r == PSP_MISMATCH, "refund key reused with another amount: expected PSP_MISMATCH, got %d", r);
        r = psp_ledger_refund(l, "rf4", "ch_nope", 10, &f2);
        CHECK(r == PSP_NO_CHARGE, "unknown charge: expected PSP_NO_CHARGE, got %d", r);
        r = psp_ledger_refund(l, "rf5", d.id, 10, &f2);
        CHECK(r == PSP_NOT_REFUNDABLE, "declined charge: expected PSP_NOT_REFUNDABLE, got %d", r);
        r = psp_ledger_refund(l, "rf6", c.id, 0, &f2);
        CHECK(r == -EINVAL, "zero refund: expected -EINVAL, got %d", r);
}

static void test_dump(PspLedger *l) {
        json_t *doc = psp_ledger_dump(l);
        json_t *charges = json_object_get(doc, "charges"), *refunds = json_object_get(doc, "refunds");
        CHECK(json_array_size(charges) == 5, "ledger charges: expected 5, got %zu", json_array_size(charges));
        CHECK(json_array_size(refunds) == 2, "ledger refunds: expected 2, got %zu", json_array_size(refunds));
        json_t *first = json_array_get(charges, 0);
        CHECK(json_is_string(json_object_get(first, "idempotency_key")) &&
                      json_is_integer(json_object_get(first, "refunded")) &&
                      json_is_string(json_object_get(first, "status")),
              "ledger charge entry: expected idempotency_key, refunded and status fields");
        json_decref(doc);
}

static void test_config(PspLedger *l) {
        PspConfig c = {250, 0.5}, got;
        int r = psp_ledger_set_config(l, &c);
        psp_ledger_get_config(l, &got);
        CHECK(r == 0 && got.latency_ms == 250 && got.failure_rate == 0.5,
              "config: expected 250/0.5, got r=%d %lld/%f", r, (long long)got.latency_ms, got.failure_rate);
        PspConfig bad = {10, 1.5};
        r = psp_ledger_set_config(l, &bad);
        psp_ledger_get_config(l, &got);
        CHECK(r == -EINVAL && got.failure_rate == 0.5, "failure_rate 1.5: expected -EINVAL and no change, got %d %f",
              r, got.failure_rate);
        PspConfig always = {0, 1.0}, never = {0, 0.0};
        int fails = 0;
        psp_ledger_set_config(l, &always);
        for (int i = 0; i < 100; i++)
                fails += psp_ledger_should_fail(l);
        CHECK(fails == 100, "failure_rate 1: expected 100 failures of 100, got %d", fails);
        psp_ledger_set_config(l, &never);
        fails = 0;
        for (int i = 0; i < 100; i++)
                fails += psp_ledger_should_fail(l);
        CHECK(fails == 0, "failure_rate 0: expected 0 failures of 100, got %d", fails);
}

static void test_ceiling(void) {
        PspLedger *l = NULL;
        PspChargeResult c;
        int r = psp_ledger_new(&l, 2);
        CHECK(r == 0, "new: expected 0, got %d", r);
        if (r < 0)
                return;
        (void)psp_ledger_charge(l, "a", 1, "tok_ok", &c);
        (void)psp_ledger_charge(l, "b", 1, "tok_ok", &c);
        r = psp_ledger_charge(l, "c", 1, "tok_ok", &c);
        CHECK(r == PSP_FULL, "third charge in a ledger of 2: expected PSP_FULL, got %d", r);
        r = psp_ledger_charge(l, "a", 1, "tok_ok", &c);
        CHECK(r == 0, "replay in a full ledger: expected 0, got %d", r);
        psp_ledger_free(l);
}

static void test_many(void) {
        PspLedger *l = NULL;
        PspChargeResult c;
        char key[32];
        int bad = 0;
        if (psp_ledger_new(&l, 100000) < 0)
                return;
        for (int i = 0; i < 5000; i++) {
                snprintf(key, sizeof(key), "key-%d", i);
                if (psp_ledger_charge(l, key, i, "tok_ok", &c) != 0 || c.amount != i)
                        bad++;
        }
        for (int i = 0; i < 5000; i++) {
                snprintf(key, sizeof(key), "key-%d", i);
                if (psp_ledger_charge(l, key, i, "tok_ok", &c) != 0 || c.amount != i)
                        bad++;
        }
        CHECK(bad == 0, "5000 keys charged and replayed: expected 0 bad answers, got %d", bad);
        psp_ledger_free(l);
}

int main(void) {
        PspLedger *l = NULL;
        if (psp_ledger_new(&l, 1000) < 0) {
                printf("FAIL: cannot create a ledger\n");
                return 1;
        }
        test_charges(l);
        test_refunds(l);
        test_dump(l);
        test_config(l);
        psp_ledger_free(l);
        test_ceiling();
        test_many();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
