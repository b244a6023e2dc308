/* Unit test of the payment provider answer parsing: every status class and malformed bodies. */
#include <stdio.h>
#include <string.h>

#include "payment-provider.h"
#include "test-check.h"

static const char *outcome_name(PaymentOutcome o) {
        switch (o) {
        case PAYMENT_OK:
                return "OK";
        case PAYMENT_DECLINED:
                return "DECLINED";
        default:
                return "FAILED";
        }
}

typedef struct {
        const char *what;
        bool refund;
        long status;
        const char *body;
        PaymentOutcome outcome;
        bool retryable;
        const char *id;
        long long amount;
        const char *reason_has; /* substring of the reason, or NULL */
} Case;

static const Case cases[] = {
        {"approved charge", false, 201, "{\"id\":\"ch_1\",\"status\":\"approved\",\"amount\":15000}", PAYMENT_OK,
         false, "ch_1", 15000, NULL},
        {"approved charge with 200", false, 200, "{\"id\":\"ch_2\",\"status\":\"approved\",\"amount\":0}", PAYMENT_OK,
         false, "ch_2", 0, NULL},
        {"declined charge", false, 402, "{\"id\":\"ch_3\",\"status\":\"declined\",\"reason\":\"card declined\"}",
         PAYMENT_DECLINED, false, "ch_3", 0, "card declined"},
        {"declined charge, bare body", false, 402, "{\"status\":\"declined\"}", PAYMENT_DECLINED, false, "", 0,
         "declined"},
        {"declined charge, no body", false, 402, NULL, PAYMENT_DECLINED, false, "", 0, "402"},
        {"declined inside a 200", false, 200, "{\"id\":\"ch_4\",\"status\":\"declined\"}", PAYMENT_DECLINED, false,
         "ch_4", 0, NULL},
        {"provider failing", false, 503, "{\"error\":\"sandbox failure injected\"}", PAYMENT_FAILED, true, "", 0,
         "sandbox failure injected"},
        {"provider 500 html", false, 500, "<html>oops</html>", PAYMENT_FAILED, true, "", 0, "500"},
        {"rate limited", false, 429, "", PAYMENT_FAILED, true, "", 0, "429"},
        {"request timeout", false, 408, "", PAYMENT_FAILED, true, "", 0, NULL},
        {"key reused", false, 422, "{\"error\":\"idempotency_key was already used\"}", PAYMENT_FAILED, false, "", 0,
         "already used"},
        {"bad request", false, 400, "{\"message\":\"amount must be an integer\"}", PAYMENT_FAILED, false, "", 0,
         "amount must be"},
        {"2xx without id", false, 201, "{\"status\":\"approved\",\"amount\":100}", PAYMENT_FAILED, true, "", 0,
         "unreadable"},
        {"2xx with string amount", false, 201, "{\"id\":\"ch_5\",\"status\":\"approved\",\"amount\":\"100\"}",
         PAYMENT_FAILED, true, "", 0, "unreadable"},
        {"2xx negative amount", false, 201, "{\"id\":\"ch_6\",\"status\":\"approved\",\"amount\":-5}", PAYMENT_FAILED,
         true, "", 0, NULL},
        {"2xx not json", false, 201, "approved", PAYMENT_FAILED, true, "", 0, "unreadable"},
        {"2xx json array", false, 201, "[1,2]", PAYMENT_FAILED, true, "", 0, NULL},
        {"2xx oversized id", false, 201,
         "{\"id\":\"ch_0123456789012345678901234567890123456789012345678901234567890123456789\","
         "\"status\":\"approved\",\"amount\":1}",
         PAYMENT_FAILED, true, "", 0, NULL},
        {"refund done", true, 201, "{\"id\":\"rf_1\",\"status\":\"refunded\",\"charge_id\":\"ch_1\",\"amount\":15000}",
         PAYMENT_OK, false, "rf_1", 15000, NULL},
        {"refund answered 'approved'", true, 201, "{\"id\":\"rf_2\",\"status\":\"approved\",\"amount\":1}",
         PAYMENT_FAILED, true, "", 0, NULL},
        {"refund over the charge", true, 409, "{\"error\":\"refund exceeds the charged amount\"}", PAYMENT_FAILED,
         false, "", 0, "exceeds"},
        {"refund unknown charge", true, 404, "{\"error\":\"no such charge\"}", PAYMENT_FAILED, false, "", 0,
         "no such charge"},
        {"refund 402 is not a decline", true, 402, "{\"status\":\"declined\"}", PAYMENT_FAILED, false, "", 0, NULL},
        {"refund provider down", true, 503, "", PAYMENT_FAILED, true, "", 0, NULL},
};

static void test_cases(void) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const Case *c = &cases[i];
                PaymentResult res;
                size_t len = c->body ? strlen(c->body) : 0;
                if (c->refund)
                        payment_parse_refund(c->status, c->body, len, &res);
                else
                        payment_parse_charge(c->status, c->body, len, &res);
                CHECK(res.outcome == c->outcome, "%s: expected outcome %s, got %s", c->what, outcome_name(c->outcome),
                      outcome_name(res.outcome));
                CHECK(res.retryable == c->retryable, "%s: expected retryable %d, got %d", c->what, c->retryable,
                      res.retryable);
                CHECK(strcmp(res.id, c->id) == 0, "%s: expected id \"%s\", got \"%s\"", c->what, c->id, res.id);
                CHECK(res.amount == c->amount, "%s: expected amount %lld, got %lld", c->what, c->amount,
                      (long long)res.amount);
                CHECK(!c->reason_has || strstr(res.reason, c->reason_has), "%s: expected reason containing \"%s\", got \"%s\"",
                      c->what, c->reason_has, res.reason);
                CHECK(res.outcome == PAYMENT_OK || res.reason[0], "%s: expected a reason for a non-OK outcome",
                      c->what);
        }
}

static void test_body_not_terminated(void) {
        /* The body is a length-delimited buffer: bytes after len must not be read. */
        const char buf[] = "{\"id\":\"ch_9\",\"status\":\"approved\",\"amount\":7}GARBAGE";
        PaymentResult res;
        payment_parse_charge(201, buf, strlen(buf) - strlen("GARBAGE"), &res);
        CHECK(res.outcome == PAYMENT_OK && res.amount == 7, "length-delimited body: expected OK 7, got %s %lld",
              outcome_name(res.outcome), (long long)res.amount);
}

static void test_unreachable(void) {
        PaymentResult res;
        payment_result_unreachable("Timeout was reached", &res);
        CHECK(res.outcome == PAYMENT_FAILED && res.retryable, "unreachable: expected FAILED retryable, got %s %d",
              outcome_name(res.outcome), res.retryable);
        CHECK(strstr(res.reason, "Timeout was reached") != NULL, "unreachable: expected the cause in the reason, got %s",
              res.reason);
        payment_result_unreachable(NULL, &res);
        CHECK(res.reason[0] != 0, "unreachable without a cause: expected a reason");
}

int main(void) {
        test_cases();
        test_body_not_terminated();
        test_unreachable();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
