/* line_error.h owns the "line N: reason" error messages of our line-oriented import parsers
 * (text exposition format, JSON lines). */
#ifndef MS_INGEST_LINE_ERROR_H
#define MS_INGEST_LINE_ERROR_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Where a line parser stands and where its error message goes. */
typedef struct line_err {
    size_t line; /* 1-based number of the line being parsed; 0 before the first */
    char *err;   /* may be NULL */
    size_t err_len;
} line_err_t;

/* Starts at line 0 and clears err. */
void line_err_init(line_err_t *le, char *err, size_t err_len);
/* Formats "line N: reason" into le->err; always returns false, so parsers can
 * `return line_fail(...)`. */
bool line_fail(line_err_t *le, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes "line <line>: " then the formatted reason into err (err_len bytes, NUL-terminated,
 * truncated if needed). Does nothing when err is NULL or err_len is 0. */
void line_error_vformat(char *err, size_t err_len, size_t line, const char *fmt, va_list ap);

#endif
