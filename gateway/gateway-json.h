/* Strict parsing of request bodies: size-bounded, duplicate keys and unknown
 * fields refused, nesting limited, every field type- and range-checked with a
 * detail that names the field (e.g. "items[0].quantity must be ..."). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define GJSON_MAX_DEPTH 8      /* deepest legitimate body is 3 levels */
#define GJSON_MAX_ITEMS 50     /* lines per order */
#define GJSON_QUANTITY_MAX 99  /* per line */
#define GJSON_TEXT_MAX 200     /* characters of an address text */
#define GJSON_REGION_MAX 32    /* characters of a region name */
#define GJSON_NOTE_MAX 500     /* characters of a note or a reason */
#define GJSON_TOKEN_MAX 128    /* characters of a card token (IDS_CARD_TOKEN_MAX: printable ASCII) */

/* Why a body was refused: 400 (not JSON, wrong type, missing or unknown
 * field) or 422 (well-formed but a value is out of range or unusable). */
typedef struct {
        int status;
        char detail[256];
} JsonProblem;

typedef struct {
        const char *menu_item_id;
        int quantity; /* 1..GJSON_QUANTITY_MAX */
} JsonItem;

typedef struct {
        const char *text;
        const char *region;
        double lat, lon;
} JsonAddress;

/* The strings below are borrowed from `root`, released by gjson_release. */
typedef struct {
        json_t *root;
        const char *store_id;
        JsonItem items[GJSON_MAX_ITEMS];
        size_t n_items;
        JsonAddress address;
        const char *note;      /* "" when absent */
        const char *coupon_id; /* NULL when absent */
        const char *card_token;
} OrderBody;

typedef struct {
        json_t *root;
        bool has_items, has_address, has_note; /* at least one is true */
        JsonItem items[GJSON_MAX_ITEMS];
        size_t n_items;
        JsonAddress address;
        const char *note;
        const char *card_token; /* card for an extra charge; NULL: the order's own */
} ModifyBody;

typedef struct {
        json_t *root;
        const char *sub;
        const char *role;     /* checked to be one of the four roles */
        const char *store_id; /* NULL unless given; required for role store */
} DevTokenBody;

typedef struct {
        json_t *root; /* NULL for an empty body */
        const char *reason; /* "" when absent */
} ReasonBody;

#define GJSON_DISCOUNT_MAX 1000000 /* KRW */

typedef struct {
        json_t *root;
        const char *customer_id;
        int64_t discount; /* 1..GJSON_DISCOUNT_MAX */
} CouponBody;

/* Each parses `len` bytes of `body` (not necessarily NUL-terminated).
 * Returns 0 with *ret filled (release it with gjson_release(ret->root)), or
 * the HTTP status (400 or 422) with *problem filled; nothing to release then. */
int gjson_parse_order(const char *body, size_t len, OrderBody *ret, JsonProblem *problem);
int gjson_parse_modify(const char *body, size_t len, ModifyBody *ret, JsonProblem *problem);
int gjson_parse_dev_token(const char *body, size_t len, DevTokenBody *ret, JsonProblem *problem);
int gjson_parse_coupon(const char *body, size_t len, CouponBody *ret, JsonProblem *problem);
/* An empty body is accepted as no reason. */
int gjson_parse_reason(const char *body, size_t len, ReasonBody *ret, JsonProblem *problem);

/* Loads a body that must be a JSON object, with the depth limit and duplicate
 * keys refused. 0 with *ret (a new reference) or 400 with *problem. */
int gjson_load_object(const char *body, size_t len, json_t **ret, JsonProblem *problem);

void gjson_release(json_t *root);

/* Fills *p with `status` and the formatted detail; returns `status`. */
int gjson_problem(JsonProblem *p, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
