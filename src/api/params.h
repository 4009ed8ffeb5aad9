/* params.h owns request parameters: decoding query strings and form bodies into ordered
 * key/value pairs, and parsing Prometheus's time, duration and step formats.
 * Ownership: a params_t owns copies of its keys and values; params_free releases them. */
#ifndef MS_API_PARAMS_H
#define MS_API_PARAMS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The smallest and largest timestamps (ms) a request can name; Prometheus's MinTime/MaxTime. */
#define PARAMS_MIN_TIME_MS INT64_MIN
#define PARAMS_MAX_TIME_MS INT64_MAX

typedef struct param {
    char *key, *value; /* NUL-terminated, decoded */
    size_t key_len, value_len;
} param_t;

typedef struct params {
    param_t *v;
    size_t n, cap;
} params_t;

#define PARAMS_INIT {NULL, 0, 0}

/* Decodes application/x-www-form-urlencoded text ("a=1&match[]=x&match[]=y"): '+' is a space,
 * %XX a byte; pairs are appended in order, so repeated keys keep their order. A key without '='
 * gets the value "". Returns MS_EINVAL on a malformed %-escape (pairs before it are kept) and,
 * if err is not NULL, writes Go's message: invalid URL escape "%zz". */
int params_parse_urlencoded(params_t *p, const char *s, size_t n, char *err, size_t err_len);
/* Percent-decodes s[0..n) into a malloc'd NUL-terminated string ('+' stays '+' when plus_is_space
 * is false, as in URL paths). Returns NULL on a malformed escape. */
char *params_unescape(const char *s, size_t n, bool plus_is_space, size_t *out_len);
/* The first value of key, or NULL. */
const char *params_get(const params_t *p, const char *key);
/* Number of values of key; params_get_nth returns the i-th of them in order. */
size_t params_count(const params_t *p, const char *key);
const char *params_get_nth(const params_t *p, const char *key, size_t i);
void params_free(params_t *p);

/* Parses a time as Prometheus's API does: a Unix-seconds float (fraction rounded to ms) or
 * RFC 3339 with optional fractional seconds and "Z" or a "+hh:mm"/"-hh:mm" offset. Returns 0 and
 * *ms, or MS_EINVAL with err = `cannot parse "<s>" to a valid timestamp`. */
int params_parse_time(const char *s, int64_t *ms, char *err, size_t err_len);
/* Parses a duration: a float of seconds, or Prometheus's duration "1y2w3d4h5m6s7ms" (units in that
 * order, each at most once, integer counts; y = 365d, w = 7d). Returns 0 and *ms, or MS_EINVAL with
 * err = `cannot parse "<s>" to a valid duration` (or "... It overflows int64"). */
int params_parse_duration(const char *s, int64_t *ms, char *err, size_t err_len);
/* Writes s as Go's %q would (quoted, with \" \\ and control characters escaped). */
void params_go_quote(const char *s, char *out, size_t out_len);

#endif
