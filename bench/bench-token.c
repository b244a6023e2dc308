/* HS256 JWT signing with OpenSSL's HMAC and jansson for the claims. */
#include "bench-token.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

/* Appends the base64url (no padding) of `n` bytes at buf+*len. -ENOSPC if it does not fit with a NUL. */
static int b64url_append(const unsigned char *in, size_t n, char *buf, size_t cap, size_t *len) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t need = (n * 4 + 2) / 3;
        if (*len + need + 1 > cap)
                return -ENOSPC;
        char *o = buf + *len;
        size_t i = 0;
        for (; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
                *o++ = alphabet[v >> 18 & 63];
                *o++ = alphabet[v >> 12 & 63];
                *o++ = alphabet[v >> 6 & 63];
                *o++ = alphabet[v & 63];
        }
        if (n - i == 1) {
                uint32_t v = (uint32_t)in[i] << 16;
                *o++ = alphabet[v >> 18 & 63];
                *o++ = alphabet[v >> 12 & 63];
        } else if (n - i == 2) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
                *o++ = alphabet[v >> 18 & 63];
                *o++ = alphabet[v >> 12 & 63];
                *o++ = alphabet[v >> 6 & 63];
        }
        *o = '\0';
        *len = (size_t)(o - buf);
        return 0;
}

int token_sign_raw(const void *secret, size_t secret_len, const char *header_json, const char *payload_json, char *buf,
                   size_t cap) {
        size_t len = 0;
        int r;
        if ((r = b64url_append((const unsigned char *)header_json, strlen(header_json), buf, cap, &len)) < 0)
                return r;
        if (len + 2 > cap)
                return -ENOSPC;
        buf[len++] = '.';
        if ((r = b64url_append((const unsigned char *)payload_json, strlen(payload_json), buf, cap, &len)) < 0)
                return r;
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned mac_len = 0;
        if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)buf, len, mac, &mac_len))
                return -EIO;
        if (len + 2 > cap)
                return -ENOSPC;
        buf[len++] = '.';
        return b64url_append(mac, mac_len, buf, cap, &len);
}

int token_sign(const void *secret, size_t secret_len, const char *sub, const char *role, const char *store_id,
               int64_t now_s, int64_t ttl_s, char *buf, size_t cap) {
        json_t *claims = json_pack("{s:s, s:s, s:I, s:I}", "sub", sub, "role", role, "iat", (json_int_t)now_s, "exp",
                                   (json_int_t)(now_s + ttl_s));
        char *payload = NULL;
        int r = -ENOMEM;
        if (!claims)
                goto out;
        if (store_id && json_object_set_new(claims, "store_id", json_string(store_id)) < 0)
                goto out;
        payload = json_dumps(claims, JSON_COMPACT);
        if (!payload)
                goto out;
        r = token_sign_raw(secret, secret_len, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, buf, cap);
out:
        free(payload);
        json_decref(claims);
        return r;
}
