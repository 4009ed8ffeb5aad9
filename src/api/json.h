/* json.h owns writing JSON into a buf_t in exactly the byte format Prometheus's HTTP API emits:
 * string escaping as Go's HTML-safe encoder, sample values as Go's strconv.FormatFloat(v,'f',-1,64)
 * and timestamps as seconds with millisecond digits. Stateless and thread-safe. */
#ifndef MS_API_JSON_H
#define MS_API_JSON_H
#include "model/labels.h"
#include "util/buf.h"
#include <stddef.h>
#include <stdint.h>

/* Enough for the longest 'f'-format double (5e-324 is "0." + 323 zeros + "5") plus a sign. */
#define JSON_FLOAT_MAX 352
/* Enough for any int64 millisecond timestamp as seconds ("-9223372036854775.808"). */
#define JSON_TS_MAX 32

/* Formats v as Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest decimal that parses back
 * to v, never in exponent form; "NaN", "+Inf", "-Inf" for the specials (Prometheus's spelling).
 * Writes a NUL-terminated string into out (JSON_FLOAT_MAX bytes) and returns its length. */
size_t json_format_float(double v, char *out);
/* Formats a millisecond timestamp as Prometheus does: integer seconds, then, if the millisecond
 * part is non-zero, '.' and exactly three digits. out holds JSON_TS_MAX bytes. Returns length. */
size_t json_format_timestamp(int64_t ms, char *out);

/* Appends s (n bytes, any bytes) as a quoted JSON string. Escapes '"', '\\', control characters
 * (\n \r \t, others as \u00xx), '<' '>' '&' as \u003c \u003e \u0026, U+2028/U+2029, and replaces
 * invalid UTF-8 bytes with \ufffd, as Go does. */
void json_str(buf_t *b, const char *s, size_t n);
void json_cstr(buf_t *b, const char *s);
/* Appends a sample value as a quoted string: "1.5", "NaN". */
void json_float_str(buf_t *b, double v);
/* Appends a timestamp as a bare JSON number: 1435781451.781 */
void json_timestamp(buf_t *b, int64_t ms);
/* Appends a label set as an object {"name":"value",...} in the set's (sorted) order. */
void json_labels(buf_t *b, const label_t *v, size_t n);

#endif
