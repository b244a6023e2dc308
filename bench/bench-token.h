/* Bearer tokens for food-bench when /auth/dev-token is off: HS256 JWTs signed with the gateway's secret. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Writes base64url(header).base64url(payload).base64url(HMAC-SHA256) into
 * buf (NUL-terminated). 0, -ENOSPC when cap is too small, -EIO when OpenSSL fails. */
int token_sign_raw(const void *secret, size_t secret_len, const char *header_json, const char *payload_json, char *buf,
                   size_t cap);

/* A token {"sub","role"(,"store_id"),"iat","exp"} valid for ttl_s from now_s, in the format the gateway checks
 * (gateway/gateway-auth.h). store_id may be NULL. 0 or as token_sign_raw, -ENOMEM. */
int token_sign(const void *secret, size_t secret_len, const char *sub, const char *role, const char *store_id,
               int64_t now_s, int64_t ttl_s, char *buf, size_t cap);
