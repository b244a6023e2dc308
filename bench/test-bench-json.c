/* Unit test of bench-json: well-formed objects give their top-level strings, anything else is refused, and strings
 * written into a body come out escaped and whole or not at all. */
#include <stdio.h>
#include <string.h>

#include "bench-json.h"
#include "test-check.h"

static const char *const keys[] = {"status", "id"};

static int fields(const char *text, BJsonStr *v) {
        return bjson_fields(text, strlen(text), keys, 2, v);
}

int main(void) {
        BJsonStr v[2];
        int r = fields(" {\"id\":\"ord_1\",\"items\":[{\"id\":\"x\",\"status\":\"no\"}],\"n\":-1.5e+3,\"ok\":true,"
                       "\"none\":null,\"status\":\"PAID\",\"t\":\"a\\\"b\\u00e9\"}\n",
                       v);
        CHECK(r == 0, "a placed order: expected 0, got %d", r);
        CHECK(bjson_is(v[0], "PAID"), "status: expected PAID (the top level's, not the item's), got %.*s", (int)v[0].len,
              v[0].at ? v[0].at : "");
        CHECK(bjson_is(v[1], "ord_1"), "id: expected ord_1, got %.*s", (int)v[1].len, v[1].at ? v[1].at : "");
        CHECK(!bjson_is(v[1], "ord_"), "bjson_is: a prefix must not match");

        r = fields("{\"status\":7,\"id\":{\"a\":\"b\"}}", v);
        CHECK(r == 0 && !v[0].at && !v[1].at, "non-string members: expected 0 and no strings, got %d", r);
        r = fields("{}", v);
        CHECK(r == 0 && !v[0].at && !v[1].at, "empty object: expected 0 and no strings, got %d", r);

        static const char *const bad[] = {
                "",  "[]", "\"PAID\"", "{", "{\"status\":\"PAID\"", "{\"status\":\"PAID\",}", "{\"status\" \"PAID\"}",
                "{\"a\":01}", "{\"a\":1.}", "{\"a\":tru}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"tab\there\"}",
                "{\"a\":1} {}", "{\"a\":[1,]}", "{'a':1}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                r = fields(bad[i], v);
                CHECK(r == -1, "not a JSON object %s: expected -1, got %d", bad[i], r);
        }
        char deep[2 * BJSON_DEPTH_MAX + 16];
        size_t n = 0;
        deep[n++] = '{';
        for (int i = 0; i < BJSON_DEPTH_MAX; i++)
                deep[n++] = '[';
        for (int i = 0; i < BJSON_DEPTH_MAX; i++)
                deep[n++] = ']';
        deep[n++] = '}';
        deep[n] = '\0';
        CHECK(fields(deep, v) == -1, "nesting deeper than BJSON_DEPTH_MAX: expected -1");
        CHECK(bjson_fields("{\"status\":\"PAID\"}xx", 17, keys, 2, v) == 0 && bjson_is(v[0], "PAID"),
              "only `len` bytes are read");

        char buf[32];
        size_t len = 0;
        r = bjson_put_raw(buf, &len, sizeof(buf), "{\"a\":") | bjson_put_string(buf, &len, sizeof(buf), "q\"\\\n") |
            bjson_put_raw(buf, &len, sizeof(buf), "}");
        CHECK(r == 0 && strcmp(buf, "{\"a\":\"q\\\"\\\\\\u000a\"}") == 0, "escaped string: got %d, %s", r, buf);
        CHECK(bjson_fields(buf, len, keys, 2, v) == 0, "what was written parses back");
        size_t before = len;
        r = bjson_put_string(buf, &len, sizeof(buf), "a string too long for what is left");
        CHECK(r == -1 && len == before && strlen(buf) == before, "no room: expected -1 and nothing appended, got %d", r);
        r = bjson_put_raw(buf, &len, sizeof(buf), "0123456789abcdef");
        CHECK(r == -1 && len == before, "no room for raw text: expected -1, got %d", r);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
