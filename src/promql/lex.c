/* lex.c owns PromQL tokenization: numbers, durations, strings with Go escapes, identifiers and
 * keywords (case-insensitive), operators, and the brace/bracket/paren context rules and error
 * texts of Prometheus's lexer. */
#include "promql/lex.h"
#include "util/alloc.h"
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct { const char *w; tok_type_t t; } KEYWORDS[] = {
    {"and", T_LAND}, {"or", T_LOR}, {"unless", T_LUNLESS}, {"atan2", T_ATAN2},
    {"sum", T_SUM}, {"avg", T_AVG}, {"count", T_COUNT}, {"min", T_MIN}, {"max", T_MAX},
    {"group", T_GROUP}, {"stddev", T_STDDEV}, {"stdvar", T_STDVAR}, {"topk", T_TOPK},
    {"bottomk", T_BOTTOMK}, {"count_values", T_COUNT_VALUES}, {"quantile", T_QUANTILE},
    {"offset", T_OFFSET}, {"by", T_BY}, {"without", T_WITHOUT}, {"on", T_ON},
    {"ignoring", T_IGNORING}, {"group_left", T_GROUP_LEFT}, {"group_right", T_GROUP_RIGHT},
    {"bool", T_BOOL}, {"start", T_START}, {"end", T_END},
    {"inf", T_NUMBER}, {"nan", T_NUMBER},
};

bool tok_is_operator(tok_type_t t) { return t >= T_ADD && t <= T_ATAN2; }
bool tok_is_aggregator(tok_type_t t) { return t >= T_AGG_FIRST && t <= T_AGG_LAST; }
bool tok_is_keyword(tok_type_t t) { return t >= T_OFFSET && t <= T_END; }
bool tok_is_comparison(tok_type_t t) { return t >= T_EQLC && t <= T_GTR; }
bool tok_is_set_op(tok_type_t t) { return t == T_LAND || t == T_LOR || t == T_LUNLESS; }

const char *tok_op_str(tok_type_t t)
{
    switch (t) {
    case T_ADD: return "+";
    case T_SUB: return "-";
    case T_MUL: return "*";
    case T_DIV: return "/";
    case T_MOD: return "%";
    case T_POW: return "^";
    case T_EQLC: return "==";
    case T_NEQ: return "!=";
    case T_LTE: return "<=";
    case T_LSS: return "<";
    case T_GTE: return ">=";
    case T_GTR: return ">";
    case T_EQL_REGEX: return "=~";
    case T_NEQ_REGEX: return "!~";
    default: break;
    }
    for (size_t i = 0; i < sizeof KEYWORDS / sizeof KEYWORDS[0]; i++)
        if (KEYWORDS[i].t == t && t != T_NUMBER) return KEYWORDS[i].w;
    return "?";
}

/* Appends Go's %q rendering of s (at most max runes when max > 0, followed by "..."). */
static void go_quote(const char *s, int n, int max, char *out, size_t outn)
{
    size_t k = 0;
    int runes = 0;
    if (outn < 8) { if (outn) out[0] = 0; return; }
    out[k++] = '"';
    for (int i = 0; i < n && k + 8 < outn; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) != 0x80) {
            if (max > 0 && runes == max) break;
            runes++;
        }
        if (c == '"' || c == '\\') { out[k++] = '\\'; out[k++] = (char)c; }
        else if (c == '\n') { out[k++] = '\\'; out[k++] = 'n'; }
        else if (c == '\t') { out[k++] = '\\'; out[k++] = 't'; }
        else if (c < 0x20 || c == 0x7f) k += (size_t)snprintf(out + k, outn - k, "\\x%02x", c);
        else out[k++] = (char)c;
    }
    out[k++] = '"';
    out[k] = 0;
}

void tok_describe(const lexer_t *lx, const token_t *t, char *out, size_t outn)
{
    const char *txt = lx->s + t->pos;
    char q[160];
    switch (t->type) {
    case T_EOF: snprintf(out, outn, "end of input"); return;
    case T_ERROR: snprintf(out, outn, "%s", lx->err); return;
    case T_IDENT:
    case T_METRIC_IDENT:
        go_quote(txt, t->len, 0, q, sizeof q);
        snprintf(out, outn, "%s %s", t->type == T_IDENT ? "identifier" : "metric identifier", q);
        return;
    case T_NUMBER:
    case T_DURATION:
    case T_STRING:
        go_quote(txt, t->len, t->len > 10 ? 10 : 0, q, sizeof q);
        snprintf(out, outn, "%s %s%s", t->type == T_NUMBER ? "number" : t->type == T_DURATION ? "duration" : "string",
                 q, t->len > 10 ? "..." : "");
        return;
    default: break;
    }
    if (tok_is_aggregator(t->type)) snprintf(out, outn, "<aggr:%.*s>", t->len, txt);
    else if (tok_is_operator(t->type) || t->type == T_AT) snprintf(out, outn, "<op:%.*s>", t->len, txt);
    else if (tok_is_keyword(t->type)) snprintf(out, outn, "<%.*s>", t->len, txt);
    else {
        go_quote(txt, t->len, 0, q, sizeof q);
        snprintf(out, outn, "%s", q);
    }
}

static void emit(lexer_t *lx, tok_type_t type, int pos, int len)
{
    XGROW(lx->toks, lx->cap, lx->ntoks + 1);
    lx->toks[lx->ntoks++] = (token_t){type, pos, len};
}

static void lex_error(lexer_t *lx, int pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void lex_error(lexer_t *lx, int pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lx->err, sizeof lx->err, fmt, ap);
    va_end(ap);
    emit(lx, T_ERROR, pos, 0);
}

static bool is_alpha(int c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alnum(int c) { return is_alpha(c) || is_digit(c); }

/* Formats a character like Go's %q on a rune: 'x'. */
static void quote_char(int c, char *out, size_t n)
{
    if (c == '\'') snprintf(out, n, "'\\''");
    else if (c >= 0x20 && c < 0x7f) snprintf(out, n, "'%c'", c);
    else if (c == '\n') snprintf(out, n, "'\\n'");
    else if (c == '\t') snprintf(out, n, "'\\t'");
    else snprintf(out, n, "'\\x%02x'", c & 0xff);
}

static bool accept(const lexer_t *lx, int *p, const char *set)
{
    if (*p < lx->n && lx->s[*p] && strchr(set, lx->s[*p])) {
        (*p)++;
        return true;
    }
    return false;
}

/* Scans a number at *p as Prometheus does; returns true if it is a complete number token. */
static bool scan_number(const lexer_t *lx, int *p)
{
    const char *digits = "0123456789";
    int save = *p;
    if (accept(lx, p, "0")) {
        if (accept(lx, p, "xX")) digits = "0123456789abcdefABCDEF";
    } else {
        *p = save;
    }
    while (accept(lx, p, digits)) {}
    if (accept(lx, p, ".")) while (accept(lx, p, digits)) {}
    if (accept(lx, p, "eE")) {
        accept(lx, p, "+-");
        while (accept(lx, p, "0123456789")) {}
    }
    return !(*p < lx->n && is_alnum((unsigned char)lx->s[*p]));
}

static bool accept_remaining_duration(const lexer_t *lx, int *p)
{
    if (!accept(lx, p, "smhdwy")) return false;
    accept(lx, p, "s"); /* "ms" */
    while (accept(lx, p, "0123456789")) {
        while (accept(lx, p, "0123456789")) {}
        if (!accept(lx, p, "smhdwy")) return false;
        accept(lx, p, "s");
    }
    if (*p < lx->n && is_alnum((unsigned char)lx->s[*p])) {
        (*p)++; /* Prometheus's message includes the offending character */
        return false;
    }
    return true;
}

/* Scans a quoted string starting at the quote; returns the end (after closing quote) or -1. */
static int scan_string(lexer_t *lx, int p)
{
    char q = lx->s[p];
    int i = p + 1;
    while (i < lx->n) {
        char c = lx->s[i];
        if (q != '`' && c == '\\') {
            i += 2;
            continue;
        }
        if (q != '`' && c == '\n') break;
        if (c == q) return i + 1;
        i++;
    }
    lex_error(lx, i > lx->n ? lx->n : i, q == '`' ? "unterminated raw string" : "unterminated quoted string");
    return -1;
}

void lex_run(lexer_t *lx, const char *s, size_t n)
{
    memset(lx, 0, sizeof *lx);
    lx->s = s;
    lx->n = (int)n;
    int p = 0, paren = 0;
    bool brace = false, bracket = false;
    while (1) {
        if (p >= lx->n) {
            if (brace) { lex_error(lx, p, "unexpected end of input inside braces"); return; }
            if (paren) { lex_error(lx, p, "unclosed left parenthesis"); return; }
            if (bracket) { lex_error(lx, p, "unclosed left bracket"); return; }
            emit(lx, T_EOF, p, 0);
            return;
        }
        unsigned char c = (unsigned char)s[p];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { p++; continue; }
        if (c == '#') {
            while (p < lx->n && s[p] != '\n') p++;
            continue;
        }
        char qc[16];
        if (brace) {
            if (c == ',') { emit(lx, T_COMMA, p, 1); p++; continue; }
            if (c == '}') { emit(lx, T_RBRACE, p, 1); p++; brace = false; continue; }
            if (c == '"' || c == '\'' || c == '`') {
                int e = scan_string(lx, p);
                if (e < 0) return;
                emit(lx, T_STRING, p, e - p);
                p = e;
                continue;
            }
            if (c == '=') {
                if (p + 1 < lx->n && s[p + 1] == '~') { emit(lx, T_EQL_REGEX, p, 2); p += 2; }
                else { emit(lx, T_ASSIGN, p, 1); p++; }
                continue;
            }
            if (c == '!') {
                if (p + 1 < lx->n && s[p + 1] == '~') { emit(lx, T_NEQ_REGEX, p, 2); p += 2; continue; }
                if (p + 1 < lx->n && s[p + 1] == '=') { emit(lx, T_NEQ, p, 2); p += 2; continue; }
                quote_char(p + 1 < lx->n ? (unsigned char)s[p + 1] : 0, qc, sizeof qc);
                lex_error(lx, p, "unexpected character inside braces: %s", qc);
                return;
            }
            if (is_alpha(c)) {
                int st = p;
                while (p < lx->n && is_alnum((unsigned char)s[p])) p++;
                emit(lx, T_IDENT, st, p - st);
                continue;
            }
            if (c == '{') { lex_error(lx, p, "unexpected left brace '{' inside braces"); return; }
            quote_char(c, qc, sizeof qc);
            lex_error(lx, p, "unexpected character inside braces: %s", qc);
            return;
        }
        if (c == '"' || c == '\'' || c == '`') {
            int e = scan_string(lx, p);
            if (e < 0) return;
            emit(lx, T_STRING, p, e - p);
            p = e;
            continue;
        }
        if (is_digit(c) || (c == '.' && p + 1 < lx->n && is_digit((unsigned char)s[p + 1]))) {
            int st = p, q = p;
            if (scan_number(lx, &q)) {
                emit(lx, T_NUMBER, st, q - st);
                p = q;
                continue;
            }
            if (accept_remaining_duration(lx, &q)) {
                emit(lx, T_DURATION, st, q - st);
                p = q;
                continue;
            }
            lex_error(lx, st, "bad number or duration syntax: \"%.*s\"", q - st, s + st);
            return;
        }
        if (is_alpha(c) || (c == ':' && !bracket)) {
            int st = p;
            bool colon = false;
            while (p < lx->n && (is_alnum((unsigned char)s[p]) || s[p] == ':')) {
                if (s[p] == ':') colon = true;
                p++;
            }
            tok_type_t t = colon ? T_METRIC_IDENT : T_IDENT;
            if (!colon) {
                for (size_t i = 0; i < sizeof KEYWORDS / sizeof KEYWORDS[0]; i++)
                    if ((int)strlen(KEYWORDS[i].w) == p - st && strncasecmp(KEYWORDS[i].w, s + st, (size_t)(p - st)) == 0) {
                        t = KEYWORDS[i].t;
                        break;
                    }
            }
            if (bracket && t != T_NUMBER) {
                lex_error(lx, st, "unexpected character inside brackets: '%c'", s[st]);
                return;
            }
            emit(lx, t, st, p - st);
            continue;
        }
        int st = p;
        p++;
        char nx = p < lx->n ? s[p] : 0;
        switch (c) {
        case ',': emit(lx, T_COMMA, st, 1); continue;
        case '(': emit(lx, T_LPAREN, st, 1); paren++; continue;
        case ')':
            if (paren == 0) { lex_error(lx, st, "unexpected right parenthesis ')'"); return; }
            paren--;
            emit(lx, T_RPAREN, st, 1);
            continue;
        case '{': emit(lx, T_LBRACE, st, 1); brace = true; continue;
        case '}': lex_error(lx, st, "unexpected right brace '}'"); return;
        case '[':
            if (bracket) { lex_error(lx, st, "unexpected left bracket '['"); return; }
            emit(lx, T_LBRACKET, st, 1);
            bracket = true;
            continue;
        case ']':
            if (!bracket) { lex_error(lx, st, "unexpected right bracket ']'"); return; }
            emit(lx, T_RBRACKET, st, 1);
            bracket = false;
            continue;
        case ':': emit(lx, T_COLON, st, 1); continue;
        case '@': emit(lx, T_AT, st, 1); continue;
        case '+': emit(lx, T_ADD, st, 1); continue;
        case '-': emit(lx, T_SUB, st, 1); continue;
        case '*': emit(lx, T_MUL, st, 1); continue;
        case '/': emit(lx, T_DIV, st, 1); continue;
        case '%': emit(lx, T_MOD, st, 1); continue;
        case '^': emit(lx, T_POW, st, 1); continue;
        case '=':
            if (nx == '=') { emit(lx, T_EQLC, st, 2); p++; continue; }
            if (nx == '~') { lex_error(lx, st, "unexpected character after '=': '~'"); return; }
            emit(lx, T_ASSIGN, st, 1);
            continue;
        case '!':
            if (nx == '=') { emit(lx, T_NEQ, st, 2); p++; continue; }
            quote_char((unsigned char)nx, qc, sizeof qc);
            lex_error(lx, st, "unexpected character after '!': %s", qc);
            return;
        case '<':
            if (nx == '=') { emit(lx, T_LTE, st, 2); p++; } else emit(lx, T_LSS, st, 1);
            continue;
        case '>':
            if (nx == '=') { emit(lx, T_GTE, st, 2); p++; } else emit(lx, T_GTR, st, 1);
            continue;
        default:
            quote_char(c, qc, sizeof qc);
            lex_error(lx, st, "unexpected character: %s", qc);
            return;
        }
    }
}

void lex_free(lexer_t *lx)
{
    free(lx->toks);
    lx->toks = NULL;
    lx->ntoks = lx->cap = 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_utf8(char *o, size_t *k, uint32_t cp)
{
    if (cp < 0x80) o[(*k)++] = (char)cp;
    else if (cp < 0x800) {
        o[(*k)++] = (char)(0xc0 | (cp >> 6));
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        o[(*k)++] = (char)(0xe0 | (cp >> 12));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        o[(*k)++] = (char)(0xf0 | (cp >> 18));
        o[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    }
}

int lex_unquote(const char *s, size_t n, char **out, size_t *out_len, char *err, size_t errn)
{
    if (n < 2) { snprintf(err, errn, "invalid syntax"); return -1; }
    char q = s[0];
    char *o = xmalloc(n + 1);
    size_t k = 0;
    if (q == '`') {
        memcpy(o, s + 1, n - 2);
        o[n - 2] = 0;
        *out = o;
        *out_len = n - 2;
        return 0;
    }
    for (size_t i = 1; i + 1 < n; i++) {
        char c = s[i];
        if (c != '\\') {
            if (c == q) goto bad;
            o[k++] = c;
            continue;
        }
        if (++i + 1 > n - 1) goto bad;
        c = s[i];
        switch (c) {
        case 'a': o[k++] = '\a'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'v': o[k++] = '\v'; break;
        case '\\': o[k++] = '\\'; break;
        case '\'':
        case '"':
            if (c != q) goto bad;
            o[k++] = c;
            break;
        case 'x': {
            if (i + 2 >= n - 1 + 1 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) goto bad;
            o[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
            break;
        }
        case 'u':
        case 'U': {
            int nd = c == 'u' ? 4 : 8;
            if (i + (size_t)nd >= n) goto bad;
            uint32_t cp = 0;
            for (int j = 1; j <= nd; j++) {
                int h = hexval(s[i + (size_t)j]);
                if (h < 0) goto bad;
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) goto bad;
            put_utf8(o, &k, cp);
            i += (size_t)nd;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                if (i + 2 >= n - 1 + 1) goto bad;
                int v = 0;
                for (int j = 0; j < 3; j++) {
                    char d = s[i + (size_t)j];
                    if (d < '0' || d > '7') goto bad;
                    v = v * 8 + (d - '0');
                }
                if (v > 255) goto bad;
                o[k++] = (char)v;
                i += 2;
                break;
            }
            goto bad;
        }
    }
    o[k] = 0;
    *out = o;
    *out_len = k;
    return 0;
bad:
    free(o);
    snprintf(err, errn, "invalid syntax");
    return -1;
}

bool lex_parse_duration(const char *s, size_t n, long long *ms)
{
    static const struct { const char *u; long long ms; } UNITS[] = {
        {"y", 365LL * 24 * 3600 * 1000}, {"w", 7LL * 24 * 3600 * 1000}, {"d", 24LL * 3600 * 1000},
        {"h", 3600LL * 1000}, {"m", 60LL * 1000}, {"s", 1000}, {"ms", 1},
    };
    size_t i = 0;
    int last = -1;
    long long total = 0;
    if (n == 0) return false;
    if (n == 1 && s[0] == '0') { *ms = 0; return true; }
    while (i < n) {
        if (!is_digit((unsigned char)s[i])) return false;
        long long v = 0;
        while (i < n && is_digit((unsigned char)s[i])) {
            v = v * 10 + (s[i] - '0');
            if (v > (long long)1e15) return false;
            i++;
        }
        size_t us = i;
        while (i < n && !is_digit((unsigned char)s[i])) i++;
        int u = -1;
        for (int k = 0; k < 7; k++)
            if (strlen(UNITS[k].u) == i - us && memcmp(UNITS[k].u, s + us, i - us) == 0) u = k;
        if (u < 0 || u <= last) return false;
        last = u;
        total += v * UNITS[u].ms;
        if (total < 0) return false;
    }
    *ms = total;
    return true;
}
