/* Unit test of request body validation: what is refused, with which status
 * (400 malformed / wrong type / missing, 422 out of range) and which detail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway-json.h"
#include "test-check.h"

#define ADDRESS "\"address\":{\"text\":\"서울 강남구 테헤란로 1\",\"region\":\"gangnam\",\"lat\":37.5,\"lon\":127.03}"
#define PAYMENT "\"payment\":{\"card_token\":\"tok_ok\"}"
#define ITEMS "\"items\":[{\"menu_item_id\":\"mi_a\",\"quantity\":2}]"

/* Parses `body` as an order and expects `status` and, for refusals, a detail containing `detail`. */
static void expect_order(const char *what, const char *body, int status, const char *detail) {
        OrderBody o;
        JsonProblem p = {0, ""};
        int r = gjson_parse_order(body, strlen(body), &o, &p);
        CHECK(r == status, "%s: expected status %d, got %d (%s)", what, status, r, r ? p.detail : "accepted");
        if (r == 0)
                gjson_release(o.root);
        else if (detail)
                CHECK(strstr(p.detail, detail) != NULL, "%s: expected detail containing \"%s\", got \"%s\"", what,
                      detail, p.detail);
}

static void test_valid_order(void) {
        const char body[] = "{\"store_id\":\"st_a\",\"items\":[{\"menu_item_id\":\"mi_a\",\"quantity\":2},"
                            "{\"menu_item_id\":\"mi_b\",\"quantity\":99}]," ADDRESS ",\"note\":\"문 앞에 놓아주세요\","
                            "\"coupon_id\":\"cp_1\"," PAYMENT "}";
        OrderBody o;
        JsonProblem p;
        int r = gjson_parse_order(body, strlen(body), &o, &p);

        CHECK(r == 0, "valid order: expected 0, got %d (%s)", r, r ? p.detail : "");
        if (r != 0)
                return;
        CHECK(strcmp(o.store_id, "st_a") == 0, "store_id: expected st_a, got %s", o.store_id);
        CHECK(o.n_items == 2, "items: expected 2, got %zu", o.n_items);
        CHECK(o.n_items == 2 && strcmp(o.items[1].menu_item_id, "mi_b") == 0 && o.items[1].quantity == 99,
              "items[1]: expected mi_b x99, got %s x%d", o.items[1].menu_item_id, o.items[1].quantity);
        CHECK(o.address.lat == 37.5 && o.address.lon == 127.03, "address: expected 37.5/127.03, got %g/%g",
              o.address.lat, o.address.lon);
        CHECK(strcmp(o.address.region, "gangnam") == 0, "region: expected gangnam, got %s", o.address.region);
        CHECK(strcmp(o.note, "문 앞에 놓아주세요") == 0, "note: got %s", o.note);
        CHECK(o.coupon_id && strcmp(o.coupon_id, "cp_1") == 0, "coupon_id: expected cp_1, got %s",
              o.coupon_id ? o.coupon_id : "(null)");
        CHECK(strcmp(o.card_token, "tok_ok") == 0, "card_token: expected tok_ok, got %s", o.card_token);
        gjson_release(o.root);

        /* Optional fields absent (or null) and an integer coordinate. */
        const char minimal[] = "{\"store_id\":\"st_a\"," ITEMS ",\"address\":{\"text\":\"x\",\"region\":\"mapo\","
                               "\"lat\":37,\"lon\":127},\"coupon_id\":null," PAYMENT "}";
        r = gjson_parse_order(minimal, strlen(minimal), &o, &p);
        CHECK(r == 0, "minimal order: expected 0, got %d (%s)", r, r ? p.detail : "");
        if (r == 0) {
                CHECK(strcmp(o.note, "") == 0 && o.coupon_id == NULL, "minimal order: expected empty note, no coupon");
                gjson_release(o.root);
        }
}

static void test_malformed(void) {
        expect_order("empty body", "", 400, "JSON object");
        expect_order("truncated", "{\"store_id\":", 400, "malformed JSON");
        expect_order("not JSON", "store_id=st_a", 400, "malformed JSON");
        expect_order("array body", "[1,2]", 400, "JSON object");
        expect_order("null body", "null", 400, NULL);
        expect_order("string body", "\"order\"", 400, NULL);
        expect_order("trailing garbage", "{\"store_id\":\"st_a\"} x", 400, "malformed JSON");
        expect_order("two documents", "{} {}", 400, "malformed JSON");
        expect_order("invalid UTF-8", "{\"store_id\":\"\xff\xfe\"}", 400, "malformed JSON");
        expect_order("NUL escape", "{\"store_id\":\"a\\u0000b\"}", 400, "malformed JSON");

        /* The body is length-delimited, not NUL-terminated. */
        const char embedded_nul[] = "{\"store_id\":\"st_a\"}\0{";
        OrderBody o;
        JsonProblem p;
        int r = gjson_parse_order(embedded_nul, sizeof(embedded_nul) - 1, &o, &p);
        CHECK(r == 400, "embedded NUL: expected 400, got %d", r);
}

static void test_duplicates_and_unknown(void) {
        expect_order("duplicate key", "{\"store_id\":\"st_a\",\"store_id\":\"st_b\"," ITEMS "," ADDRESS "," PAYMENT "}",
                     400, "duplicate");
        expect_order("duplicate nested key",
                     "{\"store_id\":\"st_a\",\"items\":[{\"menu_item_id\":\"a\",\"quantity\":1,\"quantity\":50}],"
                     ADDRESS "," PAYMENT "}",
                     400, "duplicate");
        expect_order("unknown field", "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS "," PAYMENT ",\"total\":1}", 400,
                     "unknown field \"total\"");
        expect_order("unknown item field",
                     "{\"store_id\":\"st_a\",\"items\":[{\"menu_item_id\":\"a\",\"quantity\":1,\"unit_price\":1}],"
                     ADDRESS "," PAYMENT "}",
                     400, "items[0].unit_price");
}

static void test_wrong_types(void) {
        expect_order("store_id number", "{\"store_id\":5," ITEMS "," ADDRESS "," PAYMENT "}", 400,
                     "store_id must be a string");
        expect_order("items object", "{\"store_id\":\"st_a\",\"items\":{}," ADDRESS "," PAYMENT "}", 400,
                     "items must be an array");
        expect_order("item not an object", "{\"store_id\":\"st_a\",\"items\":[\"mi_a\"]," ADDRESS "," PAYMENT "}",
                     400, "items[0] must be an object");
        expect_order("quantity string",
                     "{\"store_id\":\"st_a\",\"items\":[{\"menu_item_id\":\"a\",\"quantity\":\"2\"}]," ADDRESS
                     "," PAYMENT "}",
                     400, "items[0].quantity must be an integer");
        expect_order("quantity real",
                     "{\"store_id\":\"st_a\",\"items\":[{\"menu_item_id\":\"a\",\"quantity\":2.0}]," ADDRESS
                     "," PAYMENT "}",
                     400, "items[0].quantity must be an integer");
        expect_order("quantity bool",
                     "{\"store_id\":\"st_a\",\"items\":[{\"menu_item_id\":\"a\",\"quantity\":true}]," ADDRESS
                     "," PAYMENT "}",
                     400, "items[0].quantity");
        expect_order("menu_item_id number",
                     "{\"store_id\":\"st_a\",\"items\":[{\"menu_item_id\":7,\"quantity\":1}]," ADDRESS "," PAYMENT
                     "}",
                     400, "items[0].menu_item_id must be a string");
        expect_order("lat string",
                     "{\"store_id\":\"st_a\"," ITEMS ",\"address\":{\"text\":\"x\",\"region\":\"r\",\"lat\":\"37\","
                     "\"lon\":127}," PAYMENT "}",
                     400, "address.lat must be a number");
        expect_order("address string", "{\"store_id\":\"st_a\"," ITEMS ",\"address\":\"Seoul\"," PAYMENT "}", 400,
                     "address must be an object");
        expect_order("payment string", "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS ",\"payment\":\"tok_ok\"}", 400,
                     "payment must be an object");
        expect_order("note number", "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS ",\"note\":1," PAYMENT "}", 400,
                     "note must be a string");
        expect_order("coupon_id array", "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS ",\"coupon_id\":[]," PAYMENT "}",
                     400, "coupon_id must be a string");
}

static void test_quantities(void) {
        static const struct {
                const char *quantity;
                int status;
                const char *detail;
        } cases[] = {
                {"0", 422, "items[0].quantity must be an integer between 1 and 99"},
                {"-1", 422, "items[0].quantity must be an integer between 1 and 99"},
                {"100", 422, "items[0].quantity"},
                {"9223372036854775807", 422, "items[0].quantity"},
                {"-9223372036854775808", 422, "items[0].quantity"},
                {"99999999999999999999999", 400, "malformed JSON"}, /* beyond int64: jansson refuses it */
                {"1e30", 400, "items[0].quantity must be an integer"},
                {"1e999", 400, "malformed JSON"},
                {"1", 0, NULL},
                {"99", 0, NULL},
        };
        char body[512], what[64];
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                snprintf(body, sizeof(body),
                         "{\"store_id\":\"st_a\",\"items\":[{\"menu_item_id\":\"a\",\"quantity\":%s}]," ADDRESS
                         "," PAYMENT "}",
                         cases[i].quantity);
                snprintf(what, sizeof(what), "quantity %s", cases[i].quantity);
                expect_order(what, body, cases[i].status, cases[i].detail);
        }
        expect_order("second line named in detail",
                     "{\"store_id\":\"st_a\",\"items\":[{\"menu_item_id\":\"a\",\"quantity\":1},"
                     "{\"menu_item_id\":\"b\",\"quantity\":0}]," ADDRESS "," PAYMENT "}",
                     422, "items[1].quantity");
}

static void test_ranges_and_sizes(void) {
        char *body = malloc(8192);
        size_t pos;

        expect_order("no items", "{\"store_id\":\"st_a\",\"items\":[]," ADDRESS "," PAYMENT "}", 422,
                     "at least one item");
        pos = (size_t)snprintf(body, 8192, "{\"store_id\":\"st_a\",\"items\":[");
        for (int i = 0; i < 51; i++)
                pos += (size_t)snprintf(body + pos, 8192 - pos, "%s{\"menu_item_id\":\"m%d\",\"quantity\":1}",
                                        i ? "," : "", i);
        snprintf(body + pos, 8192 - pos, "]," ADDRESS "," PAYMENT "}");
        expect_order("51 items", body, 422, "too many items");
        expect_order("lat 91",
                     "{\"store_id\":\"st_a\"," ITEMS ",\"address\":{\"text\":\"x\",\"region\":\"r\",\"lat\":91,"
                     "\"lon\":127}," PAYMENT "}",
                     422, "address.lat must be between -90 and 90");
        expect_order("lon -181",
                     "{\"store_id\":\"st_a\"," ITEMS ",\"address\":{\"text\":\"x\",\"region\":\"r\",\"lat\":1,"
                     "\"lon\":-181}," PAYMENT "}",
                     422, "address.lon");
        expect_order("empty store_id", "{\"store_id\":\"\"," ITEMS "," ADDRESS "," PAYMENT "}", 422,
                     "store_id must not be empty");
        /* 128 characters, but not 128 printable ASCII bytes: refused whole, never cut by a saga row. */
        expect_order("card token of Korean letters",
                     "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS ",\"payment\":{\"card_token\":\"토큰\"}}", 422,
                     "payment.card_token must be 1-128 printable ASCII");
        expect_order("card token with a space",
                     "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS ",\"payment\":{\"card_token\":\"tok ok\"}}", 422,
                     "payment.card_token must be 1-128 printable ASCII");
        expect_order("store_id with a slash", "{\"store_id\":\"a/b\"," ITEMS "," ADDRESS "," PAYMENT "}", 422,
                     "store_id is not a valid id");
        expect_order("empty card token", "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS ",\"payment\":{\"card_token\":\"\"}}",
                     422, "payment.card_token must not be empty");
        pos = (size_t)snprintf(body, 8192, "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS "," PAYMENT ",\"note\":\"");
        for (int i = 0; i < 501; i++)
                pos += (size_t)snprintf(body + pos, 8192 - pos, "가");
        snprintf(body + pos, 8192 - pos, "\"}");
        expect_order("note of 501 characters", body, 422, "note must be at most 500 characters");
        pos = (size_t)snprintf(body, 8192, "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS "," PAYMENT ",\"note\":\"");
        for (int i = 0; i < 500; i++)
                pos += (size_t)snprintf(body + pos, 8192 - pos, "가");
        snprintf(body + pos, 8192 - pos, "\"}");
        expect_order("note of 500 Korean characters (1500 bytes)", body, 0, NULL);
        free(body);
}

static void test_nesting(void) {
        char *body = malloc(200100);
        size_t pos;

        pos = (size_t)snprintf(body, 200100, "{\"store_id\":\"st_a\",\"note\":");
        for (int i = 0; i < 100000; i++)
                body[pos++] = '[';
        for (int i = 0; i < 100000; i++)
                body[pos++] = ']';
        body[pos++] = '}';
        body[pos] = 0;
        expect_order("100000 nested arrays", body, 400, "nested deeper than");
        expect_order("9 levels", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}}", 400,
                     "nested deeper than 8");
        /* Brackets inside strings are text, not nesting. */
        expect_order("brackets in a string", "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS "," PAYMENT
                     ",\"note\":\"[[[[[[[[[[[[{{{{{{{{{{\\\"[[[[[[[\"}",
                     0, NULL);
        free(body);
}

static void test_missing(void) {
        expect_order("no store_id", "{" ITEMS "," ADDRESS "," PAYMENT "}", 400, "store_id is required");
        expect_order("no items", "{\"store_id\":\"st_a\"," ADDRESS "," PAYMENT "}", 400, "items is required");
        expect_order("no address", "{\"store_id\":\"st_a\"," ITEMS "," PAYMENT "}", 400, "address is required");
        expect_order("no payment", "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS "}", 400, "payment is required");
        expect_order("no card_token", "{\"store_id\":\"st_a\"," ITEMS "," ADDRESS ",\"payment\":{}}", 400,
                     "payment.card_token is required");
        expect_order("no quantity", "{\"store_id\":\"st_a\",\"items\":[{\"menu_item_id\":\"a\"}]," ADDRESS "," PAYMENT
                     "}",
                     400, "items[0].quantity is required");
        expect_order("no menu_item_id", "{\"store_id\":\"st_a\",\"items\":[{\"quantity\":1}]," ADDRESS "," PAYMENT "}",
                     400, "items[0].menu_item_id is required");
        expect_order("no lon",
                     "{\"store_id\":\"st_a\"," ITEMS ",\"address\":{\"text\":\"x\",\"region\":\"r\",\"lat\":1},"
                     PAYMENT "}",
                     400, "address.lon is required");
        expect_order("null store_id", "{\"store_id\":null," ITEMS "," ADDRESS "," PAYMENT "}", 400,
                     "store_id is required");
}

static void test_other_bodies(void) {
        ModifyBody m;
        DevTokenBody d;
        ReasonBody rb;
        JsonProblem p;
        const char *b;
        int r;

        b = "{}";
        r = gjson_parse_modify(b, strlen(b), &m, &p);
        CHECK(r == 422 && strstr(p.detail, "nothing to modify"), "modify {}: expected 422, got %d (%s)", r, p.detail);
        b = "{\"note\":\"벨 누르지 마세요\"}";
        r = gjson_parse_modify(b, strlen(b), &m, &p);
        CHECK(r == 0 && m.has_note && !m.has_items && !m.has_address, "modify note only: expected 0, got %d", r);
        if (r == 0)
                gjson_release(m.root);
        b = "{" ITEMS "}";
        r = gjson_parse_modify(b, strlen(b), &m, &p);
        CHECK(r == 0 && m.has_items && m.n_items == 1 && m.items[0].quantity == 2,
              "modify items: expected 1 line x2, got %d", r);
        if (r == 0)
                gjson_release(m.root);
        b = "{\"items\":[{\"menu_item_id\":\"a\",\"quantity\":0}]}";
        r = gjson_parse_modify(b, strlen(b), &m, &p);
        CHECK(r == 422, "modify quantity 0: expected 422, got %d", r);
        b = "{\"store_id\":\"x\"}";
        r = gjson_parse_modify(b, strlen(b), &m, &p);
        CHECK(r == 400, "modify store_id: expected 400, got %d", r);

        b = "{\"sub\":\"owner1\",\"role\":\"store\"}";
        r = gjson_parse_dev_token(b, strlen(b), &d, &p);
        CHECK(r == 422 && strstr(p.detail, "store_id"), "dev token store without store_id: expected 422, got %d (%s)",
              r, p.detail);
        b = "{\"sub\":\"u1\",\"role\":\"root\"}";
        r = gjson_parse_dev_token(b, strlen(b), &d, &p);
        CHECK(r == 422 && strstr(p.detail, "role"), "dev token role root: expected 422, got %d", r);
        b = "{\"sub\":\"u1\",\"role\":\"rider\"}";
        r = gjson_parse_dev_token(b, strlen(b), &d, &p);
        CHECK(r == 0 && d.store_id == NULL, "dev token rider: expected 0, got %d", r);
        if (r == 0)
                gjson_release(d.root);

        r = gjson_parse_reason("", 0, &rb, &p);
        CHECK(r == 0 && strcmp(rb.reason, "") == 0 && rb.root == NULL, "empty reason body: expected 0, got %d", r);
        b = "{\"reason\":\"재료 소진\"}";
        r = gjson_parse_reason(b, strlen(b), &rb, &p);
        CHECK(r == 0 && strcmp(rb.reason, "재료 소진") == 0, "reason: expected 0, got %d", r);
        if (r == 0)
                gjson_release(rb.root);
        b = "{\"reason\":5}";
        r = gjson_parse_reason(b, strlen(b), &rb, &p);
        CHECK(r == 400, "reason number: expected 400, got %d", r);
}

int main(void) {
        test_valid_order();
        test_malformed();
        test_duplicates_and_unknown();
        test_wrong_types();
        test_quantities();
        test_ranges_and_sizes();
        test_nesting();
        test_missing();
        test_other_bodies();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("all JSON body checks passed\n");
        return 0;
}
