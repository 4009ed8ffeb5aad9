/* json.c owns Prometheus-exact JSON output: Go-compatible string escaping, float and timestamp
 * formatting. Why hand-written: printf's %g uses exponents and has no "shortest round-trip"
 * mode, while Prometheus clients compare strings byte for byte. */
#include "api/json.h"
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints v with `sig` significant digits in %e form and splits it into sign, digit string (no
 * trailing zeros) and decimal exponent. Returns 1 if those digits parse back to exactly v. */
static int float_digits(double v, int sig, char *neg, char *digits, int *ndigits, int *exp10)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*e", sig - 1, v);
    const char *p = tmp;
    *neg = 0;
    if (*p == '-') { *neg = 1; p++; }
    int n = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[n++] = *p;
    int e = (*p == 'e') ? atoi(p + 1) : 0;
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = 0;
    *ndigits = n;
    *exp10 = e;
    return strtod(tmp, NULL) == v;
}

size_t json_format_float(double v, char *out)
{
    if (isnan(v)) { strcpy(out, "NaN"); return 3; }
    if (isinf(v)) { strcpy(out, v > 0 ? "+Inf" : "-Inf"); return 4; }
    /* Fast path for integral values below 2^53 (counters, gauges of counts): exact as integers. */
    if (v == trunc(v) && fabs(v) < 9007199254740992.0 && !(v == 0 && signbit(v))) {
        char tmp[24];
        int64_t iv = (int64_t)v;
        uint64_t u = iv < 0 ? (uint64_t)0 - (uint64_t)iv : (uint64_t)iv;
        size_t k = 0;
        do { tmp[k++] = (char)('0' + u % 10); u /= 10; } while (u);
        size_t o = 0;
        if (iv < 0) out[o++] = '-';
        while (k) out[o++] = tmp[--k];
        out[o] = 0;
        return o;
    }
    char neg, digits[32];
    int nd = 0, e = 0;
    /* Any value that some decimal of <= 15 digits round-trips to prints as that decimal (padded
     * with zeros) at 15 digits, so trying 15, 16, 17 finds the shortest; 17 always round-trips. */
    int first = 15;
    if (v != 0 && fabs(v) < DBL_MIN) first = 1; /* subnormals carry fewer digits: search them all */
    for (int sig = first; sig <= 17; sig++)
        if (float_digits(v, sig, &neg, digits, &nd, &e) || sig == 17) break;
    size_t o = 0;
    if (neg) out[o++] = '-';
    double av = fabs(v);
    if (av != 0 && (av < 1e-6 || av >= 1e21)) {
        /* Prometheus switches to Go's 'e' format outside [1e-6, 1e21): d.ddde±XX */
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, (size_t)(nd - 1));
            o += (size_t)(nd - 1);
        }
        o += (size_t)sprintf(out + o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
        return o;
    }
    if (digits[0] == '0') { /* zero */
        out[o++] = '0';
    } else if (e >= nd - 1) { /* integer: all digits, then zeros */
        memcpy(out + o, digits, (size_t)nd);
        o += (size_t)nd;
        for (int i = 0; i < e - (nd - 1); i++) out[o++] = '0';
    } else if (e >= 0) { /* point inside the digits */
        memcpy(out + o, digits, (size_t)e + 1);
        o += (size_t)e + 1;
        out[o++] = '.';
        memcpy(out + o, digits + e + 1, (size_t)(nd - e - 1));
        o += (size_t)(nd - e - 1);
    } else { /* 0.000ddd */
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -e - 1; i++) out[o++] = '0';
        memcpy(out + o, digits, (size_t)nd);
        o += (size_t)nd;
    }
    out[o] = 0;
    return o;
}

size_t json_format_timestamp(int64_t ms, char *out)
{
    /* Work in uint64 so INT64_MIN negates cleanly. */
    uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    unsigned frac = (unsigned)(u % 1000);
    int n;
    if (frac)
        n = snprintf(out, JSON_TS_MAX, "%s%llu.%03u", ms < 0 ? "-" : "", (unsigned long long)(u / 1000), frac);
    else
        n = snprintf(out, JSON_TS_MAX, "%s%llu", ms < 0 ? "-" : "", (unsigned long long)(u / 1000));
    return (size_t)n;
}

/* Decodes one UTF-8 sequence at s[0..n); returns its length and the code point, or length 1 and
 * -1 for an invalid byte (overlong forms, surrogates and > U+10FFFF are invalid, as in Go). */
static size_t utf8_next(const unsigned char *s, size_t n, long *cp)
{
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t len;
    long min, v;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; v = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; v = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; v = c & 0x07; min = 0x10000; }
    else { *cp = -1; return 1; }
    if (len > n) { *cp = -1; return 1; }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) { *cp = -1; return 1; }
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) { *cp = -1; return 1; }
    *cp = v;
    return len;
}

void json_str(buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
            i++;
            continue;
        }
        long cp;
        size_t len = c < 0x80 ? 1 : utf8_next(p + i, n - i, &cp);
        if (c >= 0x80 && cp >= 0 && cp != 0x2028 && cp != 0x2029) { i += len; continue; }
        buf_append(b, s + run, i - run);
        if (c >= 0x80) {
            buf_puts(b, cp < 0 ? "\\ufffd" : cp == 0x2028 ? "\\u2028" : "\\u2029");
        } else if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
        } else if (c == '\n') {
            buf_puts(b, "\\n");
        } else if (c == '\r') {
            buf_puts(b, "\\r");
        } else if (c == '\t') {
            buf_puts(b, "\\t");
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, e, 6);
        }
        i += len;
        run = i;
    }
    buf_append(b, s + run, n - run);
    buf_putc(b, '"');
}

void json_cstr(buf_t *b, const char *s) { json_str(b, s, strlen(s)); }

void json_float_str(buf_t *b, double v)
{
    char tmp[JSON_FLOAT_MAX];
    size_t n = json_format_float(v, tmp);
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    buf_append(b, tmp, n);
    buf_putc(b, '"');
}

void json_timestamp(buf_t *b, int64_t ms)
{
    char tmp[JSON_TS_MAX];
    buf_append(b, tmp, json_format_timestamp(ms, tmp));
}

void json_labels(buf_t *b, const label_t *v, size_t n)
{
    buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(b, ',');
        json_str(b, v[i].name, v[i].name_len);
        buf_putc(b, ':');
        json_str(b, v[i].value, v[i].value_len);
    }
    buf_putc(b, '}');
}
