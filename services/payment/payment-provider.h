/* The one HTTP client interface to a payment provider (the shipped sandbox or a real one: only
 * PSP_URL / PSP_API_KEY change). Parsing of the provider's answers is pure and unit tested. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PaymentProvider PaymentProvider;

typedef enum {
        PAYMENT_OK,       /* charge approved / refund done */
        PAYMENT_DECLINED, /* the provider said no to the card (charges only) */
        PAYMENT_FAILED,   /* no decision: see retryable */
} PaymentOutcome;

#define PAYMENT_ID_MAX 64
#define PAYMENT_REASON_MAX 160

typedef struct {
        PaymentOutcome outcome;
        bool retryable;                  /* FAILED only: the same request may succeed later */
        char id[PAYMENT_ID_MAX];         /* provider's charge or refund id (OK, and DECLINED when given) */
        int64_t amount;                  /* amount the provider confirmed (OK) */
        char reason[PAYMENT_REASON_MAX]; /* DECLINED / FAILED: human-readable why */
} PaymentResult;

typedef struct {
        const char *url;     /* base URL, e.g. http://127.0.0.1:8091 (borrowed only during _new) */
        const char *api_key; /* sent as "Authorization: Bearer <key>" when non-empty */
        int64_t timeout_ms;  /* whole-request deadline */
} PaymentProviderConfig;

/* Creates the client (copies the config). 0, -EINVAL (not an http(s) URL, an API key that cannot be a header
 * value), -ENOMEM, -EIO (TLS could not start for an https URL). */
int payment_provider_new(PaymentProvider **ret, const PaymentProviderConfig *cfg);
/* Frees the client; every thread that used it must have exited. NULL is fine. */
void payment_provider_free(PaymentProvider *p);

/* POST /charges {idempotency_key, amount, card_token}. Blocks up to timeout_ms. Each calling thread
 * reuses its own keep-alive connection. Always fills *out (transport problems become FAILED,
 * retryable) and returns 0, or -ENOMEM. */
int payment_provider_charge(PaymentProvider *p, const char *idempotency_key, int64_t amount, const char *card_token,
                            PaymentResult *out);
/* POST /refunds {idempotency_key, charge_id, amount}. Same contract; never DECLINED. */
int payment_provider_refund(PaymentProvider *p, const char *idempotency_key, const char *charge_id, int64_t amount,
                            PaymentResult *out);

/* Pure: decides a charge from the provider's HTTP status and body (not NUL-terminated, may be NULL).
 * 201/200 {"id","status":"approved","amount"} -> OK; 402 -> DECLINED; 408, 425, 429, 5xx and
 * unreadable 2xx -> FAILED retryable; other statuses -> FAILED not retryable. */
void payment_parse_charge(long http_status, const char *body, size_t len, PaymentResult *out);
/* Pure: decides a refund: 201/200 {"id","status":"refunded","amount"} -> OK; else as for charges,
 * except that 402 is a FAILED not retryable too. */
void payment_parse_refund(long http_status, const char *body, size_t len, PaymentResult *out);
/* Pure: the result of a request that got no HTTP answer (timeout, refused, reset): FAILED,
 * retryable, with `what` (e.g. the HTTP client's error text) as the reason. */
void payment_result_unreachable(const char *what, PaymentResult *out);
