/* Unit test of HS256 token checking: tokens are built here independently
 * (own base64url, OpenSSL HMAC) so the module is tested against the JWT
 * format, not against itself. */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway-auth.h"
#include "test-check.h"

static const char secret[] = "test-secret-of-at-least-32-bytes!!";
static int64_t now;

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
        return auth_verify(secret, strlen(secret), token, strlen(token), now, c, why);
}

/* Expects the payload (signed HS256 with the right secret) to be refused with a reason containing `want`. */
static void expect_refused_payload(const char *what, const char *payload, const char *want) {
        char token[2048];
        AuthClaims c;
        const char *why = NULL;
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

        /* No exp at all is accepted (dev tokens always carry one). */
        make_token("{\"alg\":\"HS256\"}", "{\"sub\":\"r1\",\"role\":\"rider\"}", EVP_sha256(), secret, NULL, token,
                   sizeof(token));
        r = verify(token, &c, &why);
        CHECK(r == 0 && c.role == AUTH_RIDER && c.exp == 0, "token without exp: expected rider/0, got %d %s %lld", r,
              auth_role_name(c.role), (long long)c.exp);

        make_token("{\"alg\":\"HS256\"}", "{\"sub\":\"owner\",\"role\":\"store\",\"store_id\":\"st_a\"}", EVP_sha256(),
                   secret, NULL, token, sizeof(token));
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
        r = auth_sign(secret, strlen(secret), &in, now, 3600, token, sizeof(token));
        CHECK(r == 0, "auth_sign: expected 0, got %d", r);
        r = verify(token, &out, &why);
        CHECK(r == 0, "signed token: expected 0, got %d (%s)", r, why ? why : "");
        CHECK(r != 0 || (strcmp(out.sub, in.sub) == 0 && out.role == AUTH_STORE &&
                         strcmp(out.store_id, in.store_id) == 0 && out.exp == now + 3600),
              "signed token: expected owner-7/store/st_gangnam_bibimbap/%lld, got %s/%s/%s/%lld",
              (long long)now + 3600, out.sub, auth_role_name(out.role), out.store_id, (long long)out.exp);
        r = auth_verify(secret, strlen(secret), token, strlen(token), now + 3600, &out, &why);
        CHECK(r == AUTH_INVALID, "signed token after its ttl: expected AUTH_INVALID, got %d", r);

        r = auth_sign(secret, strlen(secret), &in, now, 3600, token, 40);
        CHECK(r == -ENOSPC, "auth_sign into a small buffer: expected -ENOSPC, got %d", r);
        in.store_id[0] = 0;
        r = auth_sign(secret, strlen(secret), &in, now, 3600, token, sizeof(token));
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

int main(void) {
        now = (int64_t)time(NULL);
        test_valid();
        test_sign_round_trip();
        test_bad_signature();
        test_algorithms();
        test_claims();
        test_malformed();
        test_roles_and_ids();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("all auth checks passed\n");
        return 0;
}
