/* What the driver reads of an answer and writes of a request without jansson: a check that a body is one
 * well-formed JSON object with the raw text of a few of its top-level string fields, and strings appended to a
 * request body (jansson's trees were half of the driver's CPU once libcurl was gone). Pure. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define BJSON_DEPTH_MAX 32

typedef struct {
        const char *at; /* the string's text between its quotes, escapes as written; NULL when absent or not a string */
        size_t len;
} BJsonStr;

/* Checks that `text` (`len` bytes) is one JSON object (whitespace around it allowed; nesting at most
 * BJSON_DEPTH_MAX) and fills out[i] for keys[i] with that top-level member's string (the last one when a key
 * repeats). 0, or -1 when it is not such a document. */
int bjson_fields(const char *text, size_t len, const char *const *keys, size_t n, BJsonStr *out);

/* Whether `s` holds exactly the text `want` (no escapes compared: the values the driver checks have none). */
bool bjson_is(BJsonStr s, const char *want);

/* Appends the text `s` as it is to `buf` (`*len` used of `cap`, kept NUL-terminated). 0, or -1 when it does not
 * fit (then *len is unchanged). */
int bjson_put_raw(char *buf, size_t *len, size_t cap, const char *s);

/* Appends `s` to `buf` as a JSON string, quotes included, escaping what JSON requires. 0, or -1 when it does not
 * fit (then *len is unchanged). */
int bjson_put_string(char *buf, size_t *len, size_t cap, const char *s);
