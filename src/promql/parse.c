/* parse.c owns the PromQL recursive-descent parser (Prometheus precedence: ^ right-assoc >
 * unary > * / % atan2 > + - > comparisons > and unless > or; offset/@/[range] bind tightest)
 * and the type checker that mirrors Prometheus's checkAST, with its error texts. */
#include "promql/parse.h"
#include "promql/promql.h"
#include "util/alloc.h"
#include "util/status.h"
#include "util/utf8.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    lexer_t lx;
    size_t i;
    arena_t *a;
    bool failed;
    int err_pos;
    char err[512];
    bool selector_only;  /* promql_parse_selector: no checkAST-level selector checks */
    int depth;           /* bound on the AST depth so far (recursion, binary chains, postfixes) */
    matcher_t **pending; /* matchers created but not yet attached to a node */
    size_t npending, cappending;
} parser_t;

static void perr(parser_t *p, int pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void perr(parser_t *p, int pos, const char *fmt, ...)
{
    if (p->failed) return;
    p->failed = true;
    p->err_pos = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
}

static const token_t *peek(parser_t *p) { return &p->lx.toks[p->i]; }
static const token_t *peek2(parser_t *p)
{
    return p->i + 1 < p->lx.ntoks ? &p->lx.toks[p->i + 1] : &p->lx.toks[p->lx.ntoks - 1];
}
static const token_t *next(parser_t *p)
{
    const token_t *t = &p->lx.toks[p->i];
    if (t->type != T_EOF && t->type != T_ERROR) p->i++;
    return t;
}

static void unexpected(parser_t *p, const token_t *t, const char *context, const char *expected)
{
    if (t->type == T_ERROR) {
        perr(p, t->pos, "%s", p->lx.err);
        return;
    }
    char d[200];
    tok_describe(&p->lx, t, d, sizeof d);
    char msg[400];
    int k = snprintf(msg, sizeof msg, "unexpected %s", d);
    if (context && *context) k += snprintf(msg + k, sizeof msg - (size_t)k, " in %s", context);
    if (expected && *expected) snprintf(msg + k, sizeof msg - (size_t)k, ", expected %s", expected);
    perr(p, t->pos, "%s", msg);
}

static node_t *new_node(parser_t *p, node_kind_t k, int pos, int end)
{
    node_t *n = arena_calloc(p->a, 1, sizeof *n);
    n->kind = k;
    n->pos = pos;
    n->end = end;
    return n;
}

static const char *tok_text(parser_t *p, const token_t *t) { return p->lx.s + t->pos; }

static bool parse_number_text(const char *s, size_t n, double *out)
{
    char buf[128];
    if (n >= sizeof buf) {
        /* very long literals: only strtod can handle them; copy to the heap */
        char *h = xmemdup0(s, n);
        char *end;
        errno = 0;
        double v = strtod(h, &end);
        bool ok = *end == 0 && !(errno == ERANGE && isinf(v));
        free(h);
        *out = v;
        return ok;
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long iv = strtoll(buf, &end, 0);
    if (*end == 0 && errno == 0) {
        *out = (double)iv;
        return true;
    }
    errno = 0;
    double v = strtod(buf, &end);
    *out = v;
    return *end == 0 && !(errno == ERANGE && isinf(v));
}

static node_t *parse_expr(parser_t *p, int min_prec);

/* Hostile queries ("((((...", "x[1m:][1m:]...", "a+a+a+...") would otherwise nest the AST, and
 * the recursive parser, checker and evaluator with it, until the thread's stack overflows. */
#define PARSE_MAX_DEPTH 1000
static bool deeper(parser_t *p, int pos)
{
    if (++p->depth <= PARSE_MAX_DEPTH) return true;
    perr(p, pos, "expression nested too deeply (more than %d levels)", PARSE_MAX_DEPTH);
    return false;
}

static int binop_prec(tok_type_t t)
{
    switch (t) {
    case T_LOR: return 1;
    case T_LAND:
    case T_LUNLESS: return 2;
    case T_EQLC:
    case T_NEQ:
    case T_LTE:
    case T_LSS:
    case T_GTE:
    case T_GTR: return 3;
    case T_ADD:
    case T_SUB: return 4;
    case T_MUL:
    case T_DIV:
    case T_MOD:
    case T_ATAN2: return 5;
    case T_POW: return 6;
    default: return -1;
    }
}

/* A label name in a grouping list: identifier, keyword, or quoted string. */
static bool parse_label_name(parser_t *p, str_t *out, const char *context)
{
    const token_t *t = peek(p);
    if (t->type == T_IDENT || tok_is_keyword(t->type) || tok_is_aggregator(t->type) ||
        t->type == T_LAND || t->type == T_LOR || t->type == T_LUNLESS || t->type == T_ATAN2 ||
        (t->type == T_NUMBER && (t->len == 3))) {
        if (t->type == T_NUMBER) { /* inf / nan are words too */
            char c = tok_text(p, t)[0];
            if (c >= '0' && c <= '9') { unexpected(p, t, context, "label"); return false; }
        }
        next(p);
        out->s = arena_strndup(p->a, tok_text(p, t), (size_t)t->len);
        out->len = (size_t)t->len;
        return true;
    }
    if (t->type == T_STRING) {
        next(p);
        char *s;
        size_t n;
        char e[64];
        if (lex_unquote(tok_text(p, t), (size_t)t->len, &s, &n, e, sizeof e) != 0) {
            perr(p, t->pos, "%s", e);
            return false;
        }
        out->s = arena_strndup(p->a, s, n);
        out->len = n;
        free(s);
        return true;
    }
    unexpected(p, t, context, "label");
    return false;
}

static bool parse_label_list(parser_t *p, str_t **out, size_t *n, const char *context)
{
    const token_t *t = next(p);
    if (t->type != T_LPAREN) {
        unexpected(p, t, context, "\"(\"");
        return false;
    }
    size_t cap = 0;
    str_t *v = NULL;
    *n = 0;
    while (peek(p)->type != T_RPAREN) {
        str_t s;
        if (!parse_label_name(p, &s, context)) return false;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 4;
            str_t *nv = arena_alloc(p->a, nc * sizeof *nv);
            if (*n) memcpy(nv, v, *n * sizeof *nv);
            v = nv;
            cap = nc;
        }
        v[(*n)++] = s;
        t = peek(p);
        if (t->type == T_COMMA) { next(p); continue; }
        if (t->type != T_RPAREN) {
            unexpected(p, t, context, "\",\" or \")\"");
            return false;
        }
    }
    next(p);
    *out = v;
    return true;
}

/* Rejects the PCRE syntax that Go's RE2 (Prometheus's regex engine) refuses, with Go's messages:
 * lookaround, atomic and (?<name>) groups, backreferences, possessive/nested quantifiers and
 * unknown escapes. PCRE2 would accept them and make queries succeed that Prometheus rejects. */
bool promql_regex_re2_check(const char *re, size_t n, char *err, size_t errn)
{
    bool in_class = false, after_quant = false;
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        if (c == '\\') {
            if (i + 1 >= n) {
                snprintf(err, errn, "error parsing regexp: trailing backslash at end of expression: ``");
                return false;
            }
            char e = re[i + 1];
            bool alnum = (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9');
            bool ok = !alnum || strchr("afnrtvxpPdDsSwWbBAzQE01234567", e) != NULL;
            if (ok && e >= '1' && e <= '7' && !(i + 2 < n && re[i + 2] >= '0' && re[i + 2] <= '7')) ok = false;
            if (!ok) {
                snprintf(err, errn, "error parsing regexp: invalid escape sequence: `\\%c`", e);
                return false;
            }
            if (e == 'p' || e == 'P') { /* skip a {Name} argument */
                size_t j = i + 2;
                if (j < n && re[j] == '{')
                    while (j < n && re[j] != '}') j++;
                i = j;
            } else {
                i++;
            }
            after_quant = false;
            continue;
        }
        if (in_class) {
            if (c == ']') in_class = false;
            continue;
        }
        if (c == '[') {
            in_class = true;
            if (i + 1 < n && re[i + 1] == '^') i++;
            if (i + 1 < n && re[i + 1] == ']') i++; /* a leading ] is literal */
            after_quant = false;
            continue;
        }
        if (c == '(' && i + 1 < n && re[i + 1] == '?') {
            size_t j = i + 2;
            if (j < n && re[j] == 'P' && j + 1 < n && re[j + 1] == '<') {
                i = j + 1;
                after_quant = false;
                continue;
            }
            while (j < n && strchr("imsU-", re[j])) j++;
            if (j < n && (re[j] == ':' || re[j] == ')') && j > i + 2 - (re[j] == ':' ? 1 : 0)) {
                i = j;
                after_quant = false;
                continue;
            }
            snprintf(err, errn, "error parsing regexp: invalid or unsupported Perl syntax: `(?%.*s`",
                     i + 2 < n ? 1 : 0, re + i + 2);
            return false;
        }
        if (c == '*' || c == '+' || c == '?') {
            if (after_quant) {
                snprintf(err, errn, "error parsing regexp: invalid nested repetition operator: `%.*s`", 2, re + i - 1);
                return false;
            }
            after_quant = true;
            if (i + 1 < n && re[i + 1] == '?') i++; /* non-greedy */
            continue;
        }
        if (c == '{') {
            size_t j = i + 1;
            bool digits = false;
            while (j < n && ((re[j] >= '0' && re[j] <= '9') || re[j] == ',')) {
                if (re[j] != ',') digits = true;
                j++;
            }
            if (digits && j < n && re[j] == '}') {
                if (after_quant) {
                    snprintf(err, errn, "error parsing regexp: invalid nested repetition operator: `%.*s`", (int)(j - i + 2),
                             re + i - 1);
                    return false;
                }
                i = j;
                after_quant = true;
                if (i + 1 < n && re[i + 1] == '?') i++;
                continue;
            }
        }
        after_quant = false;
    }
    return true;
}

static void pending_add(parser_t *p, matcher_t *m)
{
    XGROW(p->pending, p->cappending, p->npending + 1);
    p->pending[p->npending++] = m;
}

static bool add_matcher(parser_t *p, int pos, match_type_t mt, const char *name, size_t nl, const char *val, size_t vl)
{
    matcher_t *m;
    char e[256];
    if ((mt == MATCH_RE || mt == MATCH_NRE) && !promql_regex_re2_check(val, vl, e, sizeof e)) {
        perr(p, pos, "%s", e);
        return false;
    }
    if (matcher_new(mt, name, nl, val, vl, &m, e, sizeof e) != 0) {
        perr(p, pos, "%s", e);
        return false;
    }
    pending_add(p, m);
    return true;
}

/* Parses `{...}` after an optional metric name; the braces token is current. */
static bool parse_matchers(parser_t *p)
{
    next(p); /* { */
    while (1) {
        const token_t *t = next(p);
        if (t->type == T_RBRACE) return true;
        const char *name;
        size_t nl;
        char *tmp = NULL;
        if (t->type == T_IDENT) {
            name = tok_text(p, t);
            nl = (size_t)t->len;
        } else if (t->type == T_STRING) {
            char e[64];
            if (lex_unquote(tok_text(p, t), (size_t)t->len, &tmp, &nl, e, sizeof e) != 0) {
                perr(p, t->pos, "%s", e);
                return false;
            }
            name = tmp;
            const token_t *u = peek(p);
            if (u->type == T_COMMA || u->type == T_RBRACE) {
                /* a bare quoted string is the metric name (Prometheus 3) */
                bool ok = add_matcher(p, t->pos, MATCH_EQ, METRIC_NAME_LABEL, 8, tmp, nl);
                free(tmp);
                if (!ok) return false;
                if (u->type == T_COMMA) next(p);
                continue;
            }
        } else {
            unexpected(p, t, "label matching", "identifier or \"}\"");
            return false;
        }
        const token_t *op = next(p);
        match_type_t mt;
        switch (op->type) {
        case T_ASSIGN: mt = MATCH_EQ; break;
        case T_NEQ: mt = MATCH_NEQ; break;
        case T_EQL_REGEX: mt = MATCH_RE; break;
        case T_NEQ_REGEX: mt = MATCH_NRE; break;
        default:
            free(tmp);
            unexpected(p, op, "label matching", "label matching operator");
            return false;
        }
        const token_t *vt = next(p);
        if (vt->type != T_STRING) {
            free(tmp);
            unexpected(p, vt, "label matching", "string");
            return false;
        }
        char *val;
        size_t vl;
        char e[64];
        if (lex_unquote(tok_text(p, vt), (size_t)vt->len, &val, &vl, e, sizeof e) != 0) {
            free(tmp);
            perr(p, vt->pos, "%s", e);
            return false;
        }
        bool ok = add_matcher(p, t->pos, mt, name, nl, val, vl);
        free(val);
        free(tmp);
        if (!ok) return false;
        const token_t *u = peek(p);
        if (u->type == T_COMMA) { next(p); continue; }
        if (u->type != T_RBRACE) {
            unexpected(p, u, "label matching", "\",\" or \"}\"");
            return false;
        }
    }
}

static node_t *parse_selector(parser_t *p, const token_t *name_tok)
{
    int pos = name_tok ? name_tok->pos : peek(p)->pos;
    size_t first = p->npending;
    if (name_tok) {
        next(p);
    }
    int end = name_tok ? name_tok->pos + name_tok->len : pos;
    if (peek(p)->type == T_LBRACE) {
        if (!parse_matchers(p)) return NULL;
        end = p->lx.toks[p->i - 1].pos + 1;
    }
    node_t *n = new_node(p, N_VECTOR_SEL, pos, end);
    if (name_tok) {
        n->vs.name.s = arena_strndup(p->a, tok_text(p, name_tok), (size_t)name_tok->len);
        n->vs.name.len = (size_t)name_tok->len;
        for (size_t i = first; i < p->npending && !p->selector_only; i++) {
            if (strcmp(p->pending[i]->name, METRIC_NAME_LABEL) == 0) {
                perr(p, pos, "metric name must not be set twice: \"%s\" or \"%s\"", n->vs.name.s, p->pending[i]->value);
                return NULL;
            }
        }
        if (!add_matcher(p, pos, MATCH_EQ, METRIC_NAME_LABEL, 8, n->vs.name.s, n->vs.name.len)) return NULL;
    }
    n->vs.n_ms = p->npending - first;
    n->vs.ms = arena_alloc(p->a, (n->vs.n_ms ? n->vs.n_ms : 1) * sizeof(matcher_t *));
    if (n->vs.n_ms) memcpy(n->vs.ms, p->pending + first, n->vs.n_ms * sizeof(matcher_t *));
    p->npending = first; /* now owned by the node */
    bool non_empty = false;
    for (size_t i = 0; i < n->vs.n_ms; i++)
        if (!n->vs.ms[i]->matches_empty) non_empty = true;
    if (!non_empty && !p->selector_only) {
        ast_free_matchers(n);
        perr(p, pos, "vector selector must contain at least one non-empty matcher");
        return NULL;
    }
    return n;
}

static bool parse_duration_tok(parser_t *p, const token_t *t, int64_t *ms)
{
    long long v;
    if (!lex_parse_duration(tok_text(p, t), (size_t)t->len, &v)) {
        perr(p, t->pos, "not a valid duration string: \"%.*s\"", t->len, tok_text(p, t));
        return false;
    }
    if (v == 0) {
        perr(p, t->pos, "duration must be greater than 0");
        return false;
    }
    *ms = v;
    return true;
}

static node_t *parse_call(parser_t *p, const token_t *name)
{
    const func_def_t *fn = func_lookup(tok_text(p, name), (size_t)name->len);
    if (!fn) {
        perr(p, name->pos, "unknown function with name \"%.*s\"", name->len, tok_text(p, name));
        return NULL;
    }
    next(p); /* ( */
    node_t **args = NULL;
    size_t n = 0, cap = 0;
    node_t *call = new_node(p, N_CALL, name->pos, 0);
    while (peek(p)->type != T_RPAREN) {
        node_t *a = parse_expr(p, 0);
        if (!a) {
            for (size_t i = 0; i < n; i++) ast_free_matchers(args[i]);
            free(args);
            return NULL;
        }
        XGROW(args, cap, n + 1);
        args[n++] = a;
        const token_t *t = peek(p);
        if (t->type == T_COMMA) {
            next(p);
            if (peek(p)->type == T_RPAREN) {
                for (size_t i = 0; i < n; i++) ast_free_matchers(args[i]);
                free(args);
                perr(p, t->pos, "trailing commas not allowed in function call args");
                return NULL;
            }
            continue;
        }
        if (t->type != T_RPAREN) {
            for (size_t i = 0; i < n; i++) ast_free_matchers(args[i]);
            free(args);
            unexpected(p, t, "function call", "\",\" or \")\"");
            return NULL;
        }
    }
    call->end = next(p)->pos + 1;
    call->call.fn = fn;
    call->call.nargs = n;
    call->call.args = arena_alloc(p->a, (n ? n : 1) * sizeof(node_t *));
    if (n) memcpy(call->call.args, args, n * sizeof(node_t *));
    free(args);
    return call;
}

static node_t *parse_aggregation(parser_t *p, const token_t *op)
{
    node_t *n = new_node(p, N_AGG, op->pos, 0);
    n->agg.op = op->type;
    next(p);
    const token_t *t = peek(p);
    if (t->type == T_BY || t->type == T_WITHOUT) {
        next(p);
        n->agg.without = t->type == T_WITHOUT;
        n->agg.has_grouping = true;
        if (!parse_label_list(p, &n->agg.grouping, &n->agg.n_grouping, "grouping opts")) return NULL;
    }
    t = next(p);
    if (t->type != T_LPAREN) {
        unexpected(p, t, "aggregation", "");
        return NULL;
    }
    node_t **args = NULL;
    size_t na = 0, cap = 0;
    while (peek(p)->type != T_RPAREN) {
        node_t *a = parse_expr(p, 0);
        if (!a) goto fail;
        XGROW(args, cap, na + 1);
        args[na++] = a;
        t = peek(p);
        if (t->type == T_COMMA) { next(p); continue; }
        if (t->type != T_RPAREN) {
            unexpected(p, t, "aggregation", "");
            goto fail;
        }
    }
    n->end = next(p)->pos + 1;
    t = peek(p);
    if (t->type == T_BY || t->type == T_WITHOUT) {
        if (n->agg.has_grouping) {
            unexpected(p, t, "", "");
            goto fail;
        }
        next(p);
        n->agg.without = t->type == T_WITHOUT;
        n->agg.has_grouping = true;
        if (!parse_label_list(p, &n->agg.grouping, &n->agg.n_grouping, "grouping opts")) goto fail;
        n->end = p->lx.toks[p->i - 1].pos + 1;
    }
    bool needs_param = op->type == T_TOPK || op->type == T_BOTTOMK || op->type == T_QUANTILE || op->type == T_COUNT_VALUES;
    if (na == 0) {
        perr(p, n->pos, "no arguments for aggregate expression provided");
        goto fail;
    }
    if (needs_param) {
        if (na != 2) {
            perr(p, n->pos, "wrong number of arguments for aggregate expression provided, expected 2, got %zu", na);
            goto fail;
        }
        n->agg.param = args[0];
        n->agg.expr = args[1];
    } else {
        if (na != 1) {
            perr(p, n->pos, "wrong number of arguments for aggregate expression provided, expected 1, got %zu", na);
            goto fail;
        }
        n->agg.expr = args[0];
    }
    free(args);
    return n;
fail:
    for (size_t i = 0; i < na; i++) ast_free_matchers(args[i]);
    free(args);
    return NULL;
}

static node_t *parse_primary(parser_t *p)
{
    const token_t *t = peek(p);
    switch (t->type) {
    case T_NUMBER: {
        next(p);
        node_t *n = new_node(p, N_NUMBER, t->pos, t->pos + t->len);
        if (!parse_number_text(tok_text(p, t), (size_t)t->len, &n->num)) {
            perr(p, t->pos, "error parsing number: strconv.ParseFloat: parsing \"%.*s\": value out of range", t->len,
                 tok_text(p, t));
            return NULL;
        }
        return n;
    }
    case T_STRING: {
        next(p);
        node_t *n = new_node(p, N_STRING, t->pos, t->pos + t->len);
        char *s;
        size_t len;
        char e[64];
        if (lex_unquote(tok_text(p, t), (size_t)t->len, &s, &len, e, sizeof e) != 0) {
            perr(p, t->pos, "%s", e);
            return NULL;
        }
        n->str.s = arena_strndup(p->a, s, len);
        n->str.len = len;
        free(s);
        return n;
    }
    case T_LPAREN: {
        next(p);
        node_t *e = parse_expr(p, 0);
        if (!e) return NULL;
        const token_t *r = next(p);
        if (r->type != T_RPAREN) {
            ast_free_matchers(e);
            unexpected(p, r, "paren expression", "\")\"");
            return NULL;
        }
        node_t *n = new_node(p, N_PAREN, t->pos, r->pos + 1);
        n->paren.expr = e;
        return n;
    }
    case T_LBRACE: return parse_selector(p, NULL);
    case T_IDENT:
        if (peek2(p)->type == T_LPAREN) {
            next(p);
            return parse_call(p, t);
        }
        return parse_selector(p, t);
    case T_METRIC_IDENT: return parse_selector(p, t);
    default: break;
    }
    if (tok_is_aggregator(t->type)) {
        tok_type_t nt = peek2(p)->type;
        if (nt == T_LPAREN || nt == T_BY || nt == T_WITHOUT) return parse_aggregation(p, t);
        return parse_selector(p, t);
    }
    unexpected(p, t, "", "");
    return NULL;
}

static bool check_modifier_target(parser_t *p, node_t *e, const char *what)
{
    if (e->kind == N_VECTOR_SEL || e->kind == N_MATRIX_SEL || e->kind == N_SUBQUERY) return true;
    perr(p, e->pos, "%s modifier must be preceded by an instant vector selector or range vector selector or a subquery",
         what);
    return false;
}

static node_t *parse_postfix(parser_t *p, node_t *e)
{
    while (!p->failed) {
        const token_t *t = peek(p);
        if ((t->type == T_LBRACKET || t->type == T_OFFSET || t->type == T_AT) && !deeper(p, t->pos)) goto fail;
        if (t->type == T_LBRACKET) {
            int lb_pos = next(p)->pos;
            const token_t *d = next(p);
            if (d->type != T_DURATION) {
                unexpected(p, d, "subquery selector", "duration");
                goto fail;
            }
            int64_t range;
            if (!parse_duration_tok(p, d, &range)) goto fail;
            const token_t *u = next(p);
            if (u->type == T_RBRACKET) {
                if (e->kind != N_VECTOR_SEL) {
                    perr(p, lb_pos, "ranges only allowed for vector selectors");
                    goto fail;
                }
                if (e->vs.has_offset && e->vs.offset != 0) {
                    perr(p, lb_pos, "no offset modifiers allowed before range");
                    goto fail;
                }
                if (e->vs.at_kind != AT_NONE) {
                    perr(p, lb_pos, "no @ modifiers allowed before range");
                    goto fail;
                }
                node_t *m = new_node(p, N_MATRIX_SEL, e->pos, u->pos + 1);
                m->ms.vs = e;
                m->ms.range = range;
                e = m;
                continue;
            }
            if (u->type != T_COLON) {
                unexpected(p, u, "subquery or range", "\":\" or \"]\"");
                goto fail;
            }
            int64_t step = 0;
            const token_t *s = next(p);
            bool had_step = false;
            if (s->type == T_DURATION) {
                if (!parse_duration_tok(p, s, &step)) goto fail;
                s = next(p);
                had_step = true;
            }
            if (s->type != T_RBRACKET) {
                unexpected(p, s, "subquery selector", had_step ? "\"]\"" : "duration or \"]\"");
                goto fail;
            }
            node_t *sq = new_node(p, N_SUBQUERY, e->pos, s->pos + 1);
            sq->sq.expr = e;
            sq->sq.range = range;
            sq->sq.step = step;
            e = sq;
            continue;
        }
        if (t->type == T_OFFSET) {
            next(p);
            bool neg = false;
            if (peek(p)->type == T_SUB) { next(p); neg = true; }
            const token_t *d = next(p);
            if (d->type != T_DURATION) {
                unexpected(p, d, "offset", "duration");
                goto fail;
            }
            int64_t off;
            if (!parse_duration_tok(p, d, &off)) goto fail;
            if (neg) off = -off;
            if (!check_modifier_target(p, e, "offset")) goto fail;
            int64_t *op;
            bool *has;
            if (e->kind == N_VECTOR_SEL) { op = &e->vs.offset; has = &e->vs.has_offset; }
            else if (e->kind == N_MATRIX_SEL) { op = &e->ms.vs->vs.offset; has = &e->ms.vs->vs.has_offset; }
            else { op = &e->sq.offset; has = &e->sq.has_offset; }
            if (*has && *op != 0) {
                perr(p, e->pos, "offset may not be set multiple times");
                goto fail;
            }
            *op = off;
            *has = true;
            e->end = d->pos + d->len;
            continue;
        }
        if (t->type == T_AT) {
            next(p);
            at_kind_t kind = AT_TIME;
            int64_t at = 0;
            const token_t *v = next(p);
            if (v->type == T_START || v->type == T_END) {
                kind = v->type == T_START ? AT_START : AT_END;
                const token_t *l = next(p);
                const token_t *r = l->type == T_LPAREN ? next(p) : l;
                if (l->type != T_LPAREN || r->type != T_RPAREN) {
                    unexpected(p, r, "@", "timestamp");
                    goto fail;
                }
                e->end = r->pos + 1;
            } else {
                double sign = 1;
                if (v->type == T_SUB || v->type == T_ADD) {
                    if (v->type == T_SUB) sign = -1;
                    v = next(p);
                }
                if (v->type != T_NUMBER) {
                    unexpected(p, v, "@", "timestamp");
                    goto fail;
                }
                double f;
                parse_number_text(tok_text(p, v), (size_t)v->len, &f);
                f *= sign;
                if (isinf(f) || isnan(f) || f >= 9.2e15 || f <= -9.2e15) {
                    perr(p, e->pos, "timestamp out of bounds for @ modifier: %f", f);
                    goto fail;
                }
                at = (int64_t)llround(f * 1000.0);
                e->end = v->pos + v->len;
            }
            if (!check_modifier_target(p, e, "@")) goto fail;
            at_kind_t *kp;
            int64_t *ap;
            if (e->kind == N_VECTOR_SEL) { kp = &e->vs.at_kind; ap = &e->vs.at; }
            else if (e->kind == N_MATRIX_SEL) { kp = &e->ms.vs->vs.at_kind; ap = &e->ms.vs->vs.at; }
            else { kp = &e->sq.at_kind; ap = &e->sq.at; }
            if (*kp != AT_NONE) {
                perr(p, e->pos, "@ <timestamp> may not be set multiple times");
                goto fail;
            }
            *kp = kind;
            *ap = at;
            continue;
        }
        break;
    }
    if (p->failed) goto fail;
    return e;
fail:
    ast_free_matchers(e);
    return NULL;
}

static node_t *parse_unary(parser_t *p)
{
    const token_t *t = peek(p);
    if (t->type == T_ADD || t->type == T_SUB) {
        next(p);
        node_t *e = parse_expr(p, 6);
        if (!e) return NULL;
        if (e->kind == N_NUMBER) {
            if (t->type == T_SUB) e->num = -e->num;
            e->pos = t->pos;
            return e;
        }
        node_t *n = new_node(p, N_UNARY, t->pos, e->end);
        n->unary.op = t->type;
        n->unary.expr = e;
        return n;
    }
    node_t *e = parse_primary(p);
    if (!e) return NULL;
    return parse_postfix(p, e);
}

static node_t *parse_expr_at(parser_t *p, int min_prec);
static node_t *parse_expr(parser_t *p, int min_prec)
{
    int depth = p->depth;
    node_t *e = deeper(p, peek(p)->pos) ? parse_expr_at(p, min_prec) : NULL;
    p->depth = depth;
    return e;
}

static node_t *parse_expr_at(parser_t *p, int min_prec)
{
    node_t *lhs = parse_unary(p);
    if (!lhs) return NULL;
    while (1) {
        const token_t *t = peek(p);
        int prec = binop_prec(t->type);
        if (prec < 0 || prec < min_prec) break;
        if (!deeper(p, t->pos)) {
            ast_free_matchers(lhs);
            return NULL;
        }
        next(p);
        node_t *n = new_node(p, N_BINARY, lhs->pos, 0);
        n->bin.op = t->type;
        n->bin.op_pos = t->pos;
        n->bin.lhs = lhs;
        n->bin.vm.card = tok_is_set_op(t->type) ? CARD_MANY_TO_MANY : CARD_ONE_TO_ONE;
        if (peek(p)->type == T_BOOL) {
            next(p);
            n->bin.ret_bool = true;
        }
        const token_t *m = peek(p);
        if (m->type == T_ON || m->type == T_IGNORING) {
            next(p);
            n->bin.vm.on = m->type == T_ON;
            n->bin.vm.has_matching = true;
            if (!parse_label_list(p, &n->bin.vm.labels, &n->bin.vm.n_labels, "grouping opts")) goto fail;
            const token_t *g = peek(p);
            if (g->type == T_GROUP_LEFT || g->type == T_GROUP_RIGHT) {
                next(p);
                n->bin.vm.card = g->type == T_GROUP_LEFT ? CARD_MANY_TO_ONE : CARD_ONE_TO_MANY;
                if (peek(p)->type == T_LPAREN &&
                    !parse_label_list(p, &n->bin.vm.include, &n->bin.vm.n_include, "grouping opts"))
                    goto fail;
            }
        }
        n->bin.rhs = parse_expr(p, prec == 6 ? prec : prec + 1);
        if (!n->bin.rhs) goto fail;
        n->end = n->bin.rhs->end;
        lhs = n;
        continue;
    fail:
        ast_free_matchers(lhs);
        return NULL;
    }
    return lhs;
}

/* ---- type checking (mirrors Prometheus's checkAST; first error wins) ---- */

static bool expect_type(parser_t *p, node_t *n, val_type_t want, const char *context)
{
    val_type_t got = node_type(n);
    if (got == want) return true;
    perr(p, n->pos, "expected type %s in %s, got %s", val_type_str(want), context, val_type_str(got));
    return false;
}

static void check(parser_t *p, node_t *n)
{
    if (p->failed || !n) return;
    switch (n->kind) {
    case N_PAREN: check(p, n->paren.expr); return;
    case N_UNARY: {
        check(p, n->unary.expr);
        val_type_t t = node_type(n->unary.expr);
        if (t != VT_SCALAR && t != VT_VECTOR)
            perr(p, n->pos, "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"",
                 val_type_str(t));
        return;
    }
    case N_SUBQUERY: {
        check(p, n->sq.expr);
        val_type_t t = node_type(n->sq.expr);
        if (t != VT_VECTOR)
            perr(p, n->pos, "subquery is only allowed on instant vector, got %s instead", val_type_str(t));
        return;
    }
    case N_MATRIX_SEL: check(p, n->ms.vs); return;
    case N_AGG: {
        check(p, n->agg.param);
        check(p, n->agg.expr);
        if (p->failed) return;
        if (n->agg.param) {
            val_type_t want = n->agg.op == T_COUNT_VALUES ? VT_STRING : VT_SCALAR;
            if (!expect_type(p, n->agg.param, want, "aggregation parameter")) return;
        }
        expect_type(p, n->agg.expr, VT_VECTOR, "aggregation expression");
        return;
    }
    case N_CALL: {
        const func_def_t *fn = n->call.fn;
        for (size_t i = 0; i < n->call.nargs; i++) check(p, n->call.args[i]);
        if (p->failed) return;
        int na = (int)n->call.nargs;
        if (fn->variadic == 0) {
            if (fn->nargs != na) {
                perr(p, n->pos, "expected %d argument(s) in call to \"%s\", got %d", fn->nargs, fn->name, na);
                return;
            }
        } else {
            int min = fn->nargs - 1;
            if (min > na) {
                perr(p, n->pos, "expected at least %d argument(s) in call to \"%s\", got %d", min, fn->name, na);
                return;
            }
            if (fn->variadic > 0 && min + fn->variadic < na) {
                perr(p, n->pos, "expected at most %d argument(s) in call to \"%s\", got %d", min + fn->variadic, fn->name,
                     na);
                return;
            }
        }
        char ctx[128];
        snprintf(ctx, sizeof ctx, "call to function \"%s\"", fn->name);
        for (int i = 0; i < na; i++) {
            int k = i < fn->nargs ? i : fn->nargs - 1;
            if (!expect_type(p, n->call.args[i], fn->args[k], ctx)) return;
        }
        return;
    }
    case N_BINARY: {
        check(p, n->bin.lhs);
        check(p, n->bin.rhs);
        if (p->failed) return;
        val_type_t lt = node_type(n->bin.lhs), rt = node_type(n->bin.rhs);
        tok_type_t op = n->bin.op;
        int opp = n->bin.op_pos;
        if (n->bin.ret_bool && !tok_is_comparison(op)) {
            perr(p, opp, "bool modifier can only be used on comparison operators");
            return;
        }
        if (tok_is_comparison(op) && !n->bin.ret_bool && lt == VT_SCALAR && rt == VT_SCALAR) {
            perr(p, opp, "comparisons between scalars must use BOOL modifier");
            return;
        }
        if (tok_is_set_op(op) && n->bin.vm.card == CARD_ONE_TO_ONE) n->bin.vm.card = CARD_MANY_TO_MANY;
        if (n->bin.vm.on)
            for (size_t i = 0; i < n->bin.vm.n_labels; i++)
                for (size_t j = 0; j < n->bin.vm.n_include; j++)
                    if (n->bin.vm.labels[i].len == n->bin.vm.include[j].len &&
                        memcmp(n->bin.vm.labels[i].s, n->bin.vm.include[j].s, n->bin.vm.labels[i].len) == 0) {
                        perr(p, opp, "label \"%s\" must not occur in ON and GROUP clause at once", n->bin.vm.labels[i].s);
                        return;
                    }
        if (lt != VT_SCALAR && lt != VT_VECTOR) {
            perr(p, n->bin.lhs->pos, "binary expression must contain only scalar and instant vector types");
            return;
        }
        if (rt != VT_SCALAR && rt != VT_VECTOR) {
            perr(p, n->bin.rhs->pos, "binary expression must contain only scalar and instant vector types");
            return;
        }
        if (lt != VT_VECTOR || rt != VT_VECTOR) {
            if (n->bin.vm.has_matching && n->bin.vm.n_labels > 0) {
                perr(p, n->pos, "vector matching only allowed between instant vectors");
                return;
            }
            n->bin.has_vm = false;
        } else {
            n->bin.has_vm = true;
            if (tok_is_set_op(op)) {
                if (n->bin.vm.card == CARD_ONE_TO_MANY || n->bin.vm.card == CARD_MANY_TO_ONE) {
                    perr(p, n->pos, "no grouping allowed for \"%s\" operation", tok_op_str(op));
                    return;
                }
            }
        }
        if ((lt == VT_SCALAR || rt == VT_SCALAR) && tok_is_set_op(op)) {
            perr(p, n->pos, "set operator \"%s\" not allowed in binary scalar expression", tok_op_str(op));
            return;
        }
        return;
    }
    default: return;
    }
}

static void format_error(const char *q, int pos, const char *msg, char *err, size_t errn)
{
    int line = 1, last_nl = -1;
    for (int i = 0; i < pos && q[i]; i++)
        if (q[i] == '\n') {
            line++;
            last_nl = i;
        }
    snprintf(err, errn, "%d:%d: parse error: %s", line, pos - last_nl, msg);
}

static int parse_into(parser_t *p, const char *q, size_t n, arena_t *a, node_t **out, bool selector_only)
{
    memset(p, 0, sizeof *p);
    p->a = a;
    p->selector_only = selector_only;
    lex_run(&p->lx, q, n);
    node_t *root = NULL;
    if (p->lx.ntoks == 1 && p->lx.toks[0].type == T_EOF) {
        perr(p, 0, "no expression found in input");
    } else {
        /* a lexer error anywhere wins only when the parser reaches it; parse normally */
        root = parse_expr(p, 0);
        if (root && !p->failed) {
            const token_t *t = peek(p);
            if (t->type != T_EOF) {
                unexpected(p, t, "", "");
                ast_free_matchers(root);
                root = NULL;
            }
        }
    }
    for (size_t i = 0; i < p->npending; i++) matcher_free(p->pending[i]);
    free(p->pending);
    p->pending = NULL;
    p->npending = 0;
    *out = root;
    return p->failed ? MS_EINVAL : 0;
}

int promql_parse(const char *q, size_t n, arena_t *a, node_t **out, char *err, size_t errn)
{
    parser_t p;
    node_t *root;
    int rc = parse_into(&p, q, n, a, &root, false);
    if (rc == 0) {
        check(&p, root);
        if (p.failed) {
            ast_free_matchers(root);
            root = NULL;
            rc = MS_EINVAL;
        }
    }
    if (rc != 0) format_error(q, p.err_pos, p.err, err, errn);
    lex_free(&p.lx);
    *out = root;
    return rc;
}

int promql_parse_selector(const char *s, matcher_t ***out, size_t *n, promql_error_t *err)
{
    arena_t a = ARENA_INIT;
    parser_t p;
    node_t *root = NULL;
    size_t len = strlen(s);
    *out = NULL;
    *n = 0;
    int rc = parse_into(&p, s, len, &a, &root, true);
    if (rc == 0 && root->kind != N_VECTOR_SEL) {
        ast_free_matchers(root);
        rc = MS_EINVAL;
        if (err) {
            err->type = PROMQL_ERR_BAD_DATA;
            snprintf(err->message, sizeof err->message, "1:1: parse error: expected a series selector, got %s",
                     val_type_str(node_type(root)));
        }
        lex_free(&p.lx);
        arena_free(&a);
        return rc;
    }
    if (rc != 0) {
        if (root) ast_free_matchers(root);
        if (err) {
            err->type = PROMQL_ERR_BAD_DATA;
            format_error(s, p.err_pos, p.err, err->message, sizeof err->message);
        }
        lex_free(&p.lx);
        arena_free(&a);
        return MS_EINVAL;
    }
    *n = root->vs.n_ms;
    *out = xmalloc((*n ? *n : 1) * sizeof(matcher_t *));
    memcpy(*out, root->vs.ms, *n * sizeof(matcher_t *));
    lex_free(&p.lx);
    arena_free(&a);
    return 0;
}
