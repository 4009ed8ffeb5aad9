/* matcher.c owns matcher construction (regex compile + fast-path analysis) and matching. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/matcher.h"
#include "util/alloc.h"
#include "util/status.h"
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *match_type_str(match_type_t t)
{
    switch (t) {
    case MATCH_EQ: return "=";
    case MATCH_NEQ: return "!=";
    case MATCH_RE: return "=~";
    case MATCH_NRE: return "!~";
    }
    return "?";
}

static bool is_meta(char c)
{
    return strchr("\\^$.|?*+()[]{}", c) != NULL;
}

/* Splits "a|b|c" into literal alternatives if no other metacharacter appears. */
static bool analyse_literal_set(matcher_t *m)
{
    const char *v = m->value;
    size_t n = m->value_len;
    for (size_t i = 0; i < n; i++)
        if (v[i] != '|' && is_meta(v[i])) return false;
    size_t count = 1;
    for (size_t i = 0; i < n; i++) count += v[i] == '|';
    m->alts = xcalloc(count, sizeof *m->alts);
    m->alt_lens = xcalloc(count, sizeof *m->alt_lens);
    size_t start = 0, k = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || v[i] == '|') {
            m->alts[k] = xmemdup0(v + start, i - start);
            m->alt_lens[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    m->n_alts = count;
    m->is_literal_set = true;
    return true;
}

static void analyse_prefix(matcher_t *m)
{
    size_t n = m->value_len;
    if (n < 2 || strcmp(m->value + n - 2, ".*") != 0) return;
    for (size_t i = 0; i + 2 < n; i++)
        if (is_meta(m->value[i])) return;
    m->prefix = xmemdup0(m->value, n - 2);
    m->prefix_len = n - 2;
}

int matcher_new(match_type_t type, const char *name, size_t name_len, const char *value, size_t value_len,
                matcher_t **out, char *err, size_t err_len)
{
    matcher_t *m = xcalloc(1, sizeof *m);
    m->type = type;
    m->name = xmemdup0(name, name_len);
    m->name_len = name_len;
    m->value = xmemdup0(value, value_len);
    m->value_len = value_len;
    if (type == MATCH_RE || type == MATCH_NRE) {
        if (!analyse_literal_set(m)) analyse_prefix(m);
        /* Compile always: it validates the syntax even when a fast path decides matches. */
        size_t plen = value_len + 16;
        char *pat = xmalloc(plen);
        memcpy(pat, "^(?:", 4);
        memcpy(pat + 4, value, value_len);
        memcpy(pat + 4 + value_len, ")\\z", 3);
        size_t patn = 4 + value_len + 3;
        int ec;
        PCRE2_SIZE eoff;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, patn, PCRE2_UTF, &ec, &eoff, NULL);
        free(pat);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            if (err && err_len) snprintf(err, err_len, "error parsing regexp: %s: `%s`", (char *)msg, m->value);
            matcher_free(m);
            *out = NULL;
            return MS_EINVAL;
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT fails */
        m->re = re;
        m->md = pcre2_match_data_create(1, NULL);
    }
    /* matches_empty is evaluated through the general path so all kinds agree. */
    bool base = false;
    switch (type) {
    case MATCH_EQ: case MATCH_NEQ: base = value_len == 0; break;
    case MATCH_RE: case MATCH_NRE:
        base = pcre2_match(m->re, (PCRE2_SPTR) "", 0, 0, 0, m->md, NULL) >= 0;
        break;
    }
    m->matches_empty = (type == MATCH_EQ || type == MATCH_RE) ? base : !base;
    *out = m;
    return MS_OK;
}

void matcher_free(matcher_t *m)
{
    if (!m) return;
    free(m->name);
    free(m->value);
    for (size_t i = 0; i < m->n_alts; i++) free(m->alts[i]);
    free(m->alts);
    free(m->alt_lens);
    free(m->prefix);
    if (m->md) pcre2_match_data_free(m->md);
    if (m->re) pcre2_code_free(m->re);
    free(m);
}

static bool re_matches(const matcher_t *m, const char *v, size_t len)
{
    if (m->is_literal_set) {
        for (size_t i = 0; i < m->n_alts; i++)
            if (m->alt_lens[i] == len && !memcmp(m->alts[i], v, len)) return true;
        return false;
    }
    if (m->prefix) {
        /* ".*" does not match newlines, so the rest must be free of '\n' */
        if (len < m->prefix_len || memcmp(v, m->prefix, m->prefix_len)) return false;
        return memchr(v + m->prefix_len, '\n', len - m->prefix_len) == NULL;
    }
    int rc = pcre2_jit_match(m->re, (PCRE2_SPTR)v, len, 0, 0, m->md, NULL);
    if (rc == PCRE2_ERROR_JIT_BADOPTION) /* JIT unavailable: interpret */
        rc = pcre2_match(m->re, (PCRE2_SPTR)v, len, 0, PCRE2_NO_UTF_CHECK, m->md, NULL);
    return rc >= 0;
}

bool matcher_matches(const matcher_t *m, const char *value, size_t len)
{
    switch (m->type) {
    case MATCH_EQ: return len == m->value_len && !memcmp(value, m->value, len);
    case MATCH_NEQ: return !(len == m->value_len && !memcmp(value, m->value, len));
    case MATCH_RE: return re_matches(m, value, len);
    case MATCH_NRE: return !re_matches(m, value, len);
    }
    return false;
}
