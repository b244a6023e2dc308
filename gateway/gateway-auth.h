/* Bearer tokens: HS256 JWTs carrying sub, role and (for store owners) store_id. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Roles as bits so that a route can allow several. */
typedef enum {
        AUTH_CUSTOMER = 1 << 0,
        AUTH_STORE = 1 << 1,
        AUTH_RIDER = 1 << 2,
        AUTH_ADMIN = 1 << 3,
} AuthRole;

#define AUTH_ID_MAX 64          /* sub and store_id: at most this many bytes */
#define AUTH_TOKEN_MAX 4096     /* longer bearer tokens are refused unread */
#define AUTH_INVALID 1          /* auth_verify: the token is not acceptable */

typedef struct {
        char sub[AUTH_ID_MAX + 1];
        AuthRole role;
        char store_id[AUTH_ID_MAX + 1]; /* "" unless role is AUTH_STORE */
        int64_t exp;                    /* seconds since the epoch, 0 when the token has none */
} AuthClaims;

/* "customer" -> AUTH_CUSTOMER ...; 0 on success, -EINVAL for anything else. */
int auth_role_parse(const char *s, AuthRole *ret);
/* The role's name, or "?" for a value that is not exactly one role. */
const char *auth_role_name(AuthRole role);
/* True for an identifier we accept as sub, store_id or path id:
 * 1..AUTH_ID_MAX bytes of [A-Za-z0-9_.:@-]. */
bool auth_id_valid(const char *s);

/* The signing keys and token rules of a gateway. */
#define AUTH_SECRET_MIN 32           /* bytes of a signing key, at least */
#define AUTH_KID_LEN 16              /* hex characters of a key id */
typedef struct {
        const void *secret; /* signs new tokens; verifies */
        size_t secret_len;
        const void *previous; /* the key before a rotation: still verifies (NULL: none) */
        size_t previous_len;
        char kid[AUTH_KID_LEN + 1], previous_kid[AUTH_KID_LEN + 1]; /* derived from the keys */
        int64_t max_lifetime_s; /* exp - iat (and exp - now) at most this */
        const char *issuer;     /* iss required and equal when not NULL */
        const char *audience;   /* aud required and naming it when not NULL */
} AuthKeys;

/* Fills `k` (keys and strings borrowed): 0, or -EINVAL when a key is shorter than AUTH_SECRET_MIN
 * bytes or the lifetime is not positive. */
int auth_keys_init(AuthKeys *k, const void *secret, size_t secret_len, const void *previous, size_t previous_len,
                   int64_t max_lifetime_s, const char *issuer, const char *audience);

/* Checks `token` (token_len bytes, not NUL-terminated necessarily): three
 * base64url parts, header alg exactly "HS256" (typ JWT if present, no crit,
 * kid naming one of the keys if present: without one, either key may have
 * signed), HMAC-SHA256 signature compared in constant time, payload with sub,
 * role, store_id for stores, exp in the future and at most max_lifetime_s
 * ahead (and past iat when present), nbf in the past when present, iss and
 * aud when the keys require them (against `now_s`).
 * Returns 0 with *ret filled, or AUTH_INVALID with *why set to a static
 * reason for the client; *ret is not written on failure. */
int auth_verify(const AuthKeys *k, const char *token, size_t token_len, int64_t now_s, AuthClaims *ret,
                const char **why);

/* auth_verify, remembering the last tokens that passed (256 slots shared by every thread, the exact bytes): a
 * token seen before skips the signature and JSON and is only checked against its exp. What failed is not
 * remembered. */
int auth_verify_cached(const AuthKeys *k, const char *token, size_t token_len, int64_t now_s, AuthClaims *ret,
                       const char **why);

/* Writes a token for `claims` signed with the current key (its kid in the header, iss and aud when
 * configured), valid from now_s for ttl_s seconds (capped at max_lifetime_s), into buf
 * (NUL-terminated). Returns 0, -EINVAL for invalid claims, or -ENOSPC when cap is too small. */
int auth_sign(const AuthKeys *k, const AuthClaims *claims, int64_t now_s, int64_t ttl_s, char *buf, size_t cap);
