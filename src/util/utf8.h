/* utf8.h owns UTF-8 validation (strict: no overlongs, no surrogates, max U+10FFFF). */
#ifndef MS_UTIL_UTF8_H
#define MS_UTIL_UTF8_H
#include <stdbool.h>
#include <stddef.h>

bool utf8_valid(const char *s, size_t n);

#endif
