/* params.c owns decoding request parameters (query strings, form bodies) and parsing times,
 * durations and steps in the formats Prometheus's HTTP API accepts, with its error texts. */
#include "api/params.h"
#include "util/alloc.h"
#include "util/status.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *params_unescape(const char *s, size_t n, bool plus_is_space, size_t *out_len)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n) { free(out); return NULL; }
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) { free(out); return NULL; }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = 0;
    if (out_len) *out_len = o;
    return out;
}

/* Names the first malformed escape in s[0..n) as Go's net/url does. */
static void bad_escape(const char *s, size_t n, char *err, size_t err_len)
{
    if (!err) return;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '%') {
            size_t l = n - i < 3 ? n - i : 3;
            bool ok = l == 3 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0;
            if (!ok) {
                snprintf(err, err_len, "invalid URL escape \"%.*s\"", (int)l, s + i);
                return;
            }
        }
    snprintf(err, err_len, "invalid URL escape");
}

int params_parse_urlencoded(params_t *p, const char *s, size_t n, char *err, size_t err_len)
{
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && s[end] != '&' && s[end] != ';') end++;
        if (end > i) {
            size_t eq = i;
            while (eq < end && s[eq] != '=') eq++;
            size_t kl, vl;
            char *k = params_unescape(s + i, eq - i, true, &kl);
            char *v = eq < end ? params_unescape(s + eq + 1, end - eq - 1, true, &vl) : xmemdup0("", 0);
            if (eq >= end) vl = 0;
            if (!k || !v) {
                free(k);
                free(v);
                bad_escape(s + i, end - i, err, err_len);
                return MS_EINVAL;
            }
            XGROW(p->v, p->cap, p->n + 1);
            p->v[p->n++] = (param_t){k, v, kl, vl};
        }
        i = end + 1;
    }
    return MS_OK;
}

const char *params_get(const params_t *p, const char *key) { return params_get_nth(p, key, 0); }

size_t params_count(const params_t *p, const char *key)
{
    size_t c = 0;
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->v[i].key, key)) c++;
    return c;
}

const char *params_get_nth(const params_t *p, const char *key, size_t nth)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->v[i].key, key) && nth-- == 0) return p->v[i].value;
    return NULL;
}

void params_free(params_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].value);
    }
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

void params_go_quote(const char *s, char *out, size_t out_len)
{
    if (out_len < 3) { if (out_len) out[0] = 0; return; }
    size_t o = 0;
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        size_t el = 0;
        if (*p == '"' || *p == '\\') { esc[0] = '\\'; esc[1] = (char)*p; el = 2; }
        else if (*p == '\n') { memcpy(esc, "\\n", 2); el = 2; }
        else if (*p == '\t') { memcpy(esc, "\\t", 2); el = 2; }
        else if (*p == '\r') { memcpy(esc, "\\r", 2); el = 2; }
        else if (*p < 0x20 || *p == 0x7f) { snprintf(esc, sizeof esc, "\\x%02x", *p); el = 4; }
        else { esc[0] = (char)*p; el = 1; }
        if (o + el + 2 > out_len) break;
        memcpy(out + o, esc, el);
        o += el;
    }
    out[o++] = '"';
    out[o] = 0;
}

static void err_cannot_parse(char *err, size_t err_len, const char *s, const char *what, const char *extra)
{
    char q[256];
    params_go_quote(s, q, sizeof q);
    snprintf(err, err_len, "cannot parse %s to a valid %s%s", q, what, extra);
}

/* Go's strconv.ParseFloat accepts the whole string or nothing; strtod would skip leading spaces. */
static bool parse_float_strict(const char *s, double *out)
{
    if (!*s || *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v') return false;
    char *end;
    double v = strtod(s, &end);
    if (*end) return false;
    *out = v;
    return true;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Reads exactly n digits at *p into *v. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return false;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return true;
}

static bool parse_rfc3339(const char *s, int64_t *ms)
{
    const char *p = s;
    int y, mo, d, h, mi, se;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d)) return false;
    if (*p != 'T' && *p != 't') return false;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &se)) return false;
    int64_t frac_ms = 0;
    if (*p == '.' || *p == ',') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3) frac_ms = frac_ms * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0) return false;
        for (int i = nd; i < 3; i++) frac_ms *= 10;
    }
    int off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om)) return false;
        if (oh > 23 || om > 59) return false;
        off_s = sign * (oh * 3600 + om * 60);
    } else {
        return false;
    }
    if (*p) return false;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap)) return false;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - off_s;
    *ms = secs * 1000 + frac_ms;
    return true;
}

int params_parse_time(const char *s, int64_t *ms, char *err, size_t err_len)
{
    double f;
    if (parse_float_strict(s, &f) && !isnan(f)) {
        if (f >= 9223372036854775.0) { *ms = PARAMS_MAX_TIME_MS; return MS_OK; }
        if (f <= -9223372036854775.0) { *ms = PARAMS_MIN_TIME_MS; return MS_OK; }
        double sec = trunc(f);
        *ms = (int64_t)sec * 1000 + (int64_t)llround((f - sec) * 1000.0);
        return MS_OK;
    }
    if (parse_rfc3339(s, ms)) return MS_OK;
    /* Prometheus's own boundary times, which Go's 4-digit-year parser cannot read. */
    if (!strcmp(s, "-292273086-05-16T16:47:06Z")) { *ms = PARAMS_MIN_TIME_MS; return MS_OK; }
    if (!strcmp(s, "292277025-08-18T07:12:54.999999999Z")) { *ms = PARAMS_MAX_TIME_MS; return MS_OK; }
    err_cannot_parse(err, err_len, s, "timestamp", "");
    return MS_EINVAL;
}

/* Largest duration in ms whose nanoseconds still fit an int64 (Go's time.Duration). */
#define MAX_DURATION_MS (INT64_MAX / 1000000)

static bool parse_prom_duration(const char *s, int64_t *ms)
{
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000}, {"h", 3600000},
        {"m", 60000}, {"s", 1000}, {"ms", 1},
    };
    if (!strcmp(s, "0")) { *ms = 0; return true; }
    if (!*s) return false;
    const char *p = s;
    size_t next_unit = 0;
    int64_t total = 0;
    while (*p) {
        if (*p < '0' || *p > '9') return false;
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > MAX_DURATION_MS / 10) return false;
            n = n * 10 + (*p++ - '0');
        }
        size_t ul = 0;
        while (p[ul] && !(p[ul] >= '0' && p[ul] <= '9')) ul++;
        size_t u = next_unit;
        while (u < sizeof units / sizeof *units && (strlen(units[u].unit) != ul || strncmp(p, units[u].unit, ul)))
            u++;
        if (u == sizeof units / sizeof *units) return false; /* unknown unit, or out of order */
        if (n > MAX_DURATION_MS / units[u].ms) return false;
        total += n * units[u].ms;
        if (total > MAX_DURATION_MS) return false;
        next_unit = u + 1;
        p += ul;
    }
    *ms = total;
    return true;
}

int params_parse_duration(const char *s, int64_t *ms, char *err, size_t err_len)
{
    double f;
    if (parse_float_strict(s, &f)) {
        double ns = f * 1e9;
        if (isnan(ns) || ns >= 9223372036854775807.0 || ns < -9223372036854775808.0) {
            err_cannot_parse(err, err_len, s, "duration", ". It overflows int64");
            return MS_EINVAL;
        }
        *ms = (int64_t)ns / 1000000;
        return MS_OK;
    }
    if (parse_prom_duration(s, ms)) return MS_OK;
    err_cannot_parse(err, err_len, s, "duration", "");
    return MS_EINVAL;
}
