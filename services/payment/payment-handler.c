/* Payment commands: provider calls (behind the circuit breaker) and the answers to the orchestrator. */
#include "payment-handler.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "food.pb-c.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"

#define KEY_MAX 200 /* longest idempotency key passed to the provider */

struct PaymentHandler {
        PaymentProvider *provider;
        Metric *approved, *declined, *failed, *refunded, *refund_failed, *refund_retry;
        pthread_mutex_t breaker_lock;
        Breaker breaker;
        Metric *breaker_state, *breaker_refused, *breaker_opened;
};

int payment_handler_new(PaymentHandler **ret, PaymentProvider *provider, const BreakerConfig *breaker) {
        PaymentHandler *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->provider = provider;
        pthread_mutex_init(&h->breaker_lock, NULL);
        breaker_init(&h->breaker, breaker);
        h->breaker_state = metrics_gauge("food_payment_breaker_state",
                                         "Payment provider circuit breaker: 0 closed, 1 open, 2 half-open");
        h->breaker_refused = metrics_counter("food_payment_breaker_refused_total",
                                             "Charges refused at once because the breaker was open");
        h->breaker_opened = metrics_counter("food_payment_breaker_opened_total", "Times the breaker opened");
        h->approved = metrics_counter("food_payment_charges_total{outcome=\"approved\"}",
                                      "Authorizations by outcome");
        h->declined = metrics_counter("food_payment_charges_total{outcome=\"declined\"}", "");
        h->failed = metrics_counter("food_payment_charges_total{outcome=\"failed\"}", "");
        h->refunded = metrics_counter("food_payment_refunds_total{outcome=\"refunded\"}", "Refunds by outcome");
        h->refund_failed = metrics_counter("food_payment_refunds_total{outcome=\"failed\"}", "");
        h->refund_retry = metrics_counter("food_payment_refunds_total{outcome=\"retry\"}", "");
        *ret = h;
        return 0;
}

void payment_handler_free(PaymentHandler *h) {
        if (h)
                pthread_mutex_destroy(&h->breaker_lock);
        free(h);
}

/* Asks the breaker whether a charge may go to the provider; when not, *retry_s
 * says when to try again. */
static bool breaker_pass(PaymentHandler *h, int *retry_s) {
        pthread_mutex_lock(&h->breaker_lock);
        int64_t now = ids_now_ms();
        BreakerState before = h->breaker.state;
        bool ok = breaker_allow(&h->breaker, now);
        int64_t wait = breaker_retry_after_ms(&h->breaker, now);
        BreakerState after = h->breaker.state;
        pthread_mutex_unlock(&h->breaker_lock);
        if (after != before) {
                metric_set(h->breaker_state, after);
                log_info("payment breaker %s -> %s (probing the provider)", breaker_state_name(before),
                         breaker_state_name(after));
        }
        *retry_s = (int)((wait + 999) / 1000);
        if (*retry_s < 1)
                *retry_s = 1;
        return ok;
}

/* Feeds a charge's outcome to the breaker; logs and counts its transitions. */
static void breaker_note(PaymentHandler *h, bool failed, int64_t latency_ms) {
        pthread_mutex_lock(&h->breaker_lock);
        BreakerState before = h->breaker.state;
        BreakerState after = breaker_record(&h->breaker, failed, latency_ms, ids_now_ms());
        pthread_mutex_unlock(&h->breaker_lock);
        if (after == before)
                return;
        metric_set(h->breaker_state, after);
        if (after == BREAKER_OPEN)
                metric_add(h->breaker_opened, 1);
        log_emit(after == BREAKER_OPEN ? LOG_WARN : LOG_INFO, "payment breaker %s -> %s (last charge %s, %" PRId64 " ms)",
                 breaker_state_name(before), breaker_state_name(after), failed ? "failed" : "answered", latency_ms);
}

/* Printable, bounded and non-empty: safe as a provider key and an HTTP header value. */
static bool key_valid(const char *k) {
        size_t n = 0;
        if (!k)
                return false;
        for (; k[n]; n++)
                if ((unsigned char)k[n] < 0x21 || k[n] == 0x7f || n >= KEY_MAX)
                        return false;
        return n > 0;
}

/* The command's correlation, when it names an order. */
static const Food__V1__Correlation *corr_of(const ProtobufCMessage *msg) {
        const Food__V1__Correlation *c = codec_correlation(msg);
        return c && c->order_id && *c->order_id ? c : NULL;
}

int payment_check(const ProtobufCMessage *msg, const char **why) {
        const char *dummy;
        if (!why)
                why = &dummy;
        *why = NULL;
        if (msg->descriptor == &food__v1__authorize_payment__descriptor) {
                const Food__V1__AuthorizePayment *m = (const Food__V1__AuthorizePayment *)msg;
                if (!corr_of(msg))
                        *why = "no order in the correlation";
                else if (!key_valid(m->idempotency_key))
                        *why = "idempotency key empty, too long or not printable";
                else if (m->amount < 0)
                        *why = "negative amount";
                else if (!ids_card_token_valid(m->card_token))
                        *why = "card token empty, too long or not printable";
        } else if (msg->descriptor == &food__v1__refund_payment__descriptor) {
                const Food__V1__RefundPayment *m = (const Food__V1__RefundPayment *)msg;
                if (!corr_of(msg))
                        *why = "no order in the correlation";
                else if (!key_valid(m->idempotency_key))
                        *why = "idempotency key empty, too long or not printable";
                else if (m->amount <= 0)
                        *why = "refund of nothing";
                else if (!key_valid(m->payment_id))
                        *why = "payment id empty, too long or not printable";
        } else
                *why = "not a payment command";
        return *why ? WORKER_POISON : 0;
}

void payment_settle(int64_t asked, PaymentResult *res) {
        if (res->outcome == PAYMENT_OK && res->amount != asked) {
                /* The provider confirmed another amount: not what the order needs. */
                res->outcome = PAYMENT_FAILED;
                res->retryable = false;
                snprintf(res->reason, sizeof(res->reason), "provider confirmed %" PRId64 " instead of %" PRId64,
                         res->amount, asked);
        }
}

static int reply_failed(WorkerOut *out, Food__V1__Correlation *corr, const char *reason, bool retryable) {
        Food__V1__PaymentFailed f = FOOD__V1__PAYMENT_FAILED__INIT;
        f.corr = corr;
        f.reason = (char *)reason;
        f.retryable = retryable;
        return worker_answer(out, &f.base);
}

static int reply_authorized(WorkerOut *out, Food__V1__Correlation *corr, const char *payment_id, int64_t amount) {
        Food__V1__PaymentAuthorized a = FOOD__V1__PAYMENT_AUTHORIZED__INIT;
        a.corr = corr;
        a.payment_id = (char *)payment_id;
        a.amount = amount;
        return worker_answer(out, &a.base);
}

static int reply_declined(WorkerOut *out, Food__V1__Correlation *corr, const char *reason) {
        Food__V1__PaymentDeclined d = FOOD__V1__PAYMENT_DECLINED__INIT;
        d.corr = corr;
        d.reason = (char *)reason;
        return worker_answer(out, &d.base);
}

static int reply_refunded(WorkerOut *out, Food__V1__Correlation *corr, const char *payment_id, const char *refund_id,
                          int64_t amount) {
        Food__V1__PaymentRefunded f = FOOD__V1__PAYMENT_REFUNDED__INIT;
        f.corr = corr;
        f.payment_id = (char *)payment_id;
        f.refund_id = (char *)refund_id;
        f.amount = amount;
        return worker_answer(out, &f.base);
}

/* The provider's idempotency key makes every try of a command one charge: a re-sent command gets the
 * first answer again from the provider itself. */
static int handle_authorize(PaymentHandler *h, const Food__V1__AuthorizePayment *m, WorkerOut *out) {
        const Food__V1__Correlation *corr = corr_of(&m->base);
        const char *key = m->idempotency_key;
        PaymentResult res;
        int r;

        if (payment_check(&m->base, NULL) != 0) {
                log_warn("authorize: impossible command (order %s, key %s, amount %" PRId64 ")",
                         corr ? corr->order_id : "none", key ? key : "none", m->amount);
                return WORKER_POISON;
        }
        int retry_s;
        if (!breaker_pass(h, &retry_s)) {
                /* Fallback: fail fast, charge nothing; the order answers 503 "pay later". */
                char why[96];
                metric_add(h->breaker_refused, 1);
                snprintf(why, sizeof(why), "payment provider circuit open; retry in %d s", retry_s);
                return reply_failed(out, m->corr, why, true);
        }
        int64_t started = ids_now_ms();
        r = payment_provider_charge(h->provider, key, m->amount, m->card_token, &res);
        if (r < 0)
                return r;
        breaker_note(h, res.outcome == PAYMENT_FAILED && res.retryable, ids_now_ms() - started);
        payment_settle(m->amount, &res);
        switch (res.outcome) {
        case PAYMENT_OK:
                metric_add(h->approved, 1);
                log_info("order %s: charge %s approved (%" PRId64 ")", corr->order_id, res.id, res.amount);
                r = reply_authorized(out, m->corr, res.id, res.amount);
                break;
        case PAYMENT_DECLINED:
                metric_add(h->declined, 1);
                log_info("order %s: charge declined: %s", corr->order_id, res.reason);
                r = reply_declined(out, m->corr, res.reason);
                break;
        default:
                metric_add(h->failed, 1);
                log_warn("order %s: charge failed (%s): %s", corr->order_id,
                         res.retryable ? "retryable" : "final", res.reason);
                r = reply_failed(out, m->corr, res.reason, res.retryable);
                break;
        }
        return r;
}

static int handle_refund(PaymentHandler *h, const Food__V1__RefundPayment *m, WorkerOut *out) {
        const Food__V1__Correlation *corr = corr_of(&m->base);
        const char *key = m->idempotency_key;
        PaymentResult res;
        int r;

        if (payment_check(&m->base, NULL) != 0) {
                log_warn("refund: impossible command (order %s, key %s, payment %s, amount %" PRId64 ")",
                         corr ? corr->order_id : "none", key ? key : "none", m->payment_id ? m->payment_id : "none",
                         m->amount);
                return WORKER_POISON;
        }
        r = payment_provider_refund(h->provider, key, m->payment_id, m->amount, &res);
        if (r < 0)
                return r;
        if (res.outcome == PAYMENT_OK) {
                metric_add(h->refunded, 1);
                log_info("order %s: refund %s of %s done (%" PRId64 ")", corr->order_id, res.id, m->payment_id,
                         res.amount);
                return reply_refunded(out, m->corr, m->payment_id, res.id, res.amount);
        }
        if (res.retryable) {
                /* No answer: the orchestrator would stop re-sending; this refund must happen, so the
                 * message comes back (and the orchestrator re-sends if it runs out of deliveries). */
                metric_add(h->refund_retry, 1);
                log_warn("order %s: refund of %s not done yet, retrying: %s", corr->order_id, m->payment_id,
                         res.reason);
                return WORKER_RETRY;
        }
        metric_add(h->refund_failed, 1);
        log_error("order %s: refund of %" PRId64 " on %s refused by the provider: %s", corr->order_id, m->amount,
                  m->payment_id, res.reason);
        return reply_failed(out, m->corr, res.reason, false);
}

int payment_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, WorkerOut *out) {
        PaymentHandler *h = ctx;
        (void)pg; /* stateless: the provider's keys make every command idempotent */
        if (msg->descriptor == &food__v1__authorize_payment__descriptor)
                return handle_authorize(h, (const Food__V1__AuthorizePayment *)msg, out);
        if (msg->descriptor == &food__v1__refund_payment__descriptor)
                return handle_refund(h, (const Food__V1__RefundPayment *)msg, out);
        log_warn("payment: unexpected message type %s", msg->descriptor->name);
        return WORKER_POISON;
}
