/* HS256 JWT verification and signing: HMAC (RFC 2104) over OpenSSL's SHA256_Init/Update/Final, its hash alone
 * with no library state to start (OpenSSL's HMAC and EVP bring up its providers, about 2 MB of the gateway's memory;
 * libcrypto is loaded anyway, by libnats); the algorithm is pinned. */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co: the digest functions, no provider behind them */
#include "gateway-auth.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
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

static void auth_hmac(const void *secret, size_t secret_len, const char *data, size_t n,
                      unsigned char out[AUTH_SIG_LEN]) {
        unsigned char key[SHA256_CBLOCK] = {0}, pad[SHA256_CBLOCK], inner[SHA256_DIGEST_LENGTH];
        SHA256_CTX ctx;
        _Static_assert(AUTH_SIG_LEN == SHA256_DIGEST_LENGTH, "an HS256 signature is one SHA-256 digest");

        /* A key longer than a block is its digest; a shorter one is padded with zeros. */
        if (secret_len > SHA256_CBLOCK) {
                SHA256_Init(&ctx);
                SHA256_Update(&ctx, secret, secret_len);
                SHA256_Final(key, &ctx);
        } else
                memcpy(key, secret, secret_len);
        for (size_t i = 0; i < SHA256_CBLOCK; i++)
                pad[i] = key[i] ^ 0x36;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, pad, sizeof(pad));
        SHA256_Update(&ctx, data, n);
        SHA256_Final(inner, &ctx);
        for (size_t i = 0; i < SHA256_CBLOCK; i++)
                pad[i] = key[i] ^ 0x5c;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, pad, sizeof(pad));
        SHA256_Update(&ctx, inner, sizeof(inner));
        SHA256_Final(out, &ctx);
        OPENSSL_cleanse(key, sizeof(key));
        OPENSSL_cleanse(pad, sizeof(pad));
        OPENSSL_cleanse(inner, sizeof(inner));
        OPENSSL_cleanse(&ctx, sizeof(ctx));
}

/* A key's id: HMAC of a fixed text under it, 8 bytes in hex (names the key, reveals nothing of it). */
static void auth_kid(const void *secret, size_t secret_len, char out[AUTH_KID_LEN + 1]) {
        static const char label[] = "food-saga key id";
        unsigned char mac[AUTH_SIG_LEN];
        auth_hmac(secret, secret_len, label, sizeof(label) - 1, mac);
        for (int i = 0; i < AUTH_KID_LEN / 2; i++)
                snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

int auth_keys_init(AuthKeys *k, const void *secret, size_t secret_len, const void *previous, size_t previous_len,
                   int64_t max_lifetime_s, const char *issuer, const char *audience) {
        memset(k, 0, sizeof(*k));
        if (!secret || secret_len < AUTH_SECRET_MIN || (previous && previous_len < AUTH_SECRET_MIN) ||
            max_lifetime_s <= 0)
                return -EINVAL;
        *k = (AuthKeys){.secret = secret, .secret_len = secret_len, .previous = previous,
                        .previous_len = previous ? previous_len : 0, .max_lifetime_s = max_lifetime_s,
                        .issuer = issuer && *issuer ? issuer : NULL, .audience = audience && *audience ? audience : NULL};
        auth_kid(secret, secret_len, k->kid);
        if (previous)
                auth_kid(previous, previous_len, k->previous_kid);
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
        json_t *alg = json_object_get(header, "alg"), *typ = json_object_get(header, "typ"),
               *kid = json_object_get(header, "kid");

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
        if (kid && !json_is_string(kid)) {
                *why = "token kid must be a string";
                return AUTH_INVALID;
        }
        return 0;
}

/* Whether the signature `sig` over data[0..n) is one of `k`'s keys' (only the key `kid` names,
 * when the header names one). 0, or AUTH_INVALID with *why. */
static int auth_signature_check(const AuthKeys *k, const char *kid, const char *data, size_t n,
                                const unsigned char sig[AUTH_SIG_LEN], const char **why) {
        const void *keys[2] = {k->secret, k->previous};
        size_t lens[2] = {k->secret_len, k->previous_len};
        const char *kids[2] = {k->kid, k->previous_kid};
        unsigned char want[AUTH_SIG_LEN];
        bool named = false;

        for (int i = 0; i < 2; i++) {
                if (!keys[i] || (kid && strcmp(kid, kids[i]) != 0))
                        continue;
                named = true;
                auth_hmac(keys[i], lens[i], data, n, want);
                if (CRYPTO_memcmp(sig, want, AUTH_SIG_LEN) == 0)
                        return 0;
        }
        *why = kid && !named ? "token kid names no key of this gateway (retired?)" : "bad token signature";
        return AUTH_INVALID;
}

/* Whether `aud` (a string or an array of strings) names `want`. */
static bool auth_audience_has(json_t *aud, const char *want) {
        size_t i;
        json_t *v;
        if (json_is_string(aud))
                return strcmp(json_string_value(aud), want) == 0;
        if (json_is_array(aud))
                json_array_foreach(aud, i, v) {
                        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
                                return true;
                }
        return false;
}

static int auth_claims_read(const AuthKeys *k, json_t *payload, int64_t now_s, AuthClaims *c, const char **why) {
        json_t *sub = json_object_get(payload, "sub"), *role = json_object_get(payload, "role"),
               *store = json_object_get(payload, "store_id"), *iss = json_object_get(payload, "iss");
        bool present, has_iat;
        double t = 0, iat = 0;

        memset(c, 0, sizeof(*c));
        if (auth_time_claim(payload, "exp", &present, &t) < 0) {
                *why = "token exp must be a number";
                return AUTH_INVALID;
        }
        if (!present) {
                *why = "token has no exp: every token must expire";
                return AUTH_INVALID;
        }
        if (t <= (double)now_s) {
                *why = "token expired";
                return AUTH_INVALID;
        }
        if (auth_time_claim(payload, "iat", &has_iat, &iat) < 0) {
                *why = "token iat must be a number";
                return AUTH_INVALID;
        }
        if (t - (double)now_s > (double)k->max_lifetime_s || (has_iat && t - iat > (double)k->max_lifetime_s)) {
                *why = "token lifetime over the gateway's maximum (JWT_MAX_LIFETIME_S)";
                return AUTH_INVALID;
        }
        c->exp = (int64_t)t;
        if (k->issuer && (!json_is_string(iss) || strcmp(json_string_value(iss), k->issuer) != 0)) {
                *why = "token iss is not this platform's issuer";
                return AUTH_INVALID;
        }
        if (k->audience && !auth_audience_has(json_object_get(payload, "aud"), k->audience)) {
                *why = "token aud does not name this platform";
                return AUTH_INVALID;
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

int auth_verify(const AuthKeys *k, const char *token, size_t token_len, int64_t now_s, AuthClaims *ret,
                const char **why) {
        const char *dot1, *dot2, *end = token + token_len;
        unsigned char sig[AUTH_SIG_LEN + 8];
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
        if (auth_signature_check(k, json_string_value(json_object_get(header, "kid")), token, (size_t)(dot2 - token),
                                 sig, why) != 0) {
                r = AUTH_INVALID;
                goto out;
        }
        *why = "malformed token payload";
        payload = auth_part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
        if (!payload)
                goto out;
        r = auth_claims_read(k, payload, now_s, &c, why);
        if (r == 0) {
                *ret = c;
                *why = NULL;
        }
out:
        json_decref(header);
        json_decref(payload);
        return r;
}

/* The tokens verified lately, shared by every civetweb thread (a client's keep-alive connections land on any of
 * them; a cache per thread missed most of the time): a slot per hash of the whole token, holding the token
 * itself, so only the exact bytes that passed find their claims again. Longer tokens than a slot holds are
 * verified every time. A slot is read and written under one of AUTH_CACHE_LOCKS locks. */
#define AUTH_CACHE_SLOTS 256
#define AUTH_CACHE_LOCKS 32
#define AUTH_CACHE_TOKEN_MAX 768
typedef struct {
        const AuthKeys *keys;
        size_t len;
        int64_t verified_at; /* now_s when it passed: a clock set back before it verifies again */
        AuthClaims claims;
        char token[AUTH_CACHE_TOKEN_MAX];
} AuthCacheSlot;
static AuthCacheSlot auth_cache[AUTH_CACHE_SLOTS];
static pthread_mutex_t auth_cache_locks[AUTH_CACHE_LOCKS];
static pthread_once_t auth_cache_once = PTHREAD_ONCE_INIT;

static void auth_cache_init(void) {
        for (int i = 0; i < AUTH_CACHE_LOCKS; i++)
                pthread_mutex_init(&auth_cache_locks[i], NULL);
}

static uint64_t auth_token_hash(const char *s, size_t n) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (size_t i = 0; i < n; i++)
                h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
        return h;
}

int auth_verify_cached(const AuthKeys *k, const char *token, size_t token_len, int64_t now_s, AuthClaims *ret,
                       const char **why) {
        size_t i = (size_t)(auth_token_hash(token, token_len) % AUTH_CACHE_SLOTS);
        AuthCacheSlot *slot = &auth_cache[i];
        pthread_mutex_t *lock = &auth_cache_locks[i % AUTH_CACHE_LOCKS];
        bool hit = false;
        int r = 0;

        /* Whatever passed once passes until its exp while the clock goes forward: nbf and iat lie further behind,
         * exp - now only shrinks. Compared in constant time: the slot holds another client's valid token. */
        pthread_once(&auth_cache_once, auth_cache_init);
        pthread_mutex_lock(lock);
        if (slot->keys == k && slot->len == token_len && now_s >= slot->verified_at &&
            CRYPTO_memcmp(slot->token, token, token_len) == 0) {
                hit = true;
                if (slot->claims.exp > now_s) {
                        *ret = slot->claims;
                        *why = NULL;
                        r = 0;
                } else {
                        *why = "token expired";
                        r = AUTH_INVALID;
                }
        }
        pthread_mutex_unlock(lock);
        if (hit)
                return r;
        r = auth_verify(k, token, token_len, now_s, ret, why);
        if (r == 0 && token_len <= AUTH_CACHE_TOKEN_MAX) {
                pthread_mutex_lock(lock);
                slot->keys = k;
                slot->len = token_len;
                slot->verified_at = now_s;
                slot->claims = *ret;
                memcpy(slot->token, token, token_len);
                pthread_mutex_unlock(lock);
        }
        return r;
}

int auth_sign(const AuthKeys *k, const AuthClaims *claims, int64_t now_s, int64_t ttl_s, char *buf, size_t cap) {
        char header[64];
        unsigned char sig[AUTH_SIG_LEN];
        json_t *payload = NULL;
        char *text = NULL;
        size_t pos, n;
        int r;

        if (!auth_id_valid(claims->sub) || strcmp(auth_role_name(claims->role), "?") == 0 ||
            (claims->role == AUTH_STORE && !auth_id_valid(claims->store_id)))
                return -EINVAL;
        if (ttl_s > k->max_lifetime_s)
                ttl_s = k->max_lifetime_s;
        snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", k->kid);
        payload = json_pack("{s:s, s:s, s:I, s:I}", "sub", claims->sub, "role", auth_role_name(claims->role), "iat",
                            (json_int_t)now_s, "exp", (json_int_t)(now_s + ttl_s));
        if (payload && claims->role == AUTH_STORE)
                json_object_set_new(payload, "store_id", json_string(claims->store_id));
        if (payload && k->issuer)
                json_object_set_new(payload, "iss", json_string(k->issuer));
        if (payload && k->audience)
                json_object_set_new(payload, "aud", json_string(k->audience));
        text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
        if (!text) {
                r = -ENOMEM;
                goto out;
        }
        r = -ENOSPC;
        pos = b64url_encode((const unsigned char *)header, strlen(header), buf, cap);
        if (pos == 0 || pos + 2 > cap)
                goto out;
        buf[pos++] = '.';
        n = b64url_encode((const unsigned char *)text, strlen(text), buf + pos, cap - pos);
        if (n == 0)
                goto out;
        pos += n;
        if (pos + 2 > cap)
                goto out;
        auth_hmac(k->secret, k->secret_len, buf, pos, sig);
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
