/* line_error.h owns the "line N: reason" error messages of our line-oriented import parsers
 * (text exposition format, JSON lines). */
#ifndef MS_INGEST_LINE_ERROR_H
#define MS_INGEST_LINE_ERROR_H
#include <stdarg.h>
#include <stddef.h>

/* Writes "line <line>: " then the formatted reason into err (err_len bytes, NUL-terminated,
 * truncated if needed). Does nothing when err is NULL or err_len is 0. */
void line_error_vformat(char *err, size_t err_len, size_t line, const char *fmt, va_list ap);

#endif
