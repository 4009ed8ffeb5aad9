/* jsonl.c owns the JSON-lines series decoder declared in jsonl.h: a small strict JSON reader
 * (objects, arrays, strings with escapes, numbers) over a bounds-checked cursor_t, enough for the
 * export shape and nothing more general. */
#include "ingest/jsonl.h"
#include "ingest/line_error.h"
#include "util/alloc.h"
#include "util/cursor.h"
#include "util/status.h"
#include "util/utf8.h"
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jp {
    jsonl_doc_t *doc;
    size_t max_samples;
    line_err_t le;
} jp_t;

#define fail(p, ...) line_fail(&(p)->le, __VA_ARGS__)

static int peek(const cursor_t *c) { return cursor_left(c) ? *c->p : -1; }
static void ws(cursor_t *c)
{
    int ch;
    while ((ch = peek(c)) == ' ' || ch == '\t' || ch == '\r' || ch == '\n') cursor_skip(c, 1);
}
static bool expect(jp_t *p, cursor_t *c, char ch)
{
    ws(c);
    if (peek(c) != ch) return fail(p, "expected '%c'", ch);
    cursor_skip(c, 1);
    return true;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static bool hex4(cursor_t *c, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(peek(c));
        if (h < 0) return false;
        v = v * 16 + (unsigned)h;
        cursor_skip(c, 1);
    }
    *out = v;
    return true;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A JSON string (cursor after ws, at the quote) into the arena; escapes decoded, UTF-8 checked. */
static bool string(jp_t *p, cursor_t *c, const char **out, size_t *out_len)
{
    ws(c);
    if (peek(c) != '"') return fail(p, "expected a string");
    cursor_skip(c, 1);
    const uint8_t *start = c->p;
    while (peek(c) >= 0 && peek(c) != '"') cursor_skip(c, peek(c) == '\\' ? 2 : 1);
    if (peek(c) != '"') return fail(p, "unterminated string");
    size_t raw = (size_t)(c->p - start);
    cursor_skip(c, 1);
    char *dst = arena_alloc(&p->doc->arena, raw + 1); /* decoded is never longer than raw */
    size_t o = 0;
    cursor_t s;
    cursor_init(&s, start, raw);
    while (!cursor_done(&s)) {
        int ch = peek(&s);
        cursor_skip(&s, 1);
        if (ch < 0x20) return fail(p, "control character in a string");
        if (ch != '\\') { dst[o++] = (char)ch; continue; }
        int e = peek(&s);
        cursor_skip(&s, 1);
        switch (e) {
        case '"': dst[o++] = '"'; break;
        case '\\': dst[o++] = '\\'; break;
        case '/': dst[o++] = '/'; break;
        case 'b': dst[o++] = '\b'; break;
        case 'f': dst[o++] = '\f'; break;
        case 'n': dst[o++] = '\n'; break;
        case 'r': dst[o++] = '\r'; break;
        case 't': dst[o++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (!hex4(&s, &cp)) return fail(p, "invalid \\u escape");
            if (cp >= 0xd800 && cp < 0xdc00 && peek(&s) == '\\' && s.p + 1 < s.end && s.p[1] == 'u') {
                cursor_t save = s;
                cursor_skip(&s, 2);
                if (hex4(&s, &lo) && lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                else s = save;
            }
            if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd; /* lone surrogate, as Go decodes it */
            o += put_utf8(dst + o, cp);
            break;
        }
        default: return fail(p, "invalid escape in a string");
        }
    }
    dst[o] = 0;
    if (!utf8_valid(dst, o)) return fail(p, "string is not valid UTF-8");
    *out = dst;
    *out_len = o;
    return true;
}

static bool number_token(jp_t *p, cursor_t *c, char *tmp, size_t cap)
{
    ws(c);
    size_t n = 0;
    int ch;
    while ((ch = peek(c)) >= 0 && (ch == '-' || ch == '+' || ch == '.' || ch == 'e' || ch == 'E' ||
                                   (ch >= '0' && ch <= '9'))) {
        if (n + 1 >= cap) return fail(p, "number too long");
        tmp[n++] = (char)ch;
        cursor_skip(c, 1);
    }
    tmp[n] = 0;
    if (!n) return fail(p, "expected a number");
    return true;
}

static bool value(jp_t *p, cursor_t *c, double *v)
{
    ws(c);
    char tmp[64];
    const char *s;
    if (peek(c) == '"') {
        size_t n;
        if (!string(p, c, &s, &n)) return false;
        if (!strcmp(s, "stale")) {
            uint64_t b = JSONL_STALE_NAN_BITS;
            memcpy(v, &b, sizeof *v);
            return true;
        }
        if (!strcmp(s, "NaN")) { *v = NAN; return true; }
        if (!strcmp(s, "+Inf") || !strcmp(s, "Inf")) { *v = INFINITY; return true; }
        if (!strcmp(s, "-Inf")) { *v = -INFINITY; return true; }
        if (n == 0 || n >= sizeof tmp) return fail(p, "invalid value \"%.40s\"", s);
        memcpy(tmp, s, n + 1);
    } else if (!number_token(p, c, tmp, sizeof tmp)) {
        return false;
    }
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (*end || !((tmp[0] >= '0' && tmp[0] <= '9') || tmp[0] == '-' || tmp[0] == '.'))
        return fail(p, "invalid value \"%s\"", tmp);
    *v = d;
    return true;
}

static bool timestamp(jp_t *p, cursor_t *c, int64_t *t)
{
    char tmp[32];
    if (!number_token(p, c, tmp, sizeof tmp)) return false;
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (*end || errno) return fail(p, "invalid timestamp %s (want integer milliseconds)", tmp);
    *t = v;
    return true;
}

/* Parses one array of values or timestamps into the doc's sample array starting at first. */
static bool array(jp_t *p, cursor_t *c, bool ts, size_t first, size_t *count)
{
    jsonl_doc_t *d = p->doc;
    if (!expect(p, c, '[')) return false;
    size_t i = 0;
    ws(c);
    if (peek(c) == ']') { cursor_skip(c, 1); *count = 0; return true; }
    for (;;) {
        size_t k = first + i;
        if (k >= d->n_samples) {
            if (p->max_samples && d->n_samples >= p->max_samples)
                return fail(p, "more than %zu samples in one request", p->max_samples);
            XGROW(d->samples, d->cap_samples, d->n_samples + 1);
            d->samples[d->n_samples++] = (sample_t){0, 0};
        }
        if (ts ? !timestamp(p, c, &d->samples[k].t) : !value(p, c, &d->samples[k].v)) return false;
        i++;
        ws(c);
        if (peek(c) == ',') { cursor_skip(c, 1); continue; }
        if (!expect(p, c, ']')) return false;
        break;
    }
    *count = i;
    return true;
}

static bool parse_line(jp_t *p, cursor_t *c)
{
    jsonl_doc_t *d = p->doc;
    jsonl_series_t s = {NULL, 0, d->n_labels, NULL, 0, d->n_samples, p->le.line};
    bool have_metric = false, have_values = false, have_ts = false;
    size_t nv = 0, nt = 0;
    if (!expect(p, c, '{')) return false;
    ws(c);
    if (peek(c) == '}') return fail(p, "empty object");
    for (;;) {
        const char *key;
        size_t kl;
        if (!string(p, c, &key, &kl) || !expect(p, c, ':')) return false;
        if (!strcmp(key, "metric")) {
            if (have_metric) return fail(p, "\"metric\" given twice");
            have_metric = true;
            if (!expect(p, c, '{')) return false;
            ws(c);
            if (peek(c) == '}') cursor_skip(c, 1);
            else for (;;) {
                const char *n, *v;
                size_t nl, vl;
                if (!string(p, c, &n, &nl) || !expect(p, c, ':') || !string(p, c, &v, &vl)) return false;
                if (nl > UINT32_MAX || vl > UINT32_MAX) return fail(p, "label too long");
                XGROW(d->labels, d->cap_labels, d->n_labels + 1);
                d->labels[d->n_labels++] = (label_t){n, v, (uint32_t)nl, (uint32_t)vl};
                ws(c);
                if (peek(c) == ',') { cursor_skip(c, 1); continue; }
                if (!expect(p, c, '}')) return false;
                break;
            }
        } else if (!strcmp(key, "values")) {
            if (have_values) return fail(p, "\"values\" given twice");
            have_values = true;
            if (!array(p, c, false, s.first_sample, &nv)) return false;
        } else if (!strcmp(key, "timestamps")) {
            if (have_ts) return fail(p, "\"timestamps\" given twice");
            have_ts = true;
            if (!array(p, c, true, s.first_sample, &nt)) return false;
        } else {
            return fail(p, "unknown key \"%.40s\" (want metric, values, timestamps)", key);
        }
        ws(c);
        if (peek(c) == ',') { cursor_skip(c, 1); continue; }
        if (!expect(p, c, '}')) return false;
        break;
    }
    ws(c);
    if (!cursor_done(c)) return fail(p, "text after the object");
    if (!have_metric || !have_values || !have_ts) return fail(p, "want \"metric\", \"values\" and \"timestamps\"");
    if (nv != nt) return fail(p, "%zu values but %zu timestamps", nv, nt);
    s.n_labels = d->n_labels - s.first_label;
    s.n_samples = nv;
    XGROW(d->series, d->cap_series, d->n_series + 1);
    d->series[d->n_series++] = s;
    return true;
}

void jsonl_doc_free(jsonl_doc_t *doc)
{
    if (!doc) return;
    free(doc->series);
    free(doc->labels);
    free(doc->samples);
    arena_free(&doc->arena);
    memset(doc, 0, sizeof *doc);
}

int jsonl_parse(const char *body, size_t len, size_t max_samples, jsonl_doc_t *doc, size_t *err_line, char *err,
                size_t err_len)
{
    memset(doc, 0, sizeof *doc);
    if (err_line) *err_line = 0;
    jp_t p = {.doc = doc, .max_samples = max_samples};
    line_err_init(&p.le, err, err_len);
    cursor_t all;
    cursor_init(&all, body ? body : "", body ? len : 0);
    bool ok = true;
    while (ok && !cursor_done(&all)) {
        p.le.line++;
        const uint8_t *nl = memchr(all.p, '\n', cursor_left(&all));
        size_t n = nl ? (size_t)(nl - all.p) : cursor_left(&all);
        cursor_t line;
        cursor_init(&line, cursor_bytes(&all, n), n);
        if (nl) cursor_skip(&all, 1);
        ws(&line);
        if (cursor_done(&line)) continue;
        ok = parse_line(&p, &line);
    }
    if (!ok) {
        if (err_line) *err_line = p.le.line;
        jsonl_doc_free(doc);
        return MS_EINVAL;
    }
    for (size_t i = 0; i < doc->n_series; i++) {
        jsonl_series_t *s = &doc->series[i];
        s->labels = doc->labels + s->first_label;
        s->samples = doc->samples + s->first_sample;
    }
    return MS_OK;
}
