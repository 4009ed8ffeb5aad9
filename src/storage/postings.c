/* postings.c owns the inverted index: label name -> value -> postings (series sorted by ref),
 * and selection by matchers with Prometheus semantics (a matcher that accepts "" also selects
 * series lacking the label). Matchers are evaluated once per distinct value, never per series;
 * =, literal-set regexes and prefix regexes use direct lookups or a sorted-range scan. */
#include "storage/head.h"
#include "util/alloc.h"
#include "util/hash.h"
#include <stdlib.h>
#include <string.h>

void postings_free(postings_t *p)
{
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

static void postings_insert(postings_t *p, series_t *s, _Atomic int64_t *mem)
{
    if (p->n == p->cap) {
        size_t old = p->cap;
        xgrow((void **)&p->v, &p->cap, p->n + 1, sizeof(*p->v), 1); /* most lists stay tiny */
        atomic_fetch_add(mem, (int64_t)((p->cap - old) * sizeof(series_t *)));
    }
    size_t i = p->n;
    if (p->n && p->v[p->n - 1]->ref > s->ref) { /* replay can create refs out of order */
        size_t lo = 0, hi = p->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (p->v[mid]->ref < s->ref) lo = mid + 1;
            else hi = mid;
        }
        i = lo;
        memmove(&p->v[i + 1], &p->v[i], (p->n - i) * sizeof(series_t *));
    }
    p->v[i] = s;
    p->n++;
}

static void postings_remove(postings_t *p, series_t *s)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->v[mid]->ref < s->ref) lo = mid + 1;
        else hi = mid;
    }
    if (lo < p->n && p->v[lo] == s) {
        memmove(&p->v[lo], &p->v[lo + 1], (p->n - lo - 1) * sizeof(series_t *));
        p->n--;
    }
}

void index_init(hindex_t *ix, _Atomic int64_t *mem)
{
    memset(ix, 0, sizeof(*ix));
    pthread_rwlock_init(&ix->lock, NULL);
    pthread_mutex_init(&ix->sort_mu, NULL);
    ix->mem = mem;
}

static void pname_free(pname_t *pn)
{
    for (size_t i = 0; i < pn->values.cap; i++) {
        pvalue_t *pv = pn->values.e[i].v;
        if (!pn->values.e[i].k) continue;
        postings_free(&pv->p);
        free(pv);
    }
    strmap_free(&pn->values);
    free(pn->sorted);
    free(pn);
}

void index_destroy(hindex_t *ix)
{
    for (size_t i = 0; i < ix->nnames; i++) pname_free(ix->names[i]);
    free(ix->names);
    postings_free(&ix->all);
    pthread_rwlock_destroy(&ix->lock);
    pthread_mutex_destroy(&ix->sort_mu);
}

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

/* Position of name in ix->names (or where it would go). */
static size_t name_pos(hindex_t *ix, const char *name, size_t len, bool *found)
{
    size_t lo = 0, hi = ix->nnames;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = bytes_cmp(ix->names[mid]->name, ix->names[mid]->len, name, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

pname_t *index_find_name(hindex_t *ix, const char *name, size_t len)
{
    bool found;
    size_t i = name_pos(ix, name, len, &found);
    return found ? ix->names[i] : NULL;
}

void index_add(hindex_t *ix, series_t *s)
{
    pthread_rwlock_wrlock(&ix->lock);
    postings_insert(&ix->all, s, ix->mem);
    for (uint32_t i = 0; i < s->nlabels; i++) {
        const label_t *l = &s->labels[i];
        bool found;
        size_t pos = name_pos(ix, l->name, l->name_len, &found);
        if (!found) {
            if (ix->nnames == ix->capnames) XGROW(ix->names, ix->capnames, ix->nnames + 1);
            memmove(&ix->names[pos + 1], &ix->names[pos], (ix->nnames - pos) * sizeof(pname_t *));
            pname_t *pn = xcalloc(1, sizeof(*pn));
            pn->name = l->name;
            pn->len = l->name_len;
            ix->names[pos] = pn;
            ix->nnames++;
            atomic_fetch_add(ix->mem, (int64_t)(sizeof(*pn) + sizeof(pname_t *)));
        }
        pname_t *pn = ix->names[pos];
        uint64_t h = hash_bytes(l->value, l->value_len);
        pvalue_t *pv = strmap_get(&pn->values, l->value, l->value_len, h);
        if (!pv) {
            pv = xcalloc(1, sizeof(*pv));
            pv->value = l->value;
            pv->len = l->value_len;
            size_t before = strmap_bytes(&pn->values);
            strmap_put(&pn->values, pv->value, pv->len, h, pv);
            atomic_fetch_add(ix->mem, (int64_t)(sizeof(*pv) + sizeof(pvalue_t *) + strmap_bytes(&pn->values) - before));
            pn->dirty = true;
        }
        postings_insert(&pv->p, s, ix->mem);
    }
    pthread_rwlock_unlock(&ix->lock);
}

void index_remove(hindex_t *ix, series_t *s)
{
    pthread_rwlock_wrlock(&ix->lock);
    postings_remove(&ix->all, s);
    for (uint32_t i = 0; i < s->nlabels; i++) {
        const label_t *l = &s->labels[i];
        bool found;
        size_t pos = name_pos(ix, l->name, l->name_len, &found);
        if (!found) continue;
        pname_t *pn = ix->names[pos];
        uint64_t h = hash_bytes(l->value, l->value_len);
        pvalue_t *pv = strmap_get(&pn->values, l->value, l->value_len, h);
        if (!pv) continue;
        postings_remove(&pv->p, s);
        if (pv->p.n == 0) {
            strmap_del(&pn->values, l->value, l->value_len, h);
            atomic_fetch_sub(ix->mem, (int64_t)(sizeof(*pv) + sizeof(pvalue_t *) + pv->p.cap * sizeof(series_t *)));
            postings_free(&pv->p);
            free(pv);
            pn->dirty = true;
        }
        if (pn->values.n == 0) {
            atomic_fetch_sub(ix->mem, (int64_t)(sizeof(*pn) + sizeof(pname_t *) + strmap_bytes(&pn->values)));
            pname_free(pn);
            memmove(&ix->names[pos], &ix->names[pos + 1], (ix->nnames - pos - 1) * sizeof(pname_t *));
            ix->nnames--;
        }
    }
    pthread_rwlock_unlock(&ix->lock);
}

static int pvalue_cmp(const void *a, const void *b)
{
    const pvalue_t *x = *(pvalue_t *const *)a, *y = *(pvalue_t *const *)b;
    return bytes_cmp(x->value, x->len, y->value, y->len);
}

/* Rebuilds pn->sorted if stale; caller holds ix->lock (read or write). */
static void ensure_sorted(hindex_t *ix, pname_t *pn)
{
    pthread_mutex_lock(&ix->sort_mu);
    if (pn->dirty) {
        if (pn->capsorted < pn->values.n) {
            free(pn->sorted);
            pn->capsorted = pn->values.n;
            pn->sorted = xmalloc(pn->capsorted * sizeof(pvalue_t *));
        }
        size_t k = 0;
        for (size_t i = 0; i < pn->values.cap; i++)
            if (pn->values.e[i].k) pn->sorted[k++] = pn->values.e[i].v;
        if (k > 1) qsort(pn->sorted, k, sizeof(pvalue_t *), pvalue_cmp);
        pn->nsorted = k;
        pn->dirty = false;
    }
    pthread_mutex_unlock(&ix->sort_mu);
}

void index_read_lock_sorted(hindex_t *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    for (size_t i = 0; i < ix->nnames; i++) ensure_sorted(ix, ix->names[i]);
}

void index_read_unlock(hindex_t *ix) { pthread_rwlock_unlock(&ix->lock); }

/* ---- selection ---- */

static void pl_append(postings_t *out, const postings_t *p)
{
    if (!p->n) return;
    if (out->n + p->n > out->cap) XGROW(out->v, out->cap, out->n + p->n);
    memcpy(out->v + out->n, p->v, p->n * sizeof(series_t *));
    out->n += p->n;
}

static int ref_cmp(const void *a, const void *b)
{
    uint64_t x = (*(series_t *const *)a)->ref, y = (*(series_t *const *)b)->ref;
    return x < y ? -1 : x > y;
}

static void lookup_into(pname_t *pn, const char *v, size_t len, postings_t *out)
{
    pvalue_t *pv = strmap_get(&pn->values, v, len, hash_bytes(v, len));
    if (pv) pl_append(out, &pv->p);
}

/* Collects into out (sorted by ref) the series having label pn with a value v for which
 * matcher_matches(m, v) == want. Postings of different values of one name are disjoint. */
static void collect(hindex_t *ix, pname_t *pn, const matcher_t *m, bool want, postings_t *out)
{
    out->n = 0;
    size_t before = 0;
    bool eq_like = (m->type == MATCH_EQ && want) || (m->type == MATCH_NEQ && !want);
    bool set_like = m->is_literal_set && ((m->type == MATCH_RE && want) || (m->type == MATCH_NRE && !want));
    bool prefix_like = m->prefix && ((m->type == MATCH_RE && want) || (m->type == MATCH_NRE && !want));
    if (eq_like) {
        lookup_into(pn, m->value, m->value_len, out);
        return; /* one value: already sorted */
    } else if (set_like) {
        for (size_t i = 0; i < m->n_alts; i++) {
            bool dup = false;
            for (size_t j = 0; j < i && !dup; j++)
                dup = m->alt_lens[j] == m->alt_lens[i] && memcmp(m->alts[j], m->alts[i], m->alt_lens[i]) == 0;
            if (!dup) lookup_into(pn, m->alts[i], m->alt_lens[i], out);
        }
    } else if (prefix_like) {
        ensure_sorted(ix, pn);
        size_t lo = 0, hi = pn->nsorted;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (bytes_cmp(pn->sorted[mid]->value, pn->sorted[mid]->len, m->prefix, m->prefix_len) < 0) lo = mid + 1;
            else hi = mid;
        }
        for (size_t i = lo; i < pn->nsorted; i++) {
            pvalue_t *pv = pn->sorted[i];
            if (pv->len < m->prefix_len || memcmp(pv->value, m->prefix, m->prefix_len) != 0) break;
            pl_append(out, &pv->p);
        }
    } else {
        for (size_t i = 0; i < pn->values.cap; i++) {
            if (!pn->values.e[i].k) continue;
            pvalue_t *pv = pn->values.e[i].v;
            if (matcher_matches(m, pv->value, pv->len) == want) pl_append(out, &pv->p);
        }
    }
    if (out->n > before + 1) qsort(out->v, out->n, sizeof(series_t *), ref_cmp);
}

static void intersect(postings_t *acc, const postings_t *b)
{
    size_t i = 0, j = 0, k = 0;
    while (i < acc->n && j < b->n) {
        uint64_t x = acc->v[i]->ref, y = b->v[j]->ref;
        if (x == y) {
            acc->v[k++] = acc->v[i];
            i++;
            j++;
        } else if (x < y) i++;
        else j++;
    }
    acc->n = k;
}

static void subtract(postings_t *acc, const postings_t *b)
{
    size_t i = 0, j = 0, k = 0;
    while (i < acc->n) {
        while (j < b->n && b->v[j]->ref < acc->v[i]->ref) j++;
        if (j < b->n && b->v[j] == acc->v[i]) {
            i++;
            continue;
        }
        acc->v[k++] = acc->v[i++];
    }
    acc->n = k;
}

void index_select(hindex_t *ix, const matcher_t *const *ms, size_t n, postings_t *out)
{
    out->n = 0;
    postings_t tmp = {0};
    bool started = false;
    pthread_rwlock_rdlock(&ix->lock);
    /* positive matchers (reject "") first: each narrows the set to series having the label */
    for (size_t i = 0; i < n; i++) {
        const matcher_t *m = ms[i];
        if (m->matches_empty) continue;
        pname_t *pn = index_find_name(ix, m->name, m->name_len);
        if (!pn) {
            out->n = 0;
            started = true;
            break;
        }
        collect(ix, pn, m, true, started ? &tmp : out);
        if (started) intersect(out, &tmp);
        started = true;
        if (out->n == 0) break;
    }
    if (!started) pl_append(out, &ix->all);
    /* matchers accepting "": remove series whose value for the label is rejected */
    for (size_t i = 0; i < n && out->n; i++) {
        const matcher_t *m = ms[i];
        if (!m->matches_empty) continue;
        pname_t *pn = index_find_name(ix, m->name, m->name_len);
        if (!pn) continue; /* nobody has the label: all pass */
        collect(ix, pn, m, false, &tmp);
        subtract(out, &tmp);
    }
    pthread_rwlock_unlock(&ix->lock);
    postings_free(&tmp);
}
