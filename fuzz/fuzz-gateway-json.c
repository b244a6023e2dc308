/* libFuzzer harness of the gateway's JSON bodies: the first byte picks the parser a route runs
 * (POST /orders, PATCH /orders/{id}, POST /auth/dev-token, a refusal or cancel reason, POST
 * /stores/{id}/coupons, or a bearer token whose payload is the rest, signed with the gateway's
 * HS256 so that auth_verify reads it); what a parser accepts must respect the documented limits. */
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "gateway-auth.h"
#include "gateway-json.h"

static const char secret[] = "fuzz-secret-of-at-least-32-bytes!!";

static void check_items(const JsonItem *items, size_t n) {
        FUZZ_CHECK(n >= 1 && n <= GJSON_MAX_ITEMS, "%zu items accepted", n);
        for (size_t i = 0; i < n; i++) {
                FUZZ_CHECK(auth_id_valid(items[i].menu_item_id), "item %zu id", i);
                FUZZ_CHECK(items[i].quantity >= 1 && items[i].quantity <= GJSON_QUANTITY_MAX, "quantity %d",
                           items[i].quantity);
        }
}

static void check_address(const JsonAddress *a) {
        FUZZ_CHECK(a->text && a->region && *a->text && *a->region, "address without text or region");
        FUZZ_CHECK(isfinite(a->lat) && fabs(a->lat) <= 90 && isfinite(a->lon) && fabs(a->lon) <= 180,
                   "coordinates %f %f", a->lat, a->lon);
}

static size_t b64url(const uint8_t *in, size_t n, char *out) {
        static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t o = 0;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                             (i + 2 < n ? in[i + 2] : 0);
                out[o++] = abc[v >> 18 & 63];
                out[o++] = abc[v >> 12 & 63];
                if (i + 1 < n)
                        out[o++] = abc[v >> 6 & 63];
                if (i + 2 < n)
                        out[o++] = abc[v & 63];
        }
        return o;
}

/* header.payload.signature with the payload bytes as given. */
static void token(const uint8_t *payload, size_t n) {
        static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
        char tok[AUTH_TOKEN_MAX + 128];
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        AuthClaims claims;
        const char *why = NULL;

        if (n > 2000)
                return;
        size_t o = b64url((const uint8_t *)header, sizeof(header) - 1, tok);
        tok[o++] = '.';
        o += b64url(payload, n, tok + o);
        HMAC(EVP_sha256(), secret, sizeof(secret) - 1, (const unsigned char *)tok, o, mac, &mac_len);
        tok[o++] = '.';
        o += b64url(mac, mac_len, tok + o);
        static AuthKeys keys;
        if (!keys.secret && auth_keys_init(&keys, secret, sizeof(secret) - 1, NULL, 0, 86400, NULL, NULL) != 0)
                abort();
        int r = auth_verify(&keys, tok, o, 1700000000, &claims, &why);
        FUZZ_CHECK(r == 0 || (r == AUTH_INVALID && why), "auth_verify returned %d", r);
        if (r == 0) {
                FUZZ_CHECK(auth_id_valid(claims.sub), "sub %s", claims.sub);
                FUZZ_CHECK(strcmp(auth_role_name(claims.role), "?") != 0, "role %d", (int)claims.role);
                FUZZ_CHECK(claims.role != AUTH_STORE || auth_id_valid(claims.store_id), "store without id");
                FUZZ_CHECK(claims.exp > 1700000000 && claims.exp <= 1700000000 + 86400,
                           "a token that expired, never expires or lives too long accepted");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        JsonProblem p = {0};
        int r;

        fuzz_quiet();
        if (size < 1)
                return 0;
        const char *body = (const char *)data + 1;
        size_t len = size - 1;
        switch (data[0] % 6) {
        case 0: {
                OrderBody b;
                r = gjson_parse_order(body, len, &b, &p);
                if (r == 0) {
                        FUZZ_CHECK(auth_id_valid(b.store_id) && b.note && b.card_token && *b.card_token, "order body");
                        FUZZ_CHECK(!b.coupon_id || auth_id_valid(b.coupon_id), "coupon id");
                        check_items(b.items, b.n_items);
                        check_address(&b.address);
                        gjson_release(b.root);
                }
                break;
        }
        case 1: {
                ModifyBody b;
                r = gjson_parse_modify(body, len, &b, &p);
                if (r == 0) {
                        FUZZ_CHECK(b.has_items || b.has_address || b.has_note, "nothing to modify accepted");
                        if (b.has_items)
                                check_items(b.items, b.n_items);
                        if (b.has_address)
                                check_address(&b.address);
                        FUZZ_CHECK(!b.has_note || b.note, "note flagged but NULL");
                        gjson_release(b.root);
                }
                break;
        }
        case 2: {
                DevTokenBody b;
                AuthRole role;
                r = gjson_parse_dev_token(body, len, &b, &p);
                if (r == 0) {
                        FUZZ_CHECK(auth_id_valid(b.sub) && auth_role_parse(b.role, &role) == 0, "dev token body");
                        FUZZ_CHECK(role != AUTH_STORE || (b.store_id && auth_id_valid(b.store_id)), "store id");
                        gjson_release(b.root);
                }
                break;
        }
        case 3: {
                ReasonBody b;
                r = gjson_parse_reason(body, len, &b, &p);
                if (r == 0) {
                        FUZZ_CHECK(b.reason != NULL, "reason NULL");
                        gjson_release(b.root);
                }
                break;
        }
        case 4: {
                CouponBody b;
                r = gjson_parse_coupon(body, len, &b, &p);
                if (r == 0) {
                        FUZZ_CHECK(auth_id_valid(b.customer_id), "customer id");
                        FUZZ_CHECK(b.discount >= 1 && b.discount <= GJSON_DISCOUNT_MAX, "discount %lld",
                                   (long long)b.discount);
                        gjson_release(b.root);
                }
                break;
        }
        default:
                token((const uint8_t *)body, len);
                return 0;
        }
        FUZZ_CHECK(r == 0 || ((r == 400 || r == 422) && r == p.status && p.detail[0]), "parser returned %d", r);
        return 0;
}
