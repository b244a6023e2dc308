/* libFuzzer harness of the analytics export's pure parts (lib/archive-export.c,
 * compiled into the gateway's GET /analytics/events and food-export): the first byte picks what the
 * rest is: an archived status event turned into its NDJSON line (export_line), or the `since` or
 * `limit` query value (export_parse_since, export_parse_limit). */
#include <jansson.h>
#include <string.h>

#include "fuzz-common.h"
#include "archive-export.h"

static void line_of(uint64_t seq, const uint8_t *data, size_t size) {
        ProtobufCMessage *m = NULL;
        if (codec_unpack(&food__v1__order_status_changed__descriptor, data, size, &m) < 0)
                return;
        const Food__V1__OrderStatusChanged *ev = (const Food__V1__OrderStatusChanged *)m;
        char *line = export_line(seq, food__v1__order_status_changed__descriptor.name, ev);
        if (line) {
                size_t n = strlen(line);
                FUZZ_CHECK(n > 1 && line[n - 1] == '\n' && !memchr(line, '\n', n - 1), "not one line: %s", line);
                json_t *j = json_loads(line, 0, NULL);
                FUZZ_CHECK(j && json_is_object(j), "the line does not read back: %s", line);
                FUZZ_CHECK(json_integer_value(json_object_get(j, "seq")) == (json_int_t)seq &&
                                   json_is_string(json_object_get(j, "at")),
                           "seq or at missing: %s", line);
                json_decref(j);
                free(line);
        } else
                FUZZ_CHECK(!ev->order, "no line for an event with an order");
        codec_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char text[256];
        fuzz_quiet();
        if (size < 1)
                return 0;
        if (data[0] % 3 == 0) {
                line_of((uint64_t)data[0] << 40 | 7, data + 1, size - 1);
                return 0;
        }
        /* A query value as the gateway hands it over: NUL-terminated, bounded. */
        size_t n = size - 1 < sizeof(text) - 1 ? size - 1 : sizeof(text) - 1;
        memcpy(text, data + 1, n);
        text[n] = 0;
        if (data[0] % 3 == 1) {
                ExportStart st;
                int r = export_parse_since(text, &st);
                FUZZ_CHECK(r == 0 || r == -EINVAL, "export_parse_since returned %d", r);
                if (r == 0 && !st.by_time)
                        FUZZ_CHECK(st.after_seq <= INT64_MAX && st.since_ms == 0, "since %s -> seq %llu", text,
                                   (unsigned long long)st.after_seq);
                if (r == 0 && !*text)
                        FUZZ_CHECK(!st.by_time && st.after_seq == 0, "an empty since is not the start");
        } else {
                int64_t limit = 0;
                int r = export_parse_limit(text, &limit);
                FUZZ_CHECK(r == 0 || r == -EINVAL, "export_parse_limit returned %d", r);
                FUZZ_CHECK(r != 0 || (limit >= 1 && limit <= EXPORT_LIMIT_MAX), "limit %lld from %s", (long long)limit,
                           text);
        }
        return 0;
}
