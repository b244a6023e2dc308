/* Unit test of HS256 token checking: tokens are built here independently
 * (own base64url, OpenSSL HMAC) so the module is tested against the JWT
 * format, not against itself. */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway-auth.h"
#include "test-check.h"

static const char secret[] = "test-secret-of-at-least-32-bytes!!";
static const char old_secret[] = "the-key-before-the-rotation-32-bytes";
static int64_t now;
static AuthKeys keys; /* secret, one day at most, no iss/aud */

static void b64url(const unsigned char *in, size_t n, char *out) {
        static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t o = 0;
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                             (i + 2 < n ? in[i + 2] : 0);
                out[o++] = a[(v >> 18) & 63];
                out[o++] = a[(v >> 12) & 63];
                if (i + 1 < n)
                        out[o++] = a[(v >> 6) & 63];
                if (i + 2 < n)
                        out[o++] = a[v & 63];
        }
        out[o] = 0;
}

/* Builds header.payload.signature; md NULL leaves the signature part as `sig` text. */
static void make_token(const char *header, const char *payload, const EVP_MD *md, const char *key, const char *sig,
                       char *out, size_t cap) {
        char h[512], p[1024], s[200];
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        b64url((const unsigned char *)header, strlen(header), h);
        b64url((const unsigned char *)payload, strlen(payload), p);
        snprintf(out, cap, "%s.%s", h, p);
        if (md) {
                HMAC(md, key, (int)strlen(key), (const unsigned char *)out, strlen(out), mac, &mac_len);
                b64url(mac, mac_len, s);
        } else {
                snprintf(s, sizeof(s), "%s", sig);
        }
        snprintf(out + strlen(out), cap - strlen(out), ".%s", s);
}

static int verify(const char *token, AuthClaims *c, const char **why) {
        return auth_verify(&keys, token, strlen(token), now, c, why);
}

/* Expects the payload (signed HS256 with the right secret) to be refused with a reason containing `want`. */
static void expect_refused_payload(const char *what, const char *payload, const char *want) {
        char token[2048], with_exp[1024];
        AuthClaims c;
        const char *why = NULL;
        /* An object without exp gets one, so that it is refused for its own reason. */
        if (payload[0] == '{' && !strstr(payload, "\"exp\""))
                snprintf(with_exp, sizeof(with_exp), "{\"exp\":%lld%s%s", (long long)now + 60, payload[1] == '}' ? "" : ",",
                         payload + 1);
        else
                snprintf(with_exp, sizeof(with_exp), "%s", payload);
        payload = with_exp;
        make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), secret, NULL, token, sizeof(token));
        int r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID, "%s: expected AUTH_INVALID, got %d", what, r);
        CHECK(why && strstr(why, want), "%s: expected reason containing \"%s\", got \"%s\"", what, want,
              why ? why : "(null)");
}

static void test_valid(void) {
        char token[2048], payload[256];
        AuthClaims c;
        const char *why = NULL;
        int r;

        snprintf(payload, sizeof(payload), "{\"sub\":\"cust-1\",\"role\":\"customer\",\"exp\":%lld}",
                 (long long)now + 60);
        make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), secret, NULL, token, sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == 0, "valid token: expected 0, got %d (%s)", r, why ? why : "");
        CHECK(r != 0 || strcmp(c.sub, "cust-1") == 0, "valid token: expected sub cust-1, got %s", c.sub);
        CHECK(r != 0 || c.role == AUTH_CUSTOMER, "valid token: expected role customer, got %s", auth_role_name(c.role));
        CHECK(r != 0 || c.exp == now + 60, "valid token: expected exp %lld, got %lld", (long long)now + 60,
              (long long)c.exp);

        /* A token without exp never expires: refused. */
        make_token("{\"alg\":\"HS256\"}", "{\"sub\":\"r1\",\"role\":\"rider\"}", EVP_sha256(), secret, NULL, token,
                   sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID && why && strstr(why, "no exp"), "token without exp: expected refused, got %d %s", r,
              why ? why : "");

        snprintf(payload, sizeof(payload), "{\"sub\":\"owner\",\"role\":\"store\",\"store_id\":\"st_a\",\"exp\":%lld}",
                 (long long)now + 60);
        make_token("{\"alg\":\"HS256\"}", payload, EVP_sha256(), secret, NULL, token, sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == 0 && c.role == AUTH_STORE && strcmp(c.store_id, "st_a") == 0,
              "store token: expected store st_a, got %d %s %s", r, auth_role_name(c.role), c.store_id);
}

static void test_sign_round_trip(void) {
        AuthClaims in = {.role = AUTH_STORE}, out;
        char token[1024];
        const char *why = NULL;
        int r;

        snprintf(in.sub, sizeof(in.sub), "owner-7");
        snprintf(in.store_id, sizeof(in.store_id), "st_gangnam_bibimbap");
        r = auth_sign(&keys, &in, now, 3600, token, sizeof(token));
        CHECK(r == 0, "auth_sign: expected 0, got %d", r);
        r = verify(token, &out, &why);
        CHECK(r == 0, "signed token: expected 0, got %d (%s)", r, why ? why : "");
        CHECK(r != 0 || (strcmp(out.sub, in.sub) == 0 && out.role == AUTH_STORE &&
                         strcmp(out.store_id, in.store_id) == 0 && out.exp == now + 3600),
              "signed token: expected owner-7/store/st_gangnam_bibimbap/%lld, got %s/%s/%s/%lld",
              (long long)now + 3600, out.sub, auth_role_name(out.role), out.store_id, (long long)out.exp);
        r = auth_verify(&keys, token, strlen(token), now + 3600, &out, &why);
        CHECK(r == AUTH_INVALID, "signed token after its ttl: expected AUTH_INVALID, got %d", r);

        r = auth_sign(&keys, &in, now, 3600, token, 40);
        CHECK(r == -ENOSPC, "auth_sign into a small buffer: expected -ENOSPC, got %d", r);
        in.store_id[0] = 0;
        r = auth_sign(&keys, &in, now, 3600, token, sizeof(token));
        CHECK(r == -EINVAL, "auth_sign store without store_id: expected -EINVAL, got %d", r);
}

static void test_bad_signature(void) {
        char token[2048];
        AuthClaims c;
        const char *why = NULL;
        size_t n;
        int r;

        make_token("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"role\":\"admin\"}", EVP_sha256(), "another secret", NULL,
                   token, sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID && why && strstr(why, "signature"),
              "other secret: expected AUTH_INVALID/signature, got %d/%s", r, why ? why : "");

        make_token("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"role\":\"admin\"}", EVP_sha256(), secret, NULL, token,
                   sizeof(token));
        n = strlen(token);
        token[n - 2] = token[n - 2] == 'A' ? 'B' : 'A';
        r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID, "flipped signature: expected AUTH_INVALID, got %d", r);

        /* Same header and signature, payload changed to escalate the role. */
        make_token("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"role\":\"rider\"}", EVP_sha256(), secret, NULL, token,
                   sizeof(token));
        char forged[2048], payload[256];
        const char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
        b64url((const unsigned char *)"{\"sub\":\"a\",\"role\":\"admin\"}", 27, payload);
        snprintf(forged, sizeof(forged), "%.*s.%s%s", (int)(dot1 - token), token, payload, dot2);
        r = verify(forged, &c, &why);
        CHECK(r == AUTH_INVALID, "payload swapped under a valid signature: expected AUTH_INVALID, got %d", r);

        /* Truncated signature (valid prefix). */
        make_token("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"role\":\"admin\"}", EVP_sha256(), secret, NULL, token,
                   sizeof(token));
        token[strlen(token) - 4] = 0;
        r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID, "truncated signature: expected AUTH_INVALID, got %d", r);
}

static void test_algorithms(void) {
        char token[2048];
        AuthClaims c;
        const char *why = NULL;
        int r;

        make_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"a\",\"role\":\"admin\"}", NULL, NULL, "", token,
                   sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID, "alg none, empty signature: expected AUTH_INVALID, got %d", r);

        make_token("{\"alg\":\"none\"}", "{\"sub\":\"a\",\"role\":\"admin\"}", EVP_sha256(), secret, NULL, token,
                   sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID && why && strstr(why, "HS256"),
              "alg none with a valid HS256 MAC: expected AUTH_INVALID/HS256, got %d/%s", r, why ? why : "");

        make_token("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "{\"sub\":\"a\",\"role\":\"admin\"}", EVP_sha512(), secret,
                   NULL, token, sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID && why && strstr(why, "HS256"),
              "alg HS512 correctly signed: expected AUTH_INVALID/HS256, got %d/%s", r, why ? why : "");

        make_token("{\"alg\":\"hs256\"}", "{\"sub\":\"a\",\"role\":\"admin\"}", EVP_sha256(), secret, NULL, token,
                   sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID, "alg in lower case: expected AUTH_INVALID, got %d", r);

        make_token("{\"typ\":\"JWT\"}", "{\"sub\":\"a\",\"role\":\"admin\"}", EVP_sha256(), secret, NULL, token,
                   sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID, "no alg: expected AUTH_INVALID, got %d", r);

        make_token("{\"alg\":\"HS256\",\"alg\":\"none\"}", "{\"sub\":\"a\",\"role\":\"admin\"}", EVP_sha256(), secret,
                   NULL, token, sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID, "duplicate alg: expected AUTH_INVALID, got %d", r);

        make_token("{\"alg\":\"HS256\",\"crit\":[\"b64\"]}", "{\"sub\":\"a\",\"role\":\"admin\"}", EVP_sha256(),
                   secret, NULL, token, sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == AUTH_INVALID, "crit header: expected AUTH_INVALID, got %d", r);
}

static void test_claims(void) {
        char payload[256];

        snprintf(payload, sizeof(payload), "{\"sub\":\"a\",\"role\":\"customer\",\"exp\":%lld}", (long long)now - 1);
        expect_refused_payload("expired", payload, "expired");
        snprintf(payload, sizeof(payload), "{\"sub\":\"a\",\"role\":\"customer\",\"exp\":%lld}", (long long)now);
        expect_refused_payload("exp == now", payload, "expired");
        expect_refused_payload("exp not a number", "{\"sub\":\"a\",\"role\":\"customer\",\"exp\":\"tomorrow\"}",
                               "exp");
        snprintf(payload, sizeof(payload), "{\"sub\":\"a\",\"role\":\"customer\",\"nbf\":%lld}", (long long)now + 100);
        expect_refused_payload("nbf in the future", payload, "not valid yet");
        expect_refused_payload("missing role", "{\"sub\":\"a\"}", "role");
        expect_refused_payload("unknown role", "{\"sub\":\"a\",\"role\":\"superuser\"}", "role");
        expect_refused_payload("role not a string", "{\"sub\":\"a\",\"role\":1}", "role");
        expect_refused_payload("missing sub", "{\"role\":\"customer\"}", "sub");
        expect_refused_payload("empty sub", "{\"sub\":\"\",\"role\":\"customer\"}", "sub");
        expect_refused_payload("sub with a slash", "{\"sub\":\"a/b\",\"role\":\"customer\"}", "sub");
        expect_refused_payload("sub too long",
                               "{\"sub\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
                               "\"role\":\"customer\"}",
                               "sub");
        expect_refused_payload("store without store_id", "{\"sub\":\"a\",\"role\":\"store\"}", "store_id");
        expect_refused_payload("store with empty store_id", "{\"sub\":\"a\",\"role\":\"store\",\"store_id\":\"\"}",
                               "store_id");
        expect_refused_payload("duplicate role", "{\"sub\":\"a\",\"role\":\"rider\",\"role\":\"admin\"}", "payload");
        expect_refused_payload("payload not an object", "[\"a\"]", "payload");
}

static void test_malformed(void) {
        static const char *const tokens[] = {
                "",
                "abc",
                "a.b",
                "a.b.c.d",
                ".eyJzdWIiOiJhIn0.c2ln",
                "eyJhbGciOiJIUzI1NiJ9..c2ln",
                "eyJhbGciOiJIUzI1NiJ9=.eyJzdWIiOiJhIn0.c2ln",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln!",
                "eyJhbGciOiJIUzI1NiJ9+.eyJzdWIiOiJhIn0.c2ln",
        };
        AuthClaims c;
        const char *why = NULL;
        char big[AUTH_TOKEN_MAX + 10];

        for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
                int r = verify(tokens[i], &c, &why);
                CHECK(r == AUTH_INVALID, "malformed token \"%s\": expected AUTH_INVALID, got %d", tokens[i], r);
        }
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        big[10] = '.';
        big[20] = '.';
        CHECK(verify(big, &c, &why) == AUTH_INVALID, "oversized token: expected AUTH_INVALID");
}

static void test_roles_and_ids(void) {
        AuthRole role;
        CHECK(auth_role_parse("admin", &role) == 0 && role == AUTH_ADMIN, "parse admin");
        CHECK(auth_role_parse("Admin", &role) < 0, "role names are case sensitive");
        CHECK(strcmp(auth_role_name(AUTH_STORE | AUTH_RIDER), "?") == 0, "a role set has no single name");
        CHECK(auth_id_valid("ord_0190abcdef01a1b2c3d4e5f6"), "order id is an id");
        CHECK(!auth_id_valid(""), "empty is not an id");
        CHECK(!auth_id_valid("a b"), "space is not allowed in an id");
        CHECK(!auth_id_valid("..%2f"), "percent is not allowed in an id");
}

/* Lifetime cap, iss and aud, key ids and rotation, short keys. */
static void test_rules(void) {
        char token[2048], payload[512], header[128];
        AuthClaims c, in = {.role = AUTH_CUSTOMER};
        AuthKeys rotated, strict, old_only;
        const char *why = NULL;

        snprintf(payload, sizeof(payload), "{\"sub\":\"a\",\"role\":\"customer\",\"exp\":%lld}",
                 (long long)now + 86400 + 60);
        expect_refused_payload("exp beyond the maximum lifetime", payload, "lifetime");
        snprintf(payload, sizeof(payload), "{\"sub\":\"a\",\"role\":\"customer\",\"iat\":%lld,\"exp\":%lld}",
                 (long long)now - 86400, (long long)now + 120);
        expect_refused_payload("exp - iat beyond the maximum lifetime", payload, "lifetime");
        snprintf(payload, sizeof(payload), "{\"sub\":\"a\",\"role\":\"customer\",\"iat\":%lld,\"exp\":%lld}",
                 (long long)now - 60, (long long)now + 86400 - 120);
        make_token("{\"alg\":\"HS256\"}", payload, EVP_sha256(), secret, NULL, token, sizeof(token));
        CHECK(verify(token, &c, &why) == 0, "a lifetime just under the maximum: %s", why ? why : "");

        CHECK(auth_keys_init(&strict, "short", 5, NULL, 0, 3600, NULL, NULL) == -EINVAL, "a 5-byte key is refused");
        CHECK(auth_keys_init(&strict, secret, strlen(secret), "short", 5, 3600, NULL, NULL) == -EINVAL,
              "a 5-byte previous key is refused");
        CHECK(auth_keys_init(&strict, secret, strlen(secret), NULL, 0, 0, NULL, NULL) == -EINVAL, "a lifetime of 0");

        /* iss and aud, when required. */
        CHECK(auth_keys_init(&strict, secret, strlen(secret), NULL, 0, 3600, "food-saga", "api") == 0, "strict keys");
        snprintf(payload, sizeof(payload), "{\"sub\":\"a\",\"role\":\"customer\",\"exp\":%lld,\"iss\":\"food-saga\","
                 "\"aud\":[\"other\",\"api\"]}", (long long)now + 60);
        make_token("{\"alg\":\"HS256\"}", payload, EVP_sha256(), secret, NULL, token, sizeof(token));
        CHECK(auth_verify(&strict, token, strlen(token), now, &c, &why) == 0, "iss and aud in a list: %s",
              why ? why : "");
        const char *bad[] = {"\"iss\":\"evil\",\"aud\":\"api\"", "\"aud\":\"api\"", "\"iss\":\"food-saga\",\"aud\":\"web\"",
                             "\"iss\":\"food-saga\""};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(payload, sizeof(payload), "{\"sub\":\"a\",\"role\":\"customer\",\"exp\":%lld,%s}",
                         (long long)now + 60, bad[i]);
                make_token("{\"alg\":\"HS256\"}", payload, EVP_sha256(), secret, NULL, token, sizeof(token));
                CHECK(auth_verify(&strict, token, strlen(token), now, &c, &why) == AUTH_INVALID, "iss/aud case %zu", i);
        }
        snprintf(in.sub, sizeof(in.sub), "signed-strict");
        CHECK(auth_sign(&strict, &in, now, 86400, token, sizeof(token)) == 0, "signing with iss/aud");
        CHECK(auth_verify(&strict, token, strlen(token), now, &c, &why) == 0, "a token it signed: %s", why ? why : "");
        CHECK(c.exp == now + 3600, "the ttl is capped at the maximum lifetime: exp %lld", (long long)c.exp);

        /* Rotation: the new key signs; a token of the old key verifies while it is the previous one. */
        CHECK(auth_keys_init(&old_only, old_secret, strlen(old_secret), NULL, 0, 86400, NULL, NULL) == 0, "old keys");
        CHECK(auth_keys_init(&rotated, secret, strlen(secret), old_secret, strlen(old_secret), 86400, NULL, NULL) == 0,
              "rotated keys");
        CHECK(strcmp(rotated.kid, keys.kid) == 0 && strcmp(rotated.previous_kid, old_only.kid) == 0 &&
                      strcmp(keys.kid, old_only.kid) != 0 && strlen(keys.kid) == AUTH_KID_LEN,
              "key ids follow the keys: %s %s %s", keys.kid, rotated.previous_kid, old_only.kid);
        CHECK(auth_sign(&old_only, &in, now, 600, token, sizeof(token)) == 0, "signed with the old key");
        CHECK(auth_verify(&rotated, token, strlen(token), now, &c, &why) == 0, "old key's token during the rotation: %s",
              why ? why : "");
        CHECK(auth_verify(&keys, token, strlen(token), now, &c, &why) == AUTH_INVALID && strstr(why, "kid"),
              "old key's token once the key is retired: %s", why ? why : "");
        snprintf(payload, sizeof(payload), "{\"sub\":\"a\",\"role\":\"customer\",\"exp\":%lld}", (long long)now + 60);
        make_token("{\"alg\":\"HS256\"}", payload, EVP_sha256(), old_secret, NULL, token, sizeof(token));
        CHECK(auth_verify(&rotated, token, strlen(token), now, &c, &why) == 0, "no kid, old key, during the rotation");
        CHECK(auth_verify(&keys, token, strlen(token), now, &c, &why) == AUTH_INVALID, "no kid, old key, retired");
        /* A kid naming the current key does not let the old key's signature through. */
        snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"kid\":\"%s\"}", keys.kid);
        make_token(header, payload, EVP_sha256(), old_secret, NULL, token, sizeof(token));
        CHECK(auth_verify(&rotated, token, strlen(token), now, &c, &why) == AUTH_INVALID, "kid of one key, MAC of the other");
        make_token("{\"alg\":\"HS256\",\"kid\":7}", payload, EVP_sha256(), secret, NULL, token, sizeof(token));
        CHECK(verify(token, &c, &why) == AUTH_INVALID, "a kid that is not a string");
}

/* The per-thread cache: the same claims again, nothing past exp, not a byte changed, not with other keys. */
static void test_cached(void) {
        AuthClaims in = {.role = AUTH_CUSTOMER}, out, again;
        AuthKeys other;
        char token[1024];
        const char *why = NULL;
        int r;

        snprintf(in.sub, sizeof(in.sub), "cached-customer");
        CHECK(auth_sign(&keys, &in, now, 600, token, sizeof(token)) == 0, "auth_sign for the cache test");
        r = auth_verify_cached(&keys, token, strlen(token), now, &out, &why);
        CHECK(r == 0 && strcmp(out.sub, "cached-customer") == 0, "first verification: %d (%s)", r, why ? why : "");
        memset(&again, 0, sizeof(again));
        r = auth_verify_cached(&keys, token, strlen(token), now + 1, &again, &why);
        CHECK(r == 0 && memcmp(&again, &out, sizeof(out)) == 0, "from the cache: %d, sub %s", r, again.sub);
        r = auth_verify_cached(&keys, token, strlen(token), now + 600, &again, &why);
        CHECK(r == AUTH_INVALID && why && strstr(why, "expired"), "a cached token at its exp: %d (%s)", r,
              why ? why : "");
        token[strlen(token) - 2] ^= 1; /* the signature's last bytes */
        r = auth_verify_cached(&keys, token, strlen(token), now + 1, &again, &why);
        CHECK(r == AUTH_INVALID, "a cached token with a changed signature: expected AUTH_INVALID, got %d", r);
        token[strlen(token) - 2] ^= 1;
        CHECK(auth_keys_init(&other, "another-secret-of-32-bytes-or-more!!", 36, NULL, 0, 86400, NULL, NULL) == 0,
              "auth_keys_init (other)");
        r = auth_verify_cached(&other, token, strlen(token), now + 1, &again, &why);
        CHECK(r == AUTH_INVALID, "a token cached for one key, checked with another: expected AUTH_INVALID, got %d",
              r);

        /* A clock set back before a cached token's nbf: verified again, and refused. */
        char payload[256], nbf_token[1024];
        snprintf(payload, sizeof(payload), "{\"sub\":\"clock\",\"role\":\"customer\",\"nbf\":%lld,\"exp\":%lld}",
                 (long long)now, (long long)now + 600);
        make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), secret, NULL, nbf_token,
                   sizeof(nbf_token));
        r = auth_verify_cached(&keys, nbf_token, strlen(nbf_token), now, &again, &why);
        CHECK(r == 0, "a token with nbf now: %d (%s)", r, why ? why : "");
        r = auth_verify_cached(&keys, nbf_token, strlen(nbf_token), now - 3600, &again, &why);
        CHECK(r == AUTH_INVALID, "a cached token checked at a clock set back before its nbf: expected AUTH_INVALID, "
              "got %d", r);
}

typedef struct {
        const AuthKeys *k;
        const char *token;
        int r;
} CacheCall;

static void *cache_call(void *arg) {
        CacheCall *c = arg;
        AuthClaims out;
        const char *why = NULL;
        c->r = auth_verify_cached(c->k, c->token, strlen(c->token), now + 1, &out, &why);
        return NULL;
}

/* One cache for every thread: a token verified on one thread is found on another. Seen from outside as a
 * token that passes on a second thread after its keys changed in place (only a cache hit skips them). */
static void test_cache_shared(void) {
        static AuthKeys k;
        AuthClaims in = {.role = AUTH_RIDER};
        char token[1024];
        pthread_t t;
        CHECK(auth_keys_init(&k, "shared-cache-secret-of-32-bytes-or-more", 39, NULL, 0, 86400, NULL, NULL) == 0,
              "auth_keys_init (shared)");
        snprintf(in.sub, sizeof(in.sub), "shared-rider");
        CHECK(auth_sign(&k, &in, now, 600, token, sizeof(token)) == 0, "auth_sign for the shared cache test");
        CacheCall first = {&k, token, -1}, second = {&k, token, -1};
        pthread_create(&t, NULL, cache_call, &first);
        pthread_join(t, NULL);
        CHECK(first.r == 0, "verified on a first thread: %d", first.r);
        CHECK(auth_keys_init(&k, "a-different-secret-of-32-bytes-or-more", 38, NULL, 0, 86400, NULL, NULL) == 0,
              "auth_keys_init (changed)");
        pthread_create(&t, NULL, cache_call, &second);
        pthread_join(t, NULL);
        CHECK(second.r == 0, "a second thread found the first one's verification: %d", second.r);
}

/* HMAC's key handling (RFC 2104): a key longer than SHA-256's 64-byte block is hashed first, one of exactly 64
 * bytes is used as it is; both verify what OpenSSL's own HMAC signed, and the other's signature is refused. */
static void test_key_lengths(void) {
        static const char block[] = "a-secret-of-exactly-sixty-four-bytes-one-sha256-block-0123456789";
        static const char longer[] = "a-secret-longer-than-one-sha256-block-of-sixty-four-bytes-is-hashed-first-0123456789";
        const char *secrets[] = {block, longer};
        AuthKeys k[2];
        char token[2048], payload[256];

        _Static_assert(sizeof(block) - 1 == 64, "the block-sized key is 64 bytes");
        _Static_assert(sizeof(longer) - 1 > 64, "the long key is longer than a block");
        snprintf(payload, sizeof(payload), "{\"sub\":\"cust-k\",\"role\":\"customer\",\"exp\":%lld}", (long long)now + 60);
        for (int i = 0; i < 2; i++)
                CHECK(auth_keys_init(&k[i], secrets[i], strlen(secrets[i]), NULL, 0, 86400, NULL, NULL) == 0,
                      "auth_keys_init (%zu-byte key)", strlen(secrets[i]));
        for (int i = 0; i < 2; i++) {
                AuthClaims c;
                const char *why = NULL;
                make_token("{\"alg\":\"HS256\"}", payload, EVP_sha256(), secrets[i], NULL, token, sizeof(token));
                int r = auth_verify(&k[i], token, strlen(token), now, &c, &why);
                CHECK(r == 0, "a %zu-byte key: OpenSSL's HMAC verifies: %d (%s)", strlen(secrets[i]), r, why ? why : "");
                r = auth_verify(&k[1 - i], token, strlen(token), now, &c, &why);
                CHECK(r == AUTH_INVALID, "a %zu-byte key's token under the other key: %d", strlen(secrets[i]), r);
        }
}

int main(void) {
        now = (int64_t)time(NULL);
        if (auth_keys_init(&keys, secret, strlen(secret), NULL, 0, 86400, NULL, NULL) != 0) {
                printf("auth_keys_init failed\n");
                return 1;
        }
        test_rules();
        test_valid();
        test_cached();
        test_cache_shared();
        test_sign_round_trip();
        test_bad_signature();
        test_algorithms();
        test_claims();
        test_malformed();
        test_roles_and_ids();
        test_key_lengths();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("all auth checks passed\n");
        return 0;
}
