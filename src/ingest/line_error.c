/* line_error.c owns formatting the line-numbered error of the import parsers. */
#include "ingest/line_error.h"
#include <stdio.h>

void line_error_vformat(char *err, size_t err_len, size_t line, const char *fmt, va_list ap)
{
    if (!err || !err_len) return;
    int n = snprintf(err, err_len, "line %zu: ", line);
    if (n >= 0 && (size_t)n < err_len) vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
}

void line_err_init(line_err_t *le, char *err, size_t err_len)
{
    le->line = 0;
    le->err = err;
    le->err_len = err_len;
    if (err && err_len) err[0] = 0;
}

bool line_fail(line_err_t *le, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line_error_vformat(le->err, le->err_len, le->line, fmt, ap);
    va_end(ap);
    return false;
}
