/* cli_json.c owns the command-line tool's JSON reader: a small tree of jv_t nodes built from an
 * API answer through a bounds-checked cursor (depth-limited, strings decoded with \u escapes). */
#include "cli/cli.h"
#include "util/alloc.h"
#include "util/cursor.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct jr {
    cursor_t c;
    char *err;
    size_t err_len;
    bool failed;
} jr_t;

static int pk(jr_t *r) { return r->c.p < r->c.end ? *r->c.p : -1; }
static void ws(jr_t *r)
{
    int ch;
    while ((ch = pk(r)) == ' ' || ch == '\n' || ch == '\r' || ch == '\t') cursor_skip(&r->c, 1);
}
static bool bad(jr_t *r, const char *what)
{
    if (!r->failed) snprintf(r->err, r->err_len, "invalid JSON: %s", what);
    r->failed = true;
    return false;
}

static void put_utf8(buf_t *b, unsigned cp)
{
    if (cp < 0x80) buf_putc(b, (char)cp);
    else if (cp < 0x800) { buf_putc(b, (char)(0xc0 | (cp >> 6))); buf_putc(b, (char)(0x80 | (cp & 0x3f))); }
    else if (cp < 0x10000) {
        buf_putc(b, (char)(0xe0 | (cp >> 12))); buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        buf_putc(b, (char)(0xf0 | (cp >> 18))); buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f))); buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    }
}

static bool hex4(jr_t *r, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int ch = pk(r), h = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                            : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (h < 0) return false;
        v = v * 16 + (unsigned)h;
        cursor_skip(&r->c, 1);
    }
    *out = v;
    return true;
}

static char *string(jr_t *r)
{
    cursor_skip(&r->c, 1); /* the opening quote */
    buf_t b = BUF_INIT;
    for (;;) {
        int ch = pk(r);
        if (ch < 0) { bad(r, "unterminated string"); buf_free(&b); return NULL; }
        cursor_skip(&r->c, 1);
        if (ch == '"') break;
        if (ch != '\\') { buf_putc(&b, (char)ch); continue; }
        int e = pk(r);
        cursor_skip(&r->c, 1);
        unsigned cp, lo;
        switch (e) {
        case 'n': buf_putc(&b, '\n'); break;
        case 't': buf_putc(&b, '\t'); break;
        case 'r': buf_putc(&b, '\r'); break;
        case 'b': buf_putc(&b, '\b'); break;
        case 'f': buf_putc(&b, '\f'); break;
        case '"': case '\\': case '/': buf_putc(&b, (char)e); break;
        case 'u':
            if (!hex4(r, &cp)) { bad(r, "bad \\u escape"); buf_free(&b); return NULL; }
            if (cp >= 0xd800 && cp < 0xdc00 && pk(r) == '\\') {
                cursor_skip(&r->c, 2);
                if (hex4(r, &lo) && lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                else cp = 0xfffd;
            } else if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd;
            }
            put_utf8(&b, cp);
            break;
        default: bad(r, "bad escape"); buf_free(&b); return NULL;
        }
    }
    char *s = xstrdup(b.data ? buf_cstr(&b) : "");
    buf_free(&b);
    return s;
}

static bool value(jr_t *r, jv_t *v, int depth)
{
    memset(v, 0, sizeof *v);
    if (depth > MAX_DEPTH) return bad(r, "nested too deeply");
    ws(r);
    int ch = pk(r);
    if (ch == '"') {
        v->type = JV_STR;
        return (v->s = string(r)) != NULL;
    }
    if (ch == '[' || ch == '{') {
        bool obj = ch == '{';
        v->type = obj ? JV_OBJ : JV_ARR;
        cursor_skip(&r->c, 1);
        size_t cap = 0, kcap = 0;
        ws(r);
        if (pk(r) == (obj ? '}' : ']')) { cursor_skip(&r->c, 1); return true; }
        for (;;) {
            if (obj) {
                ws(r);
                if (pk(r) != '"') return bad(r, "expected a key");
                char *k = string(r);
                if (!k) return false;
                XGROW(v->keys, kcap, v->n + 1);
                v->keys[v->n] = k;
                ws(r);
                if (pk(r) != ':') { free(k); return bad(r, "expected ':'"); }
                cursor_skip(&r->c, 1);
            }
            XGROW(v->items, cap, v->n + 1);
            bool ok = value(r, &v->items[v->n], depth + 1);
            v->n++; /* counted even on failure so jv_free releases it */
            if (!ok) return false;
            ws(r);
            if (pk(r) == ',') { cursor_skip(&r->c, 1); continue; }
            if (pk(r) == (obj ? '}' : ']')) { cursor_skip(&r->c, 1); return true; }
            return bad(r, "expected ',' or a closing bracket");
        }
    }
    const uint8_t *start = r->c.p;
    while ((ch = pk(r)) >= 0 && ch != ',' && ch != ']' && ch != '}' && ch != ' ' && ch != '\n' && ch != '\r' &&
           ch != '\t')
        cursor_skip(&r->c, 1);
    size_t n = (size_t)(r->c.p - start);
    if (!n) return bad(r, "expected a value");
    v->s = xmemdup0(start, n);
    if (!strcmp(v->s, "null")) v->type = JV_NULL;
    else if (!strcmp(v->s, "true") || !strcmp(v->s, "false")) v->type = JV_BOOL;
    else if ((v->s[0] >= '0' && v->s[0] <= '9') || v->s[0] == '-') v->type = JV_NUM;
    else return bad(r, "unknown literal");
    return true;
}

static void jv_release(jv_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jv_release(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->s);
}

void jv_free(jv_t *v)
{
    if (!v) return;
    jv_release(v);
    free(v);
}

jv_t *jv_parse(const char *s, size_t n, char *err, size_t err_len)
{
    jr_t r = {{0}, err, err_len, false};
    cursor_init(&r.c, s ? s : "", s ? n : 0);
    jv_t *v = xcalloc(1, sizeof *v);
    bool ok = value(&r, v, 0);
    ws(&r);
    if (ok && !cursor_done(&r.c)) ok = bad(&r, "text after the value");
    if (!ok) {
        jv_free(v);
        return NULL;
    }
    return v;
}

const jv_t *jv_get(const jv_t *obj, const char *key)
{
    if (!obj || obj->type != JV_OBJ) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return &obj->items[i];
    return NULL;
}

const char *jv_str(const jv_t *v) { return v && v->s ? v->s : ""; }
