/* UTF-8 checks for text that came from outside (protobuf-c does not check string fields; civetweb
 * decodes %xx in paths): what jansson and PostgreSQL accept as text. Pure. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Whether `s` is well-formed UTF-8: no overlong forms, surrogates or code points past U+10FFFF. */
bool utf8_valid(const char *s);

/* Makes `s` well-formed UTF-8 in place: each byte that does not belong to a well-formed sequence
 * (a lone continuation byte, an overlong form, a surrogate, a code point past U+10FFFF, a sequence
 * cut short, as by a truncation) becomes '?'. Returns how many were replaced. */
size_t utf8_scrub(char *s);
