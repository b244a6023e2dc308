/* The web UI (SPEC F18, §6) served from memory: assets embedded at build time
 * (gateway/ui/, lib/tools/embed), never read from disk, each with its
 * Content-Type, a strict Content-Security-Policy and an ETag for revalidation. */
#include <civetweb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "embedded.h"
#include "gateway-routes.h"
#include "log.h"

/* Generated from gateway/ui/ by gateway/meson.build; ends with a NULL name. */
extern const EmbeddedFile ui_assets[];
extern const size_t ui_assets_len;

#define UI_INDEX "index.html"
#define UI_ASSETS_MAX 32

/* No inline script or style anywhere, nothing from another origin; the page
 * talks only to this gateway (connect-src 'self'); it may not be framed. */
#define UI_CSP                                                                                                        \
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "         \
        "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* Security headers on every UI answer. */
#define UI_HEADERS                                                                                                    \
        "Content-Security-Policy: " UI_CSP "\r\n"                                                                     \
        "X-Content-Type-Options: nosniff\r\n"                                                                         \
        "X-Frame-Options: DENY\r\n"                                                                                   \
        "Referrer-Policy: no-referrer\r\n"

/* Asset names are not fingerprinted, so a browser keeps its copy but asks
 * every time whether it is still current (a 304 when it is): a new gateway
 * build is picked up at once, an unchanged one costs no body. */
#define UI_CACHE_CONTROL "no-cache"

static const struct {
        const char *ext;
        const char *type;
} ui_types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".webmanifest", "application/manifest+json"},
        {".txt", "text/plain; charset=utf-8"},
};

static char ui_etags[UI_ASSETS_MAX][24];
static pthread_once_t ui_etags_once = PTHREAD_ONCE_INIT;

const char *ui_content_type(const char *name) {
        size_t n = strlen(name);
        for (size_t i = 0; i < sizeof(ui_types) / sizeof(ui_types[0]); i++) {
                size_t e = strlen(ui_types[i].ext);
                if (n > e && strcmp(name + n - e, ui_types[i].ext) == 0)
                        return ui_types[i].type;
        }
        return NULL;
}

const EmbeddedFile *ui_lookup(const char *name, size_t *ret_index) {
        for (size_t i = 0; i < ui_assets_len; i++)
                if (strcmp(ui_assets[i].name, name) == 0) {
                        if (ret_index)
                                *ret_index = i;
                        return &ui_assets[i];
                }
        return NULL;
}

/* FNV-1a, 64 bits: a content fingerprint, not a security measure. */
static uint64_t ui_hash(const char *data, size_t len) {
        uint64_t h = 14695981039346656037ULL;
        for (size_t i = 0; i < len; i++) {
                h ^= (unsigned char)data[i];
                h *= 1099511628211ULL;
        }
        return h;
}

static void ui_etags_init(void) {
        for (size_t i = 0; i < ui_assets_len && i < UI_ASSETS_MAX; i++)
                snprintf(ui_etags[i], sizeof(ui_etags[i]), "\"%016llx\"",
                         (unsigned long long)ui_hash(ui_assets[i].data, ui_assets[i].len));
        if (ui_assets_len > UI_ASSETS_MAX)
                log_warn("ui: %zu assets, only the first %d get an ETag", ui_assets_len, UI_ASSETS_MAX);
}

bool ui_etag_matches(const char *if_none_match, const char *etag) {
        size_t n = strlen(etag);
        const char *p = if_none_match;

        if (!p || !*etag)
                return false;
        /* A comma-separated list of entity tags, weak ones (W/"…") compared weakly (RFC 9110 §13.1.2), or "*". */
        while (*p) {
                size_t len;
                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                if (*p == '*')
                        return true;
                if (strncmp(p, "W/", 2) == 0)
                        p += 2;
                len = strcspn(p, ",");
                while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                        len--;
                if (len == n && strncmp(p, etag, n) == 0)
                        return true;
                p += strcspn(p, ",");
        }
        return false;
}

/* Answers with `f` (200), or 304 when the browser's copy is current. HEAD
 * gets the headers only. Records the status for the router. */
static void ui_send(Request *rq, const EmbeddedFile *f, size_t index) {
        HttpExchange *x = rq->x;
        const char *type = ui_content_type(f->name);
        const char *etag = "";
        char length[32];
        bool head = strcmp(x->info->request_method, "HEAD") == 0;

        pthread_once(&ui_etags_once, ui_etags_init);
        if (index < UI_ASSETS_MAX)
                etag = ui_etags[index];
        if (!type)
                type = "application/octet-stream";
        if (ui_etag_matches(http_header(x, "If-None-Match"), etag)) {
                x->status = 304;
                mg_response_header_start(x->conn, 304);
                mg_response_header_add(x->conn, "ETag", etag, -1);
                mg_response_header_add(x->conn, "Cache-Control", UI_CACHE_CONTROL, -1);
                mg_response_header_add_lines(x->conn, UI_HEADERS);
                mg_response_header_send(x->conn);
                return;
        }
        x->status = 200;
        snprintf(length, sizeof(length), "%zu", f->len);
        mg_response_header_start(x->conn, 200);
        mg_response_header_add(x->conn, "Content-Type", type, -1);
        mg_response_header_add(x->conn, "Content-Length", length, -1);
        mg_response_header_add(x->conn, "Cache-Control", UI_CACHE_CONTROL, -1);
        if (*etag)
                mg_response_header_add(x->conn, "ETag", etag, -1);
        mg_response_header_add_lines(x->conn, UI_HEADERS);
        mg_response_header_send(x->conn);
        if (!head && f->len > 0)
                mg_write(x->conn, f->data, f->len);
}

void ui_index(Request *rq) {
        size_t i = 0;
        const EmbeddedFile *f = ui_lookup(UI_INDEX, &i);
        if (!f) {
                http_problem(rq->x, 404, NULL, NULL, "this gateway was built without the web UI");
                return;
        }
        ui_send(rq, f, i);
}

void ui_asset(Request *rq) {
        size_t i = 0;
        const EmbeddedFile *f = ui_lookup(rq->arg[0], &i);
        if (!f) {
                http_problem(rq->x, 404, NULL, NULL, "no such web UI asset: %s", rq->arg[0]);
                return;
        }
        ui_send(rq, f, i);
}
