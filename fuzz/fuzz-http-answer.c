/* libFuzzer harness of the HTTP client's answer reading (lib/http-client.c, http_response_parse): any bytes from
 * a provider or a webhook, read whole and as a connection that closed after them. A complete answer's body lies
 * inside what was read, its status is a final one, and reading the same bytes again says the same. */
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "http-client.h"

static void once(const uint8_t *data, size_t size, bool eof) {
        char *buf = malloc(size ? size : 1), *again = malloc(size ? size : 1);
        long status = 0, status2 = 0;
        int64_t ra = 0, ra2 = 0;
        bool keep = false, keep2 = false;
        size_t off = 0, len = 0, end = 0, off2 = 0, len2 = 0, end2 = 0;

        if (!buf || !again)
                abort();
        memcpy(buf, data, size);
        memcpy(again, data, size);
        int r = http_response_parse(buf, size, eof, &status, &ra, &keep, &off, &len, &end);
        FUZZ_CHECK(r >= -1 && r <= 1, "result %d", r);
        if (r == 1) {
                FUZZ_CHECK(status >= 200 && status <= 599, "final status %ld", status);
                FUZZ_CHECK(off <= size && len <= size - off, "body [%zu, +%zu) outside %zu bytes", off, len, size);
                FUZZ_CHECK(end >= off + len && end <= size, "the answer ends at %zu, its body at %zu, of %zu bytes", end,
                           off + len, size);
                FUZZ_CHECK(ra >= -1, "retry-after %lld", (long long)ra);
                int r2 = http_response_parse(again, size, eof, &status2, &ra2, &keep2, &off2, &len2, &end2);
                FUZZ_CHECK(r2 == 1 && status2 == status && off2 == off && len2 == len && end2 == end &&
                                   keep2 == keep,
                           "a second reading differs");
                FUZZ_CHECK(memcmp(buf + off, again + off, len) == 0, "the body differs between readings");
        }
        if (!eof && r == 0 && size > 0) /* incomplete: the same bytes with the connection closed end it */
                once(data, size, true);
        free(buf);
        free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        once(data, size, false);
        return 0;
}
