/* Unit test of the embedded web UI: every asset has a Content-Type, the page
 * needs nothing the CSP forbids (inline script or style), lookups, ETags. */
#include <stdio.h>
#include <string.h>

#include "gateway-routes.h"
#include "test-check.h"

extern const EmbeddedFile ui_assets[];
extern const size_t ui_assets_len;

/* Whether data[0..len) contains `needle`. */
static bool contains(const char *data, size_t len, const char *needle) {
        size_t n = strlen(needle);
        for (size_t i = 0; n <= len && i + n <= len; i++)
                if (memcmp(data + i, needle, n) == 0)
                        return true;
        return false;
}

static void test_assets(void) {
        const EmbeddedFile *index;
        size_t i = 99;

        CHECK(ui_assets_len >= 3, "expected at least index.html, a script and a style sheet, got %zu assets", ui_assets_len);
        for (size_t k = 0; k < ui_assets_len; k++) {
                const EmbeddedFile *f = &ui_assets[k];
                CHECK(ui_content_type(f->name) != NULL, "asset %s: no Content-Type for its extension", f->name);
                CHECK(f->len > 0 && strlen(f->data) == f->len, "asset %s: expected %zu bytes of text, got %zu", f->name,
                      f->len, strlen(f->data));
                CHECK(ui_lookup(f->name, &i) == f && i == k, "lookup of %s: expected index %zu, got %zu", f->name, k, i);
                if (strstr(f->name, ".js"))
                        CHECK(!contains(f->data, f->len, "innerHTML") && !contains(f->data, f->len, "eval("),
                              "asset %s: builds markup from strings (innerHTML/eval); use dom.js h()", f->name);
        }
        CHECK(ui_assets[ui_assets_len].name == NULL, "the asset array must end with a NULL name");

        index = ui_lookup("index.html", NULL);
        CHECK(index != NULL, "index.html is not embedded");
        if (index) {
                /* The CSP allows scripts and styles only from files: no inline ones. */
                CHECK(!contains(index->data, index->len, "<script>") && !contains(index->data, index->len, "<style") &&
                              !contains(index->data, index->len, " style=") &&
                              !contains(index->data, index->len, " onclick="),
                      "index.html has inline script or style, which the Content-Security-Policy blocks");
                CHECK(contains(index->data, index->len, "data-testid=\"error-message\"") &&
                              contains(index->data, index->len, "data-testid=\"lang-toggle\""),
                      "index.html lacks the error-message or lang-toggle element of SPEC §6");
        }
        CHECK(ui_lookup("nope.js", NULL) == NULL, "unknown asset found");
        CHECK(ui_lookup("", NULL) == NULL, "empty name found");
}

static void test_types(void) {
        static const struct {
                const char *name, *type;
        } cases[] = {
                {"index.html", "text/html; charset=utf-8"}, {"app.js", "text/javascript; charset=utf-8"},
                {"app.css", "text/css; charset=utf-8"},     {"icon.svg", "image/svg+xml"},
                {"x.exe", NULL},                            {"js", NULL},
                {".js", NULL},                              {"app.js.map", NULL},
        };
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
                const char *got = ui_content_type(cases[k].name);
                CHECK((got == NULL && cases[k].type == NULL) || (got && cases[k].type && strcmp(got, cases[k].type) == 0),
                      "type of %s: expected %s, got %s", cases[k].name, cases[k].type ? cases[k].type : "(none)",
                      got ? got : "(none)");
        }
}

static void test_etag(void) {
        static const struct {
                const char *header;
                bool match;
        } cases[] = {
                {NULL, false},
                {"", false},
                {"\"00000000000000ab\"", true},
                {"W/\"00000000000000ab\"", true},
                {"\"1\", \"00000000000000ab\"", true},
                {"\"1\",\"00000000000000ab\" ", true},
                {"*", true},
                {"\"00000000000000ac\"", false},
                {"\"00000000000000ab", false},
                {"00000000000000ab", false},
        };
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
                bool got = ui_etag_matches(cases[k].header, "\"00000000000000ab\"");
                CHECK(got == cases[k].match, "If-None-Match '%s': expected %d, got %d",
                      cases[k].header ? cases[k].header : "(null)", cases[k].match, got);
        }
        CHECK(!ui_etag_matches("*", ""), "no ETag never matches");
}

int main(void) {
        test_assets();
        test_types();
        test_etag();
        if (!failures)
                printf("ok\n");
        return failures ? 1 : 0;
}
