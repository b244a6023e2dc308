/* The sandbox payment provider's in-memory ledger: charges, refunds, their idempotency keys and the
 * run-time behaviour knobs (latency, failure rate). Every function is thread-safe (one mutex). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PspLedger PspLedger;

/* Business outcomes (positive) of psp_ledger_charge / psp_ledger_refund. */
enum {
        PSP_MISMATCH = 1,   /* idempotency key reused with other parameters */
        PSP_NO_CHARGE,      /* refund of an unknown charge */
        PSP_NOT_REFUNDABLE, /* refund of a declined charge */
        PSP_OVER_REFUND,    /* the refunds would exceed the charged amount */
        PSP_FULL,           /* the ledger reached its entry ceiling */
};

#define PSP_ID_MAX 40
#define PSP_KEY_MAX 200       /* longest accepted idempotency key */
#define PSP_LATENCY_MAX_MS 60000

typedef struct {
        char id[PSP_ID_MAX]; /* "ch_..." */
        bool approved;
        int64_t amount;
} PspChargeResult;

typedef struct {
        char id[PSP_ID_MAX]; /* "rf_..." */
        char charge_id[PSP_ID_MAX];
        int64_t amount;
} PspRefundResult;

typedef struct {
        int64_t latency_ms;  /* added before answering /charges and /refunds, 0..PSP_LATENCY_MAX_MS */
        double failure_rate; /* share of /charges and /refunds answered 503, 0..1 */
} PspConfig;

/* The one card rule of the sandbox: "tok_ok" is approved, every other token declined. */
bool psp_token_approved(const char *card_token);

/* Creates an empty ledger holding at most `max_entries` charges and as many refunds. */
int psp_ledger_new(PspLedger **ret, size_t max_entries);
void psp_ledger_free(PspLedger *l);

/* Charges `amount` (>= 0) on `card_token` once per `key` (non-empty, < PSP_KEY_MAX bytes). A repeated
 * key with the same amount and token returns the first answer again. Returns 0 with *out filled
 * (approved or declined, both recorded), PSP_MISMATCH, PSP_FULL, -EINVAL or -ENOMEM. */
int psp_ledger_charge(PspLedger *l, const char *key, int64_t amount, const char *card_token, PspChargeResult *out);

/* Refunds `amount` (> 0) of charge `charge_id` once per `key`; a repeated key with the same charge and
 * amount returns the first refund again and never pays twice. Returns 0 with *out filled,
 * PSP_MISMATCH, PSP_NO_CHARGE, PSP_NOT_REFUNDABLE, PSP_OVER_REFUND, PSP_FULL, -EINVAL or -ENOMEM. */
int psp_ledger_refund(PspLedger *l, const char *key, const char *charge_id, int64_t amount, PspRefundResult *out);

void psp_ledger_get_config(PspLedger *l, PspConfig *out);
/* Replaces the behaviour knobs. -EINVAL (nothing changed) when a value is out of range. */
int psp_ledger_set_config(PspLedger *l, const PspConfig *c);
/* Rolls the dice for one request: true when it must fail (failure_rate). */
bool psp_ledger_should_fail(PspLedger *l);

/* {"charges":[{"id","idempotency_key","amount","card_token","status","refunded"}],
 *  "refunds":[{"id","idempotency_key","charge_id","amount"}]} as a new reference, or NULL. */
json_t *psp_ledger_dump(PspLedger *l);
