/* db_status.c owns db_head_status: the cardinality figures of GET /api/v1/status/tsdb (series
 * per metric name, values per label name, value bytes per label name, series per label pair,
 * each as a top-N list) computed from the head's postings index, as Prometheus computes them
 * from its head (2.42's definitions). Whole head: one pass over the (name, value) postings
 * under the index read lock, so the cost grows with label pairs, not series or samples. Scoped
 * by matchers (a tenant): one select, then the selected series' labels are counted, so the cost
 * grows with the tenant's series. Nothing is copied but the final top-N names. */
#include "storage/db_internal.h"
#include "util/alloc.h"
#include "util/status.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A candidate list entry: borrowed strings (interned in the head) until the lists are built. */
typedef struct cand {
    const char *a, *b; /* name, and for pairs the value (else NULL) */
    size_t alen, blen;
    uint64_t value;
} cand_t;

/* The N best candidates, kept as a min-heap whose root is the worst kept one. */
typedef struct topn {
    cand_t *h;
    size_t n, cap;
} topn_t;

/* Byte i of the entry's name as listed: "a", or "a=b" for pairs. */
static unsigned char cand_at(const cand_t *c, size_t i)
{
    if (i < c->alen) return (unsigned char)c->a[i];
    return i == c->alen ? '=' : (unsigned char)c->b[i - c->alen - 1];
}

static size_t cand_len(const cand_t *c) { return c->alen + (c->b ? 1 + c->blen : 0); }

/* Bytewise order of the listed names. */
static int cand_name_cmp(const cand_t *x, const cand_t *y)
{
    size_t xl = cand_len(x), yl = cand_len(y);
    for (size_t i = 0; i < xl && i < yl; i++) {
        unsigned char cx = cand_at(x, i), cy = cand_at(y, i);
        if (cx != cy) return cx < cy ? -1 : 1;
    }
    return xl < yl ? -1 : xl > yl;
}

/* Is x a worse entry than y (lower value, or equal value and a later name)? */
static bool worse(const cand_t *x, const cand_t *y)
{
    if (x->value != y->value) return x->value < y->value;
    return cand_name_cmp(x, y) > 0;
}

static void topn_push(topn_t *t, size_t limit, cand_t c)
{
    if (t->n < limit) {
        if (t->n == t->cap) XGROW(t->h, t->cap, t->n + 1);
        size_t i = t->n++;
        t->h[i] = c;
        while (i > 0) { /* sift up: the worst rises to the root */
            size_t p = (i - 1) / 2;
            if (!worse(&t->h[i], &t->h[p])) break;
            cand_t tmp = t->h[i];
            t->h[i] = t->h[p];
            t->h[p] = tmp;
            i = p;
        }
        return;
    }
    if (!limit || !worse(&t->h[0], &c)) return;
    t->h[0] = c;
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < t->n && worse(&t->h[l], &t->h[w])) w = l;
        if (r < t->n && worse(&t->h[r], &t->h[w])) w = r;
        if (w == i) break;
        cand_t tmp = t->h[i];
        t->h[i] = t->h[w];
        t->h[w] = tmp;
        i = w;
    }
}

static int best_first(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

/* Copies the kept candidates (best first) into a list of malloc'd strings; frees t. */
static void topn_finish(topn_t *t, db_stat_list_t *out)
{
    if (t->n > 1) qsort(t->h, t->n, sizeof(cand_t), best_first);
    out->v = t->n ? xmalloc(t->n * sizeof(db_stat_entry_t)) : NULL;
    out->n = t->n;
    for (size_t i = 0; i < t->n; i++) {
        const cand_t *c = &t->h[i];
        size_t len = c->alen + (c->b ? 1 + c->blen : 0);
        char *s = xmalloc(len + 1);
        memcpy(s, c->a, c->alen);
        if (c->b) {
            s[c->alen] = '=';
            memcpy(s + c->alen + 1, c->b, c->blen);
        }
        s[len] = 0;
        out->v[i] = (db_stat_entry_t){s, c->value};
    }
    free(t->h);
    *t = (topn_t){0};
}

/* Scoped counting: one slot per (label name, value) pair met on the selected series. Label
 * strings are interned in the head (one copy per distinct string), so the value pointer and the
 * name's index identify a pair without hashing its bytes. */
typedef struct pair_slot {
    const char *value; /* NULL: empty slot */
    uint32_t len, name_ix;
    uint64_t n;
} pair_slot_t;

typedef struct pair_tab {
    pair_slot_t *v;
    size_t cap, n;
} pair_tab_t;

static size_t slot_of(const pair_tab_t *t, const char *value, uint32_t name_ix)
{
    uint64_t h = ((uint64_t)(uintptr_t)value ^ ((uint64_t)name_ix << 48)) * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 20) & (t->cap - 1);
    while (t->v[i].value && (t->v[i].value != value || t->v[i].name_ix != name_ix)) i = (i + 1) & (t->cap - 1);
    return i;
}

static void pair_count(pair_tab_t *t, const char *value, uint32_t len, uint32_t name_ix)
{
    if (2 * (t->n + 1) > t->cap) {
        pair_tab_t nt = {xcalloc(t->cap ? 2 * t->cap : 1024, sizeof(pair_slot_t)), t->cap ? 2 * t->cap : 1024, t->n};
        for (size_t i = 0; i < t->cap; i++)
            if (t->v[i].value) nt.v[slot_of(&nt, t->v[i].value, t->v[i].name_ix)] = t->v[i];
        free(t->v);
        *t = nt;
    }
    size_t i = slot_of(t, value, name_ix);
    if (!t->v[i].value) {
        t->v[i] = (pair_slot_t){value, len, name_ix, 0};
        t->n++;
    }
    t->v[i].n++;
}

/* Index of the label name in ix->names (sorted bytewise), or -1. Caller holds the lock. */
static int64_t name_index(const hindex_t *ix, const char *name, size_t len)
{
    size_t lo = 0, hi = ix->nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const pname_t *pn = ix->names[mid];
        size_t m = pn->len < len ? pn->len : len;
        int c = memcmp(pn->name, name, m);
        if (!c) c = pn->len < len ? -1 : pn->len > len;
        if (!c) return (int64_t)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

typedef struct times {
    int64_t mint, maxt;
    uint64_t chunks;
} times_t;

static void times_of(series_t *s, times_t *t)
{
    pthread_mutex_lock(&s->mu);
    if (s->nchunks) {
        if (s->chunks[0].mint < t->mint) t->mint = s->chunks[0].mint;
        if (s->chunks[s->nchunks - 1].maxt > t->maxt) t->maxt = s->chunks[s->nchunks - 1].maxt;
    }
    t->chunks += s->nchunks;
    pthread_mutex_unlock(&s->mu);
}

static void times_fn(series_t *s, void *arg) { times_of(s, arg); }

int db_head_status(db_t *db, const db_head_status_opts_t *opts, db_head_status_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!db || !opts) return MS_EINVAL;
    size_t limit = opts->topn ? opts->topn : 10;
    times_t tm = {INT64_MAX, INT64_MIN, 0};
    postings_t sel = {0};
    bool scoped = opts->nms > 0;
    gclock_read_lock(&db->gc_lock); /* series pointers stay valid */
    if (scoped) {
        index_select(&db->head.index, opts->ms, opts->nms, &sel);
        for (size_t i = 0; i < sel.n; i++) times_of(sel.v[i], &tm);
        out->num_series = sel.n;
        out->chunk_count = tm.chunks;
    } else {
        head_each(&db->head, times_fn, &tm);
        out->num_series = (uint64_t)atomic_load(&db->head.nseries);
        out->chunk_count = (uint64_t)atomic_load(&db->head.nchunks);
    }
    out->min_time = tm.mint;
    out->max_time = tm.maxt;

    topn_t metrics = {0}, names = {0}, mem = {0}, pairs = {0};
    hindex_t *ix = &db->head.index;
    pthread_rwlock_rdlock(&ix->lock);
    uint64_t *nvalues = xcalloc(ix->nnames + 1, sizeof(uint64_t)), *bytes = xcalloc(ix->nnames + 1, sizeof(uint64_t));
    int64_t hidden = opts->hide_name ? name_index(ix, opts->hide_name, opts->hide_len) : -1;
    int64_t metric_ix = name_index(ix, "__name__", 8);
    if (scoped) {
        /* only the selected series: count their pairs, O(series x labels) */
        pair_tab_t t = {0};
        for (size_t i = 0; i < sel.n; i++) {
            const series_t *se = sel.v[i];
            for (uint32_t k = 0; k < se->nlabels; k++) {
                int64_t ni = name_index(ix, se->labels[k].name, se->labels[k].name_len);
                if (ni < 0 || ni == hidden) continue;
                pair_count(&t, se->labels[k].value, se->labels[k].value_len, (uint32_t)ni);
            }
        }
        for (size_t i = 0; i < t.cap; i++) {
            const pair_slot_t *p = &t.v[i];
            if (!p->value) continue;
            const pname_t *pn = ix->names[p->name_ix];
            nvalues[p->name_ix]++;
            bytes[p->name_ix] += p->len;
            if ((int64_t)p->name_ix == metric_ix) topn_push(&metrics, limit, (cand_t){p->value, NULL, p->len, 0, p->n});
            topn_push(&pairs, limit, (cand_t){pn->name, p->value, pn->len, p->len, p->n});
        }
        free(t.v);
    } else {
        /* the whole head: one pass over the postings, O(label pairs) */
        for (size_t i = 0; i < ix->nnames; i++) {
            const pname_t *pn = ix->names[i];
            if ((int64_t)i == hidden) continue;
            for (size_t k = 0; k < pn->values.cap; k++) {
                const pvalue_t *pv = pn->values.e[k].k ? pn->values.e[k].v : NULL;
                if (!pv || !pv->p.n) continue;
                nvalues[i]++;
                bytes[i] += pv->len; /* Prometheus 2.42: bytes of the distinct values (later versions weight by series) */
                if ((int64_t)i == metric_ix) topn_push(&metrics, limit, (cand_t){pv->value, NULL, pv->len, 0, pv->p.n});
                topn_push(&pairs, limit, (cand_t){pn->name, pv->value, pn->len, pv->len, pv->p.n});
            }
        }
    }
    for (size_t i = 0; i < ix->nnames; i++) {
        if (!nvalues[i]) continue;
        const pname_t *pn = ix->names[i];
        out->num_label_pairs += nvalues[i];
        topn_push(&names, limit, (cand_t){pn->name, NULL, pn->len, 0, nvalues[i]});
        topn_push(&mem, limit, (cand_t){pn->name, NULL, pn->len, 0, bytes[i]});
    }
    free(nvalues);
    free(bytes);
    topn_finish(&metrics, &out->series_by_metric);
    topn_finish(&names, &out->values_by_label);
    topn_finish(&mem, &out->memory_by_label);
    topn_finish(&pairs, &out->series_by_pair);
    pthread_rwlock_unlock(&ix->lock);
    gclock_read_unlock(&db->gc_lock);
    postings_free(&sel);
    return MS_OK;
}

static void list_free(db_stat_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i].name);
    free(l->v);
    *l = (db_stat_list_t){0};
}

void db_head_status_free(db_head_status_t *st)
{
    if (!st) return;
    list_free(&st->series_by_metric);
    list_free(&st->values_by_label);
    list_free(&st->memory_by_label);
    list_free(&st->series_by_pair);
}
