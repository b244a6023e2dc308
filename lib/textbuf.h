/* A growing, NUL-terminated text (JSON being written, an HTTP answer being read): one home for the
 * append-and-double buffer. Pure. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

typedef struct {
        char *p;     /* malloc'ed, NUL-terminated once anything was put; NULL before */
        size_t len;  /* bytes, without the NUL */
        size_t cap;
        bool failed; /* out of memory, or a caller's reason (textbuf_fail): later puts do nothing */
} TextBuf;

/* Appends n bytes of s; on running out of memory, sets failed and keeps what it had. */
void textbuf_put(TextBuf *t, const void *s, size_t n);
/* Appends the string s. */
void textbuf_puts(TextBuf *t, const char *s);
/* Marks t failed (a value that cannot be written). */
void textbuf_fail(TextBuf *t);
/* Empties t, keeping its memory. */
void textbuf_reset(TextBuf *t);
/* Frees t's memory and empties it. */
void textbuf_free(TextBuf *t);
