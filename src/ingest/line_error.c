/* line_error.c owns formatting the line-numbered error of the import parsers. */
#include "ingest/line_error.h"
#include <stdio.h>

void line_error_vformat(char *err, size_t err_len, size_t line, const char *fmt, va_list ap)
{
    if (!err || !err_len) return;
    int n = snprintf(err, err_len, "line %zu: ", line);
    if (n >= 0 && (size_t)n < err_len) vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
}
