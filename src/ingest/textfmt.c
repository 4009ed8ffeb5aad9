/* textfmt.c owns the text exposition parser declared in textfmt.h: one pass over the body, line
 * by line, each line read through a bounds-checked cursor_t, no allocation per label or sample
 * beyond the document's growable arrays (and the arena for values that had escapes). */
#include "ingest/textfmt.h"
#include "ingest/line_error.h"
#include "util/alloc.h"
#include "util/cursor.h"
#include "util/status.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    textfmt_doc_t *doc;
    const textfmt_options_t *opts;
    line_err_t le;
} parser_t;

#define fail(p, ...) line_fail(&(p)->le, __VA_ARGS__)

static int peek(const cursor_t *c) { return cursor_left(c) ? *c->p : -1; }
static void adv(cursor_t *c) { cursor_skip(c, 1); }
static void skip_ws(cursor_t *c)
{
    while (peek(c) == ' ' || peek(c) == '\t') adv(c);
}
static bool is_alpha_(int ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'; }
static bool is_digit(int ch) { return ch >= '0' && ch <= '9'; }

/* A metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, with colon false, a label name. */
static size_t take_name(cursor_t *c, bool colon, const char **out)
{
    const uint8_t *start = c->p;
    int ch = peek(c);
    if (!(is_alpha_(ch) || (colon && ch == ':'))) return 0;
    while ((ch = peek(c)) >= 0 && (is_alpha_(ch) || is_digit(ch) || (colon && ch == ':'))) adv(c);
    *out = (const char *)start;
    return (size_t)(c->p - start);
}

/* A whitespace-delimited token (value, timestamp, TYPE word). */
static size_t take_token(cursor_t *c, const char **out)
{
    const uint8_t *start = c->p;
    int ch;
    while ((ch = peek(c)) >= 0 && ch != ' ' && ch != '\t') adv(c);
    *out = (const char *)start;
    return (size_t)(c->p - start);
}

static bool parse_float(const char *s, size_t n, double *v)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) return false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (tmp[0] == ' ' || tmp[0] == '\t') return false;
    /* strtod reads "nan(...)" and C locale quirks Go's ParseFloat refuses; only plain forms here. */
    if (memchr(tmp, '(', n)) return false;
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (*end) return false;
    if (errno == ERANGE && isinf(d)) return false; /* "1e999": Go also calls this out of range */
    *v = d;
    return true;
}

static bool parse_ts(parser_t *p, const char *s, size_t n, int64_t *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) return fail(p, "invalid timestamp \"%.*s\"", (int)(n < 40 ? n : 40), s);
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (p->opts->openmetrics) {
        double d;
        if (!parse_float(tmp, n, &d) || !isfinite(d) || fabs(d) > 9.2e15)
            return fail(p, "invalid timestamp \"%s\"", tmp);
        *out = llround(d * 1000.0);
        return true;
    }
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (*end || errno || !(is_digit(tmp[0]) || ((tmp[0] == '-' || tmp[0] == '+') && is_digit(tmp[1]))))
        return fail(p, "invalid timestamp \"%s\" (want integer milliseconds)", tmp);
    *out = v;
    return true;
}

static label_t *push_label(textfmt_doc_t *d)
{
    XGROW(d->labels, d->cap_labels, d->n_labels + 1);
    return &d->labels[d->n_labels++];
}

/* Reads a quoted label value after the opening quote; unescapes into the arena when needed. */
static bool take_value(parser_t *p, cursor_t *c, const char **out, uint32_t *out_len)
{
    const uint8_t *start = c->p;
    bool escapes = false;
    int ch;
    while ((ch = peek(c)) >= 0 && ch != '"') {
        if (ch == '\\') {
            adv(c);
            int e = peek(c);
            if (e != '\\' && e != '"' && e != 'n')
                return fail(p, "invalid escape sequence in label value (only \\\\, \\\" and \\n)");
            escapes = true;
        }
        adv(c);
    }
    if (ch != '"') return fail(p, "unterminated label value");
    size_t n = (size_t)(c->p - start);
    adv(c);
    if (n > UINT32_MAX) return fail(p, "label value too long");
    if (!escapes) {
        *out = (const char *)start;
        *out_len = (uint32_t)n;
        return true;
    }
    char *dst = arena_alloc(&p->doc->arena, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char s = (char)start[i];
        if (s == '\\') {
            char e = (char)start[++i];
            dst[o++] = e == 'n' ? '\n' : e;
        } else {
            dst[o++] = s;
        }
    }
    dst[o] = 0;
    *out = dst;
    *out_len = (uint32_t)o;
    return true;
}

static bool parse_sample(parser_t *p, cursor_t *c)
{
    textfmt_doc_t *d = p->doc;
    const char *name;
    size_t nl = take_name(c, true, &name);
    if (!nl) return fail(p, "expected a metric name, found '%c'", peek(c) >= 32 && peek(c) < 127 ? peek(c) : '?');
    if (p->opts->max_samples && d->n_samples >= p->opts->max_samples)
        return fail(p, "more than %zu samples in one request", p->opts->max_samples);
    size_t first = d->n_labels;
    label_t *l = push_label(d);
    *l = (label_t){METRIC_NAME_LABEL, name, 8, (uint32_t)nl};
    const uint8_t *before = c->p;
    skip_ws(c);
    bool sep = c->p != before; /* the value must be separated from the series by blanks */
    if (peek(c) == '{') {
        adv(c);
        for (;;) {
            skip_ws(c);
            if (peek(c) == '}') break;
            const char *ln;
            size_t lnl = take_name(c, false, &ln);
            if (!lnl) return fail(p, "expected a label name or '}' in the label set");
            skip_ws(c);
            if (peek(c) != '=') return fail(p, "expected '=' after label name \"%.*s\"", (int)lnl, ln);
            adv(c);
            skip_ws(c);
            if (peek(c) != '"') return fail(p, "expected '\"' to start the value of label \"%.*s\"", (int)lnl, ln);
            adv(c);
            const char *v = NULL;
            uint32_t vl = 0;
            if (!take_value(p, c, &v, &vl)) return false;
            l = push_label(d);
            *l = (label_t){ln, v, (uint32_t)lnl, vl};
            skip_ws(c);
            if (peek(c) == ',') {
                adv(c);
                continue;
            }
            if (peek(c) != '}') return fail(p, "expected ',' or '}' after a label value");
        }
        adv(c);
        before = c->p;
        skip_ws(c);
        sep = c->p != before;
    }
    if (!sep || cursor_done(c)) return fail(p, "expected a space and a value after the series");
    const char *vs;
    size_t vn = take_token(c, &vs);
    double v;
    if (!parse_float(vs, vn, &v)) return fail(p, "invalid value \"%.*s\"", (int)(vn < 40 ? vn : 40), vs);
    skip_ws(c);
    bool has_ts = false;
    int64_t ts = 0;
    if (peek(c) >= 0 && peek(c) != '#') {
        const char *ts_s;
        size_t tn = take_token(c, &ts_s);
        if (!parse_ts(p, ts_s, tn, &ts)) return false;
        has_ts = true;
        skip_ws(c);
    }
    /* OpenMetrics exemplar (" # {trace_id=...} 1 123"): accepted and ignored. */
    if (peek(c) == '#') c->p = c->end;
    if (!cursor_done(c)) return fail(p, "unexpected text after the %s", has_ts ? "timestamp" : "value");
    XGROW(d->samples, d->cap_samples, d->n_samples + 1);
    d->samples[d->n_samples++] = (textfmt_sample_t){NULL, d->n_labels - first, first, v, has_ts, ts, p->le.line};
    return true;
}

bool textfmt_type_valid(const char *t, size_t n)
{
    static const char *const types[] = {"counter", "gauge",   "histogram",      "summary", "untyped",
                                        "unknown", "stateset", "gaugehistogram", "info"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strlen(types[i]) == n && !memcmp(types[i], t, n)) return true;
    return false;
}

static textfmt_meta_t *meta_for(parser_t *p, const char *name, size_t n)
{
    textfmt_doc_t *d = p->doc;
    if (d->n_meta) {
        textfmt_meta_t *m = &d->meta[d->n_meta - 1];
        if (strlen(m->metric) == n && !memcmp(m->metric, name, n)) return m;
    }
    XGROW(d->meta, d->cap_meta, d->n_meta + 1);
    textfmt_meta_t *m = &d->meta[d->n_meta++];
    *m = (textfmt_meta_t){arena_strndup(&d->arena, name, n), "", "", "", p->le.line};
    return m;
}

/* "# HELP", "# TYPE", "# UNIT" or "# EOF" (sets *eof); any other comment is ignored. */
static bool parse_comment(parser_t *p, cursor_t *c, bool *eof)
{
    adv(c); /* '#' */
    skip_ws(c);
    const char *kw;
    size_t kn = take_token(c, &kw);
    bool help = kn == 4 && !memcmp(kw, "HELP", 4), type = kn == 4 && !memcmp(kw, "TYPE", 4);
    bool unit = kn == 4 && !memcmp(kw, "UNIT", 4);
    if (kn == 3 && !memcmp(kw, "EOF", 3)) {
        skip_ws(c);
        if (!cursor_done(c)) return true; /* "# EOF something": just a comment */
        *eof = true;
        return true;
    }
    if (!help && !type && !unit) return true;
    skip_ws(c);
    const char *name;
    size_t nl = take_name(c, true, &name);
    if (!nl) return fail(p, "expected a metric name after # %.*s", (int)kn, kw);
    int ch = peek(c);
    if (ch >= 0 && ch != ' ' && ch != '\t') return fail(p, "invalid metric name in # %.*s", (int)kn, kw);
    skip_ws(c);
    const char *rest = (const char *)c->p;
    size_t rn = cursor_left(c);
    textfmt_meta_t *m = meta_for(p, name, nl);
    if (type) {
        while (rn && (rest[rn - 1] == ' ' || rest[rn - 1] == '\t')) rn--;
        if (!textfmt_type_valid(rest, rn))
            return fail(p, "invalid metric type \"%.*s\"", (int)(rn < 40 ? rn : 40), rest);
        m->type = arena_strndup(&p->doc->arena, rest, rn);
    } else if (unit) {
        m->unit = arena_strndup(&p->doc->arena, rest, rn);
    } else {
        char *h = arena_alloc(&p->doc->arena, rn + 1);
        size_t o = 0;
        for (size_t i = 0; i < rn; i++) {
            if (rest[i] == '\\' && i + 1 < rn && (rest[i + 1] == '\\' || rest[i + 1] == 'n')) {
                h[o++] = rest[i + 1] == 'n' ? '\n' : '\\';
                i++;
            } else {
                h[o++] = rest[i];
            }
        }
        h[o] = 0;
        m->help = h;
    }
    c->p = c->end;
    return true;
}

void textfmt_doc_free(textfmt_doc_t *doc)
{
    if (!doc) return;
    free(doc->samples);
    free(doc->labels);
    free(doc->meta);
    arena_free(&doc->arena);
    memset(doc, 0, sizeof *doc);
}

int textfmt_parse(const char *body, size_t len, const textfmt_options_t *opts, textfmt_doc_t *doc,
                  size_t *err_line, char *err, size_t err_len)
{
    static const textfmt_options_t defaults = {false, 0};
    memset(doc, 0, sizeof *doc);
    if (err_line) *err_line = 0;
    parser_t p = {.doc = doc, .opts = opts ? opts : &defaults};
    line_err_init(&p.le, err, err_len);
    cursor_t all;
    cursor_init(&all, body ? body : "", body ? len : 0);
    bool eof = false, ok = true;
    while (ok && !cursor_done(&all)) {
        p.le.line++;
        const uint8_t *nl = memchr(all.p, '\n', cursor_left(&all));
        size_t n = nl ? (size_t)(nl - all.p) : cursor_left(&all);
        cursor_t line;
        cursor_init(&line, cursor_bytes(&all, n), n);
        if (nl) cursor_skip(&all, 1);
        if (n && line.end[-1] == '\r') line.end--; /* tolerate CRLF */
        skip_ws(&line);
        if (cursor_done(&line)) continue;
        if (eof) {
            ok = fail(&p, "content after # EOF");
        } else if (peek(&line) == '#') {
            ok = parse_comment(&p, &line, &eof);
        } else {
            ok = parse_sample(&p, &line);
        }
    }
    if (!ok) {
        if (err_line) *err_line = p.le.line;
        textfmt_doc_free(doc);
        return MS_EINVAL;
    }
    for (size_t i = 0; i < doc->n_samples; i++) doc->samples[i].labels = doc->labels + doc->samples[i].first_label;
    return MS_OK;
}
