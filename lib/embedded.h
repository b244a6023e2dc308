/* A file embedded in a binary at build time by lib/tools/embed (migrations, web UI assets). */
#pragma once
#include <stddef.h>

/* One embedded file; `data` is NUL-terminated after `len` bytes. The arrays
 * the embed tool generates end with an entry whose name is NULL. */
typedef struct {
        const char *name; /* base name, e.g. "001_init.sql" or "app.js" */
        const char *data;
        size_t len;
} EmbeddedFile;
