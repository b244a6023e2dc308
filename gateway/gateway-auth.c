/* HS256 JWT verification and signing with OpenSSL's HMAC; the algorithm is pinned. */
#include "gateway-auth.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_PART_MAX 2048 /* decoded header or payload */
#define AUTH_SIG_LEN 32    /* HMAC-SHA256 */

static const struct {
        AuthRole role;
        const char *name;
} auth_roles[] = {
        {AUTH_CUSTOMER, "customer"},
        {AUTH_STORE, "store"},
        {AUTH_RIDER, "rider"},
        {AUTH_ADMIN, "admin"},
};

int auth_role_parse(const char *s, AuthRole *ret) {
        for (size_t i = 0; i < sizeof(auth_roles) / sizeof(auth_roles[0]); i++)
                if (strcmp(s, auth_roles[i].name) == 0) {
                        *ret = auth_roles[i].role;
                        return 0;
                }
        return -EINVAL;
}

const char *auth_role_name(AuthRole role) {
        for (size_t i = 0; i < sizeof(auth_roles) / sizeof(auth_roles[0]); i++)
                if (auth_roles[i].role == role)
                        return auth_roles[i].name;
        return "?";
}

bool auth_id_valid(const char *s) {
        size_t n = 0;
        for (; s[n]; n++) {
                char c = s[n];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                          c == '-' || c == '.' || c == ':' || c == '@';
                if (!ok || n >= AUTH_ID_MAX)
                        return false;
        }
        return n > 0;
}

/* ---- base64url without padding (RFC 7515 §2) ------------------------------ */

static const char b64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes n bytes; returns the length written (without NUL) or 0 when cap is too small. */
static size_t b64url_encode(const unsigned char *in, size_t n, char *out, size_t cap) {
        size_t need = (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0), o = 0;
        if (need + 1 > cap)
                return 0;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16;
                size_t left = n - i;
                if (left > 1)
                        v |= (uint32_t)in[i + 1] << 8;
                if (left > 2)
                        v |= in[i + 2];
                out[o++] = b64url_alphabet[(v >> 18) & 63];
                out[o++] = b64url_alphabet[(v >> 12) & 63];
                if (left > 1)
                        out[o++] = b64url_alphabet[(v >> 6) & 63];
                if (left > 2)
                        out[o++] = b64url_alphabet[v & 63];
        }
        out[o] = 0;
        return o;
}

static int b64url_value(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

/* Decodes n characters into out; -EINVAL for characters outside the
 * alphabet, padding, an impossible length or non-zero trailing bits (so that
 * one token has exactly one spelling), -ENOSPC when cap is too small. */
static int b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *ret_len) {
        uint32_t acc = 0;
        int bits = 0;
        size_t o = 0;

        if (n % 4 == 1)
                return -EINVAL;
        if ((n * 3) / 4 > cap)
                return -ENOSPC;
        for (size_t i = 0; i < n; i++) {
                int v = b64url_value(in[i]);
                if (v < 0)
                        return -EINVAL;
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (unsigned char)(acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        if (acc != 0)
                return -EINVAL;
        *ret_len = o;
        return 0;
}

/* Decodes one part and parses it as a JSON object (duplicate keys refused). */
static json_t *auth_part_json(const char *part, size_t n) {
        unsigned char buf[AUTH_PART_MAX];
        size_t len;
        json_t *j;

        if (b64url_decode(part, n, buf, sizeof(buf), &len) < 0)
                return NULL;
        j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
        if (j && !json_is_object(j)) {
                json_decref(j);
                return NULL;
        }
        return j;
}

static int auth_hmac(const void *secret, size_t secret_len, const char *data, size_t n,
                     unsigned char out[AUTH_SIG_LEN]) {
        unsigned int len = 0;
        if (secret_len > INT32_MAX)
                return -EINVAL;
        if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)data, n, out, &len) ||
            len != AUTH_SIG_LEN)
                return -EIO;
        return 0;
}

/* A NumericDate claim: absent (0 with *present false), a number, or invalid. */
static int auth_time_claim(json_t *payload, const char *name, bool *present, double *ret) {
        json_t *v = json_object_get(payload, name);
        *present = v != NULL;
        if (!v)
                return 0;
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
                return -EINVAL;
        *ret = json_number_value(v);
        return 0;
}

static int auth_header_check(json_t *header, const char **why) {
        json_t *alg = json_object_get(header, "alg"), *typ = json_object_get(header, "typ");

        /* Pinned: never let the token choose (alg none, HS512, RS256 with our secret as a key...). */
        if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0) {
                *why = "token algorithm must be HS256";
                return AUTH_INVALID;
        }
        if (typ && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0)) {
                *why = "token type must be JWT";
                return AUTH_INVALID;
        }
        if (json_object_get(header, "crit")) {
                *why = "token has critical header parameters we do not understand";
                return AUTH_INVALID;
        }
        return 0;
}

static int auth_claims_read(json_t *payload, int64_t now_s, AuthClaims *c, const char **why) {
        json_t *sub = json_object_get(payload, "sub"), *role = json_object_get(payload, "role"),
               *store = json_object_get(payload, "store_id");
        bool present;
        double t = 0;

        memset(c, 0, sizeof(*c));
        if (auth_time_claim(payload, "exp", &present, &t) < 0) {
                *why = "token exp must be a number";
                return AUTH_INVALID;
        }
        if (present) {
                if (t <= (double)now_s) {
                        *why = "token expired";
                        return AUTH_INVALID;
                }
                c->exp = t > 9e15 ? INT64_C(9000000000000000) : (int64_t)t;
        }
        if (auth_time_claim(payload, "nbf", &present, &t) < 0) {
                *why = "token nbf must be a number";
                return AUTH_INVALID;
        }
        if (present && t > (double)now_s) {
                *why = "token not valid yet";
                return AUTH_INVALID;
        }
        if (!json_is_string(sub) || !auth_id_valid(json_string_value(sub))) {
                *why = "token sub must be an identifier of 1-64 characters [A-Za-z0-9_.:@-]";
                return AUTH_INVALID;
        }
        if (!json_is_string(role) || auth_role_parse(json_string_value(role), &c->role) < 0) {
                *why = "token role must be one of customer, store, rider, admin";
                return AUTH_INVALID;
        }
        if (c->role == AUTH_STORE) {
                if (!json_is_string(store) || !auth_id_valid(json_string_value(store))) {
                        *why = "token of role store must carry store_id";
                        return AUTH_INVALID;
                }
                memcpy(c->store_id, json_string_value(store), strlen(json_string_value(store)) + 1);
        }
        memcpy(c->sub, json_string_value(sub), strlen(json_string_value(sub)) + 1);
        return 0;
}

int auth_verify(const void *secret, size_t secret_len, const char *token, size_t token_len, int64_t now_s,
                AuthClaims *ret, const char **why) {
        const char *dot1, *dot2, *end = token + token_len;
        unsigned char sig[AUTH_SIG_LEN + 8], want[AUTH_SIG_LEN];
        size_t sig_len = 0;
        json_t *header = NULL, *payload = NULL;
        AuthClaims c;
        int r = AUTH_INVALID;

        *why = "malformed token";
        if (token_len == 0 || token_len > AUTH_TOKEN_MAX)
                goto out;
        dot1 = memchr(token, '.', token_len);
        dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
        if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) || dot1 == token || dot2 == dot1 + 1)
                goto out;
        header = auth_part_json(token, (size_t)(dot1 - token));
        if (!header)
                goto out;
        r = auth_header_check(header, why);
        if (r != 0)
                goto out;
        r = AUTH_INVALID;
        *why = "bad token signature";
        if (b64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), sig, sizeof(sig), &sig_len) < 0 ||
            sig_len != AUTH_SIG_LEN)
                goto out;
        if (auth_hmac(secret, secret_len, token, (size_t)(dot2 - token), want) < 0)
                goto out;
        if (CRYPTO_memcmp(sig, want, AUTH_SIG_LEN) != 0)
                goto out;
        *why = "malformed token payload";
        payload = auth_part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
        if (!payload)
                goto out;
        r = auth_claims_read(payload, now_s, &c, why);
        if (r == 0) {
                *ret = c;
                *why = NULL;
        }
out:
        json_decref(header);
        json_decref(payload);
        return r;
}

int auth_sign(const void *secret, size_t secret_len, const AuthClaims *claims, int64_t now_s, int64_t ttl_s, char *buf,
              size_t cap) {
        static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
        unsigned char sig[AUTH_SIG_LEN];
        json_t *payload = NULL;
        char *text = NULL;
        size_t pos, n;
        int r;

        if (!auth_id_valid(claims->sub) || strcmp(auth_role_name(claims->role), "?") == 0 ||
            (claims->role == AUTH_STORE && !auth_id_valid(claims->store_id)))
                return -EINVAL;
        payload = json_pack("{s:s, s:s, s:I, s:I}", "sub", claims->sub, "role", auth_role_name(claims->role), "iat",
                            (json_int_t)now_s, "exp", (json_int_t)(now_s + ttl_s));
        if (payload && claims->role == AUTH_STORE)
                json_object_set_new(payload, "store_id", json_string(claims->store_id));
        text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
        if (!text) {
                r = -ENOMEM;
                goto out;
        }
        r = -ENOSPC;
        pos = b64url_encode((const unsigned char *)header, sizeof(header) - 1, buf, cap);
        if (pos == 0 || pos + 2 > cap)
                goto out;
        buf[pos++] = '.';
        n = b64url_encode((const unsigned char *)text, strlen(text), buf + pos, cap - pos);
        if (n == 0)
                goto out;
        pos += n;
        if (pos + 2 > cap)
                goto out;
        r = auth_hmac(secret, secret_len, buf, pos, sig);
        if (r < 0)
                goto out;
        buf[pos++] = '.';
        r = -ENOSPC;
        n = b64url_encode(sig, sizeof(sig), buf + pos, cap - pos);
        if (n == 0)
                goto out;
        r = 0;
out:
        free(text);
        json_decref(payload);
        return r;
}
