/* Server-Sent Events wire format: Last-Event-ID, frames, end of stream. */
#include "gateway-sse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sse_parse_last_id(const char *text, int64_t *ret) {
        int64_t v = 0;
        size_t n = 0;

        if (!text || !*text) {
                *ret = 0;
                return 0;
        }
        for (; text[n]; n++) {
                if (text[n] < '0' || text[n] > '9' || n >= 18)
                        return -EINVAL;
                v = v * 10 + (text[n] - '0');
        }
        *ret = v;
        return 0;
}

int sse_frame(int64_t version, const char *json, char **ret, size_t *ret_len) {
        size_t len = strlen(json), cap = len + 64;
        char *buf;
        int n;

        if (memchr(json, '\n', len) || memchr(json, '\r', len))
                return -EINVAL;
        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        n = snprintf(buf, cap, "id: %" PRId64 "\nevent: status\ndata: %s\n\n", version, json);
        if (n < 0 || (size_t)n >= cap) {
                free(buf);
                return -EINVAL;
        }
        *ret = buf;
        *ret_len = (size_t)n;
        return 0;
}

SseState sse_state(const char *status, int64_t amount_paid, int64_t amount_refunded) {
        if (!status)
                return SSE_MORE;
        if (strcmp(status, "COMPLETED") == 0 || strcmp(status, "REJECTED") == 0)
                return SSE_DONE;
        if (strcmp(status, "CANCELLED") == 0 || strcmp(status, "REFUSED") == 0)
                return amount_refunded >= amount_paid ? SSE_DONE : SSE_REFUND_DUE;
        return SSE_MORE;
}
