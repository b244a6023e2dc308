/* In-memory ledger of the sandbox payment provider, guarded by one mutex. */
#include "psp-ledger.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ids.h"

typedef struct {
        char id[PSP_ID_MAX];
        char *key;
        char *card_token;
        int64_t amount;
        int64_t refunded;
        bool approved;
} Charge;

typedef struct {
        char id[PSP_ID_MAX];
        char *key;
        char charge_id[PSP_ID_MAX];
        int64_t amount;
} Refund;

/* String -> entry index, open addressing; the strings are borrowed from the entries. */
typedef struct {
        const char **keys;
        size_t *vals;
        size_t cap; /* power of two, 0 when empty */
        size_t n;
} Index;

struct PspLedger {
        pthread_mutex_t lock;
        size_t max_entries;
        Charge **charges; /* entries are allocated one by one: the indexes borrow their strings */
        size_t n_charges, cap_charges;
        Refund **refunds;
        size_t n_refunds, cap_refunds;
        Index charge_by_key, charge_by_id, refund_by_key;
        PspConfig config;
        uint64_t rng;
};

static uint64_t hash_str(const char *s) {
        uint64_t h = 14695981039346656037ULL; /* FNV-1a */
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return h;
}

static bool index_get(const Index *ix, const char *key, size_t *ret) {
        if (ix->cap == 0)
                return false;
        for (size_t i = hash_str(key) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
                if (!ix->keys[i])
                        return false;
                if (strcmp(ix->keys[i], key) == 0) {
                        *ret = ix->vals[i];
                        return true;
                }
        }
}

static void index_place(const char **keys, size_t *vals, size_t cap, const char *key, size_t val) {
        size_t i = hash_str(key) & (cap - 1);
        while (keys[i])
                i = (i + 1) & (cap - 1);
        keys[i] = key;
        vals[i] = val;
}

/* Makes room for one more key: 0 or -ENOMEM (index unchanged). */
static int index_reserve(Index *ix) {
        if ((ix->n + 1) * 10 > ix->cap * 7) {
                size_t cap = ix->cap ? ix->cap * 2 : 64;
                const char **keys = calloc(cap, sizeof(*keys));
                size_t *vals = calloc(cap, sizeof(*vals));
                if (!keys || !vals) {
                        free(keys);
                        free(vals);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < ix->cap; i++)
                        if (ix->keys[i])
                                index_place(keys, vals, cap, ix->keys[i], ix->vals[i]);
                free(ix->keys);
                free(ix->vals);
                ix->keys = keys;
                ix->vals = vals;
                ix->cap = cap;
        }
        return 0;
}

/* Adds key -> val; the key is not present and index_reserve succeeded before. */
static void index_put(Index *ix, const char *key, size_t val) {
        index_place(ix->keys, ix->vals, ix->cap, key, val);
        ix->n++;
}

static void index_clear(Index *ix) {
        free(ix->keys);
        free(ix->vals);
        memset(ix, 0, sizeof(*ix));
}

/* Grows an entry array so that one more fits. 0 or -ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t size) {
        if (n < *cap)
                return 0;
        size_t ncap = *cap ? *cap * 2 : 256;
        void *p = realloc(*arr, ncap * size);
        if (!p)
                return -ENOMEM;
        *arr = p;
        *cap = ncap;
        return 0;
}

bool psp_token_approved(const char *card_token) {
        return card_token && strcmp(card_token, "tok_ok") == 0;
}

int psp_ledger_new(PspLedger **ret, size_t max_entries) {
        PspLedger *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        pthread_mutex_init(&l->lock, NULL);
        l->max_entries = max_entries;
        if (getrandom(&l->rng, sizeof(l->rng), 0) != (ssize_t)sizeof(l->rng) || l->rng == 0)
                l->rng = 0x9e3779b97f4a7c15ULL;
        *ret = l;
        return 0;
}

void psp_ledger_free(PspLedger *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n_charges; i++) {
                free(l->charges[i]->key);
                free(l->charges[i]->card_token);
                free(l->charges[i]);
        }
        for (size_t i = 0; i < l->n_refunds; i++) {
                free(l->refunds[i]->key);
                free(l->refunds[i]);
        }
        free(l->charges);
        free(l->refunds);
        index_clear(&l->charge_by_key);
        index_clear(&l->charge_by_id);
        index_clear(&l->refund_by_key);
        pthread_mutex_destroy(&l->lock);
        free(l);
}

static bool key_valid(const char *key) {
        return key && *key && strlen(key) < PSP_KEY_MAX;
}

static void charge_result(const Charge *c, PspChargeResult *out) {
        memcpy(out->id, c->id, sizeof(out->id));
        out->approved = c->approved;
        out->amount = c->amount;
}

/* Appends a new charge; called with the lock held. */
static int ledger_add_charge(PspLedger *l, const char *key, int64_t amount, const char *card_token) {
        Charge *c;
        int r;

        if (l->n_charges >= l->max_entries)
                return PSP_FULL;
        r = grow((void **)&l->charges, &l->cap_charges, l->n_charges, sizeof(Charge *));
        if (r == 0)
                r = index_reserve(&l->charge_by_key);
        if (r == 0)
                r = index_reserve(&l->charge_by_id);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        r = ids_new(c->id, sizeof(c->id), "ch");
        c->key = strdup(key);
        c->card_token = strdup(card_token);
        if (r < 0 || !c->key || !c->card_token) {
                free(c->key);
                free(c->card_token);
                free(c);
                return r < 0 ? r : -ENOMEM;
        }
        c->amount = amount;
        c->approved = psp_token_approved(card_token);
        index_put(&l->charge_by_key, c->key, l->n_charges);
        index_put(&l->charge_by_id, c->id, l->n_charges);
        l->charges[l->n_charges++] = c;
        return 0;
}

int psp_ledger_charge(PspLedger *l, const char *key, int64_t amount, const char *card_token, PspChargeResult *out) {
        size_t i;
        int r;

        if (!key_valid(key) || amount < 0 || !card_token || strlen(card_token) >= PSP_KEY_MAX)
                return -EINVAL;
        pthread_mutex_lock(&l->lock);
        if (index_get(&l->charge_by_key, key, &i)) {
                const Charge *c = l->charges[i];
                if (c->amount != amount || strcmp(c->card_token, card_token) != 0)
                        r = PSP_MISMATCH;
                else {
                        charge_result(c, out);
                        r = 0;
                }
                goto out;
        }
        r = ledger_add_charge(l, key, amount, card_token);
        if (r == 0)
                charge_result(l->charges[l->n_charges - 1], out);
out:
        pthread_mutex_unlock(&l->lock);
        return r;
}

static void refund_result(const Refund *f, PspRefundResult *out) {
        memcpy(out->id, f->id, sizeof(out->id));
        memcpy(out->charge_id, f->charge_id, sizeof(out->charge_id));
        out->amount = f->amount;
}

int psp_ledger_refund(PspLedger *l, const char *key, const char *charge_id, int64_t amount, PspRefundResult *out) {
        Charge *c;
        Refund *f;
        size_t i;
        int r;

        if (!key_valid(key) || amount <= 0 || !charge_id || !*charge_id || strlen(charge_id) >= PSP_ID_MAX)
                return -EINVAL;
        pthread_mutex_lock(&l->lock);
        if (index_get(&l->refund_by_key, key, &i)) {
                f = l->refunds[i];
                if (f->amount != amount || strcmp(f->charge_id, charge_id) != 0)
                        r = PSP_MISMATCH;
                else {
                        refund_result(f, out);
                        r = 0;
                }
                goto out;
        }
        if (!index_get(&l->charge_by_id, charge_id, &i)) {
                r = PSP_NO_CHARGE;
                goto out;
        }
        c = l->charges[i];
        if (!c->approved) {
                r = PSP_NOT_REFUNDABLE;
                goto out;
        }
        if (amount > c->amount - c->refunded) {
                r = PSP_OVER_REFUND;
                goto out;
        }
        if (l->n_refunds >= l->max_entries) {
                r = PSP_FULL;
                goto out;
        }
        r = grow((void **)&l->refunds, &l->cap_refunds, l->n_refunds, sizeof(Refund *));
        if (r == 0)
                r = index_reserve(&l->refund_by_key);
        if (r < 0)
                goto out;
        f = calloc(1, sizeof(*f));
        if (!f) {
                r = -ENOMEM;
                goto out;
        }
        r = ids_new(f->id, sizeof(f->id), "rf");
        f->key = strdup(key);
        if (r < 0 || !f->key) {
                free(f->key);
                free(f);
                r = r < 0 ? r : -ENOMEM;
                goto out;
        }
        memcpy(f->charge_id, c->id, sizeof(f->charge_id));
        f->amount = amount;
        index_put(&l->refund_by_key, f->key, l->n_refunds);
        l->refunds[l->n_refunds++] = f;
        c->refunded += amount;
        refund_result(f, out);
out:
        pthread_mutex_unlock(&l->lock);
        return r;
}

void psp_ledger_get_config(PspLedger *l, PspConfig *out) {
        pthread_mutex_lock(&l->lock);
        *out = l->config;
        pthread_mutex_unlock(&l->lock);
}

int psp_ledger_set_config(PspLedger *l, const PspConfig *c) {
        if (c->latency_ms < 0 || c->latency_ms > PSP_LATENCY_MAX_MS || !isfinite(c->failure_rate) ||
            c->failure_rate < 0.0 || c->failure_rate > 1.0)
                return -EINVAL;
        pthread_mutex_lock(&l->lock);
        l->config = *c;
        pthread_mutex_unlock(&l->lock);
        return 0;
}

bool psp_ledger_should_fail(PspLedger *l) {
        bool fail;
        pthread_mutex_lock(&l->lock);
        /* xorshift64*: plenty for a coin flip, and deterministic cost under the lock */
        l->rng ^= l->rng >> 12;
        l->rng ^= l->rng << 25;
        l->rng ^= l->rng >> 27;
        double u = (double)((l->rng * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
        fail = u < l->config.failure_rate;
        pthread_mutex_unlock(&l->lock);
        return fail;
}

json_t *psp_ledger_dump(PspLedger *l) {
        json_t *charges = json_array(), *refunds = json_array(), *doc = NULL;

        if (!charges || !refunds)
                goto out;
        pthread_mutex_lock(&l->lock);
        for (size_t i = 0; i < l->n_charges; i++) {
                const Charge *c = l->charges[i];
                json_array_append_new(charges, json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}", "id", c->id,
                                                         "idempotency_key", c->key, "amount", (json_int_t)c->amount,
                                                         "card_token", c->card_token, "status",
                                                         c->approved ? "approved" : "declined", "refunded",
                                                         (json_int_t)c->refunded));
        }
        for (size_t i = 0; i < l->n_refunds; i++) {
                const Refund *f = l->refunds[i];
                json_array_append_new(refunds, json_pack("{s:s, s:s, s:s, s:I}", "id", f->id, "idempotency_key",
                                                         f->key, "charge_id", f->charge_id, "amount",
                                                         (json_int_t)f->amount));
        }
        pthread_mutex_unlock(&l->lock);
        doc = json_pack("{s:O, s:O}", "charges", charges, "refunds", refunds);
out:
        json_decref(charges);
        json_decref(refunds);
        return doc;
}
