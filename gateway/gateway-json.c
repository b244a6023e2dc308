/* Strict request body parsing with jansson: limits first, then types, then ranges. */
#include "gateway-json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gateway-auth.h"
#include "ids.h"

int gjson_problem(JsonProblem *p, int status, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
        va_end(ap);
        p->status = status;
        return status;
}

/* Deepest nesting of arrays/objects in the text, counted before jansson builds
 * anything so that a hostile body cannot make it recurse. Stops counting at
 * limit + 1. Brackets inside strings do not count. */
static int json_depth(const char *s, size_t len, int limit) {
        int depth = 0, max = 0;
        bool in_string = false, escaped = false;
        for (size_t i = 0; i < len && max <= limit; i++) {
                char c = s[i];
                if (in_string) {
                        if (escaped)
                                escaped = false;
                        else if (c == '\\')
                                escaped = true;
                        else if (c == '"')
                                in_string = false;
                } else if (c == '"') {
                        in_string = true;
                } else if (c == '[' || c == '{') {
                        if (++depth > max)
                                max = depth;
                } else if ((c == ']' || c == '}') && depth > 0) {
                        depth--;
                }
        }
        return max;
}

int gjson_load_object(const char *body, size_t len, json_t **ret, JsonProblem *problem) {
        json_error_t e;
        json_t *root;

        if (len == 0)
                return gjson_problem(problem, 400, "the request body must be a JSON object");
        if (json_depth(body, len, GJSON_MAX_DEPTH) > GJSON_MAX_DEPTH)
                return gjson_problem(problem, 400, "JSON nested deeper than %d levels", GJSON_MAX_DEPTH);
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
        if (!root)
                return gjson_problem(problem, 400, "malformed JSON at line %d column %d: %s", e.line, e.column, e.text);
        if (!json_is_object(root)) {
                json_decref(root);
                return gjson_problem(problem, 400, "the request body must be a JSON object");
        }
        *ret = root;
        return 0;
}

void gjson_release(json_t *root) {
        json_decref(root);
}

static size_t utf8_chars(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        n++;
        return n;
}

/* Refuses any member of `obj` not named in `allowed` (NULL-terminated): a
 * misspelt optional field would otherwise be dropped silently. */
static int check_fields(json_t *obj, const char *prefix, const char *const *allowed, JsonProblem *p) {
        const char *key;
        json_t *v;
        json_object_foreach(obj, key, v) {
                bool known = false;
                for (size_t i = 0; allowed[i] && !known; i++)
                        known = strcmp(key, allowed[i]) == 0;
                if (!known)
                        return gjson_problem(p, 400, "unknown field \"%s%.40s\"", prefix, key);
        }
        return 0;
}

/* A string member: absent or null -> *ret NULL (400 when required); wrong
 * type -> 400; empty when required, or longer than max_chars -> 422. */
static int get_string(json_t *obj, const char *prefix, const char *key, bool required, size_t max_chars,
                      const char **ret, JsonProblem *p) {
        json_t *v = json_object_get(obj, key);
        *ret = NULL;
        if (!v || json_is_null(v)) {
                if (required)
                        return gjson_problem(p, 400, "%s%s is required (a string)", prefix, key);
                return 0;
        }
        if (!json_is_string(v))
                return gjson_problem(p, 400, "%s%s must be a string", prefix, key);
        if (required && json_string_length(v) == 0)
                return gjson_problem(p, 422, "%s%s must not be empty", prefix, key);
        if (utf8_chars(json_string_value(v)) > max_chars)
                return gjson_problem(p, 422, "%s%s must be at most %zu characters", prefix, key, max_chars);
        *ret = json_string_value(v);
        return 0;
}

/* A required identifier ([A-Za-z0-9_.:@-], 1..64 bytes). */
static int get_id(json_t *obj, const char *prefix, const char *key, bool required, const char **ret, JsonProblem *p) {
        int r = get_string(obj, prefix, key, required, 1000, ret, p);
        if (r != 0 || !*ret)
                return r;
        if (!auth_id_valid(*ret))
                return gjson_problem(p, 422, "%s%s is not a valid id (1-64 characters of A-Z a-z 0-9 _ . : @ -)",
                                     prefix, key);
        return 0;
}

static int get_number(json_t *obj, const char *prefix, const char *key, double min, double max, double *ret,
                      JsonProblem *p) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                return gjson_problem(p, 400, "%s%s is required (a number)", prefix, key);
        if (!json_is_number(v))
                return gjson_problem(p, 400, "%s%s must be a number", prefix, key);
        *ret = json_number_value(v);
        if (!isfinite(*ret) || *ret < min || *ret > max)
                return gjson_problem(p, 422, "%s%s must be between %g and %g", prefix, key, min, max);
        return 0;
}

static int parse_items(json_t *items, JsonItem *out, size_t *n_out, JsonProblem *p) {
        static const char *const fields[] = {"menu_item_id", "quantity", NULL};
        size_t n;
        json_t *it;
        char prefix[32];
        int r;

        if (!json_is_array(items))
                return gjson_problem(p, 400, "items must be an array of {\"menu_item_id\",\"quantity\"}");
        n = json_array_size(items);
        if (n == 0)
                return gjson_problem(p, 422, "items must hold at least one item");
        if (n > GJSON_MAX_ITEMS)
                return gjson_problem(p, 422, "too many items: %zu lines, at most %d", n, GJSON_MAX_ITEMS);
        json_array_foreach(items, n, it) {
                json_t *q;
                snprintf(prefix, sizeof(prefix), "items[%zu].", n);
                if (!json_is_object(it))
                        return gjson_problem(p, 400, "items[%zu] must be an object {\"menu_item_id\",\"quantity\"}", n);
                r = check_fields(it, prefix, fields, p);
                if (r == 0)
                        r = get_id(it, prefix, "menu_item_id", true, &out[n].menu_item_id, p);
                if (r != 0)
                        return r;
                q = json_object_get(it, "quantity");
                if (!q || json_is_null(q))
                        return gjson_problem(p, 400, "%squantity is required (an integer between 1 and %d)", prefix,
                                             GJSON_QUANTITY_MAX);
                if (!json_is_integer(q))
                        return gjson_problem(p, 400, "%squantity must be an integer between 1 and %d", prefix,
                                             GJSON_QUANTITY_MAX);
                if (json_integer_value(q) < 1 || json_integer_value(q) > GJSON_QUANTITY_MAX)
                        return gjson_problem(p, 422, "%squantity must be an integer between 1 and %d (got %lld)",
                                             prefix, GJSON_QUANTITY_MAX, (long long)json_integer_value(q));
                out[n].quantity = (int)json_integer_value(q);
        }
        *n_out = json_array_size(items);
        return 0;
}

static int parse_address(json_t *a, JsonAddress *out, JsonProblem *p) {
        static const char *const fields[] = {"text", "region", "lat", "lon", NULL};
        int r;

        if (!json_is_object(a))
                return gjson_problem(p, 400, "address must be an object {\"text\",\"region\",\"lat\",\"lon\"}");
        r = check_fields(a, "address.", fields, p);
        if (r == 0)
                r = get_string(a, "address.", "text", true, GJSON_TEXT_MAX, &out->text, p);
        if (r == 0)
                r = get_string(a, "address.", "region", true, GJSON_REGION_MAX, &out->region, p);
        if (r == 0)
                r = get_number(a, "address.", "lat", -90, 90, &out->lat, p);
        if (r == 0)
                r = get_number(a, "address.", "lon", -180, 180, &out->lon, p);
        return r;
}

/* "payment": {"card_token"} of `root`; *ret stays NULL when it is absent and not required. */
static int parse_payment(json_t *root, bool required, const char **ret, JsonProblem *p) {
        static const char *const payment_fields[] = {"card_token", NULL};
        json_t *v = json_object_get(root, "payment");
        int r;

        if (!v)
                return required ? gjson_problem(p, 400, "payment is required ({\"card_token\"})") : 0;
        if (!json_is_object(v))
                return gjson_problem(p, 400, "payment must be an object {\"card_token\"}");
        r = check_fields(v, "payment.", payment_fields, p);
        if (r == 0)
                r = get_string(v, "payment.", "card_token", true, GJSON_TOKEN_MAX, ret, p);
        if (r == 0 && *ret && !ids_card_token_valid(*ret))
                r = gjson_problem(p, 422, "payment.card_token must be 1-%d printable ASCII characters (no spaces)",
                                  IDS_CARD_TOKEN_MAX);
        return r;
}

int gjson_parse_order(const char *body, size_t len, OrderBody *ret, JsonProblem *problem) {
        static const char *const fields[] = {"store_id", "items", "address", "note", "coupon_id", "payment", NULL};
        OrderBody o = {0};
        json_t *v;
        int r = gjson_load_object(body, len, &o.root, problem);

        if (r != 0)
                return r;
        r = check_fields(o.root, "", fields, problem);
        if (r == 0)
                r = get_id(o.root, "", "store_id", true, &o.store_id, problem);
        if (r == 0) {
                v = json_object_get(o.root, "items");
                r = v ? parse_items(v, o.items, &o.n_items, problem)
                      : gjson_problem(problem, 400, "items is required (an array of {\"menu_item_id\",\"quantity\"})");
        }
        if (r == 0) {
                v = json_object_get(o.root, "address");
                r = v ? parse_address(v, &o.address, problem)
                      : gjson_problem(problem, 400, "address is required ({\"text\",\"region\",\"lat\",\"lon\"})");
        }
        if (r == 0)
                r = get_string(o.root, "", "note", false, GJSON_NOTE_MAX, &o.note, problem);
        if (r == 0)
                r = get_id(o.root, "", "coupon_id", false, &o.coupon_id, problem);
        if (r == 0)
                r = parse_payment(o.root, true, &o.card_token, problem);
        if (r != 0) {
                json_decref(o.root);
                return r;
        }
        if (!o.note)
                o.note = "";
        *ret = o;
        return 0;
}

int gjson_parse_modify(const char *body, size_t len, ModifyBody *ret, JsonProblem *problem) {
        static const char *const fields[] = {"items", "address", "note", "payment", NULL};
        ModifyBody m = {0};
        json_t *v;
        int r = gjson_load_object(body, len, &m.root, problem);

        if (r != 0)
                return r;
        r = check_fields(m.root, "", fields, problem);
        if (r == 0 && (v = json_object_get(m.root, "items"))) {
                m.has_items = true;
                r = parse_items(v, m.items, &m.n_items, problem);
        }
        if (r == 0 && (v = json_object_get(m.root, "address"))) {
                m.has_address = true;
                r = parse_address(v, &m.address, problem);
        }
        if (r == 0 && json_object_get(m.root, "note")) {
                r = get_string(m.root, "", "note", false, GJSON_NOTE_MAX, &m.note, problem);
                m.has_note = true;
                if (!m.note)
                        m.note = "";
        }
        if (r == 0)
                r = parse_payment(m.root, false, &m.card_token, problem);
        if (r == 0 && !m.has_items && !m.has_address && !m.has_note)
                r = gjson_problem(problem, 422, "nothing to modify: give items, address or note");
        if (r != 0) {
                json_decref(m.root);
                return r;
        }
        *ret = m;
        return 0;
}

int gjson_parse_dev_token(const char *body, size_t len, DevTokenBody *ret, JsonProblem *problem) {
        static const char *const fields[] = {"sub", "role", "store_id", NULL};
        DevTokenBody d = {0};
        AuthRole role = 0;
        int r = gjson_load_object(body, len, &d.root, problem);

        if (r != 0)
                return r;
        r = check_fields(d.root, "", fields, problem);
        if (r == 0)
                r = get_id(d.root, "", "sub", true, &d.sub, problem);
        if (r == 0)
                r = get_string(d.root, "", "role", true, 16, &d.role, problem);
        if (r == 0 && auth_role_parse(d.role, &role) < 0)
                r = gjson_problem(problem, 422, "role must be one of customer, store, rider, admin");
        if (r == 0)
                r = get_id(d.root, "", "store_id", false, &d.store_id, problem);
        if (r == 0 && role == AUTH_STORE && !d.store_id)
                r = gjson_problem(problem, 422, "store_id is required for role store");
        if (r != 0) {
                json_decref(d.root);
                return r;
        }
        *ret = d;
        return 0;
}

int gjson_parse_reason(const char *body, size_t len, ReasonBody *ret, JsonProblem *problem) {
        static const char *const fields[] = {"reason", NULL};
        ReasonBody b = {0};
        int r;

        if (len == 0) {
                b.reason = "";
                *ret = b;
                return 0;
        }
        r = gjson_load_object(body, len, &b.root, problem);
        if (r != 0)
                return r;
        r = check_fields(b.root, "", fields, problem);
        if (r == 0)
                r = get_string(b.root, "", "reason", false, GJSON_NOTE_MAX, &b.reason, problem);
        if (r != 0) {
                json_decref(b.root);
                return r;
        }
        if (!b.reason)
                b.reason = "";
        *ret = b;
        return 0;
}

int gjson_parse_coupon(const char *body, size_t len, CouponBody *ret, JsonProblem *problem) {
        static const char *const fields[] = {"customer_id", "discount", NULL};
        CouponBody c = {0};
        json_t *v;
        int r = gjson_load_object(body, len, &c.root, problem);

        if (r != 0)
                return r;
        r = check_fields(c.root, "", fields, problem);
        if (r == 0)
                r = get_id(c.root, "", "customer_id", true, &c.customer_id, problem);
        if (r == 0) {
                v = json_object_get(c.root, "discount");
                if (!v || !json_is_integer(v))
                        r = gjson_problem(problem, 400, "discount is required (an integer amount in KRW)");
                else if (json_integer_value(v) < 1 || json_integer_value(v) > GJSON_DISCOUNT_MAX)
                        r = gjson_problem(problem, 422, "discount must be between 1 and %d KRW (got %lld)",
                                          GJSON_DISCOUNT_MAX, (long long)json_integer_value(v));
                else
                        c.discount = json_integer_value(v);
        }
        if (r != 0) {
                json_decref(c.root);
                return r;
        }
        *ret = c;
        return 0;
}
