/* querier.c owns the read path: a querier is a consistent view over a list of readers (the
 * on-disk blocks overlapping its range, oldest first, then the head; see reader.h) holding the db gc_lock shared, so series
 * and their label strings stay valid until querier_close. It merges the readers' series by
 * labels (sorted with labels_cmp), their samples by timestamp, and their label names/values. */
#include "storage/db_internal.h"
#include "storage/reader.h"
#include "storage/tombstones.h"
#include "util/alloc.h"
#include "util/hash.h"
#include "util/status.h"
#include <stdlib.h>
#include <string.h>

typedef struct owned {
    void *self;
    void (*free_self)(void *);
} owned_t;

struct querier {
    db_t *db;
    int64_t mint, maxt;
    reader_t *readers;
    size_t nreaders, capreaders; /* oldest first: on equal timestamps the later reader wins */
    owned_t *owned;
    size_t nowned, capowned;
    matcher_t *tenant; /* querier_set_tenant: TENANT_LABEL="name", ANDed into every select */
    tomb_snap_t *tomb; /* tombstones as of db_querier; NULL when there are none (no cost then) */
};

/* Series i of a set is sources [first[i], first[i+1]) of src: one per reader that has it. */
struct series_set {
    querier_t *q;
    reader_series_t *src;
    size_t *first;
    size_t n;
    /* tenant mode: series i is the i-th in order of its labels without TENANT_LABEL, tl[i] */
    labels_t *tl;
    label_t *tl_store;
    size_t *perm;      /* NULL: identity; else the source index of series i */
    const tomb_ent_t **te; /* tombstones: entry of the i-th series in source order, or NULL */
};

void sample_vec_free(sample_vec_t *sv)
{
    if (!sv) return;
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

void str_vec_push(str_vec_t *sv, const char *s, size_t len)
{
    if (sv->n == sv->cap) {
        XGROW(sv->s, sv->cap, sv->n + 1);
        sv->len = xrealloc(sv->len, sv->cap * sizeof(size_t));
    }
    sv->s[sv->n] = s;
    sv->len[sv->n] = len;
    sv->n++;
}

int db_querier(db_t *db, int64_t mint, int64_t maxt, querier_t **out)
{
    if (!db || !out) return MS_EINVAL;
    querier_t *q = xcalloc(1, sizeof(*q));
    q->db = db;
    q->mint = mint;
    q->maxt = maxt;
    gclock_read_lock(&db->gc_lock);
    q->tomb = tomb_snap_get(db->tomb);
    XGROW(q->readers, q->capreaders, 1);
    q->readers[q->nreaders++] = (reader_t){&head_reader_ops, &db->head};
    if (mint <= maxt) blocks_add_readers(db, q, mint, maxt);
    *out = q;
    return MS_OK;
}

int querier_add_reader(querier_t *q, const reader_ops_t *ops, void *self)
{
    if (!q || !ops) return MS_EINVAL;
    if (q->nreaders == q->capreaders) XGROW(q->readers, q->capreaders, q->nreaders + 1);
    /* keep the head last: it is the newest */
    q->readers[q->nreaders] = q->readers[q->nreaders - 1];
    q->readers[q->nreaders - 1] = (reader_t){ops, self};
    q->nreaders++;
    return MS_OK;
}

int querier_add_reader_owned(querier_t *q, const reader_ops_t *ops, void *self, void (*free_self)(void *))
{
    int rc = querier_add_reader(q, ops, self);
    if (rc != MS_OK) return rc;
    if (q->nowned == q->capowned) XGROW(q->owned, q->capowned, q->nowned + 1);
    q->owned[q->nowned++] = (owned_t){self, free_self};
    return MS_OK;
}

void querier_close(querier_t *q)
{
    if (!q) return;
    for (size_t i = 0; i < q->nowned; i++) q->owned[i].free_self(q->owned[i].self);
    gclock_read_unlock(&q->db->gc_lock);
    matcher_free(q->tenant);
    tomb_snap_put(q->tomb);
    free(q->owned);
    free(q->readers);
    free(q);
}

static int rs_cmp(const void *a, const void *b)
{
    const reader_series_t *x = a, *y = b;
    int c = labels_cmp(x->labels.v, x->labels.n, y->labels.v, y->labels.n);
    if (c) return c;
    return x->src < y->src ? -1 : x->src > y->src;
}

int querier_set_tenant(querier_t *q, const char *name, size_t len)
{
    if (!q || !name || len == 0 || q->tenant) return MS_EINVAL;
    char err[64];
    return matcher_new(MATCH_EQ, TENANT_LABEL, TENANT_LABEL_LEN, name, len, &q->tenant, err, sizeof err);
}

typedef struct tl_ord {
    labels_t ls;
    size_t idx;
} tl_ord_t;

static int tl_ord_cmp(const void *a, const void *b)
{
    const tl_ord_t *x = a, *y = b;
    return labels_cmp(x->ls.v, x->ls.n, y->ls.v, y->ls.n);
}

/* Tenant mode: gives every series of s its labels without TENANT_LABEL, and an order by them
 * (dropping a label can reorder two sets, e.g. {B="1",T} vs {B="1",C="2",T}). */
static void tenant_strip(series_set_t *s)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++) total += s->src[s->first[i]].labels.n;
    s->tl = xmalloc((s->n ? s->n : 1) * sizeof *s->tl);
    s->tl_store = xmalloc((total ? total : 1) * sizeof *s->tl_store);
    label_t *d = s->tl_store;
    bool sorted = true;
    for (size_t i = 0; i < s->n; i++) {
        labels_t src = s->src[s->first[i]].labels;
        labels_t o = {d, 0};
        for (size_t k = 0; k < src.n; k++)
            if (src.v[k].name_len != TENANT_LABEL_LEN || memcmp(src.v[k].name, TENANT_LABEL, TENANT_LABEL_LEN))
                o.v[o.n++] = src.v[k];
        d += o.n;
        s->tl[i] = o;
        if (i && sorted && labels_cmp(s->tl[i - 1].v, s->tl[i - 1].n, o.v, o.n) > 0) sorted = false;
    }
    if (sorted) return;
    tl_ord_t *ord = xmalloc(s->n * sizeof *ord);
    for (size_t i = 0; i < s->n; i++) ord[i] = (tl_ord_t){s->tl[i], i};
    qsort(ord, s->n, sizeof *ord, tl_ord_cmp);
    s->perm = xmalloc(s->n * sizeof *s->perm);
    for (size_t i = 0; i < s->n; i++) {
        s->tl[i] = ord[i].ls;
        s->perm[i] = ord[i].idx;
    }
    free(ord);
}

static int select_raw(querier_t *q, const matcher_t *const *ms, size_t n, series_set_t **out);
static void tomb_prune(series_set_t *s);

int querier_select(querier_t *q, const matcher_t *const *ms, size_t n, series_set_t **out)
{
    if (!q || !out || n == 0 || !ms) return MS_EINVAL;
    if (!q->tenant) return select_raw(q, ms, n, out);
    const matcher_t *stack[16];
    const matcher_t **all = n + 1 <= 16 ? stack : xmalloc((n + 1) * sizeof *all);
    all[0] = q->tenant; /* the tenant's postings first: usually the most selective */
    memcpy(all + 1, ms, n * sizeof *ms);
    int rc = select_raw(q, all, n + 1, out);
    if (all != stack) free(all);
    if (rc == MS_OK) tenant_strip(*out);
    return rc;
}

/* querier_select without the tenant scope. */
static int select_raw(querier_t *q, const matcher_t *const *ms, size_t n, series_set_t **out)
{
    rs_vec_t all = {0};
    if (q->mint <= q->maxt) {
        for (size_t r = 0; r < q->nreaders; r++) {
            size_t before = all.n;
            q->readers[r].ops->select(q->readers[r].self, ms, n, q->mint, q->maxt, &all);
            for (size_t i = before; i < all.n; i++) all.v[i].src = (uint32_t)r;
        }
    }
    if (all.n > 1) qsort(all.v, all.n, sizeof(*all.v), rs_cmp);
    series_set_t *s = xcalloc(1, sizeof(*s));
    s->q = q;
    s->src = all.v;
    s->first = xmalloc((all.n + 1) * sizeof(size_t));
    for (size_t i = 0; i < all.n; i++) {
        if (i > 0 && labels_equal(all.v[i].labels.v, all.v[i].labels.n, all.v[i - 1].labels.v, all.v[i - 1].labels.n))
            continue;
        s->first[s->n++] = i;
    }
    s->first[s->n] = all.n;
    if (q->tomb) tomb_prune(s);
    *out = s;
    return MS_OK;
}

size_t series_set_len(const series_set_t *s) { return s ? s->n : 0; }

labels_t series_set_labels(const series_set_t *s, size_t i)
{
    if (!s || i >= s->n) return (labels_t){NULL, 0};
    if (s->tl) return s->tl[i];
    return s->src[s->first[i]].labels;
}

typedef struct ord {
    sample_t smp;
    size_t idx; /* position in reader order, so ties sort oldest reader first */
} ord_t;

static int ord_cmp(const void *a, const void *b)
{
    const ord_t *x = a, *y = b;
    if (x->smp.t != y->smp.t) return x->smp.t < y->smp.t ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int series_set_samples(const series_set_t *s, size_t i, int64_t mint, int64_t maxt, sample_vec_t *out)
{
    if (!s || i >= s->n || !out) return MS_EINVAL;
    const querier_t *q = s->q;
    if (mint < q->mint) mint = q->mint;
    if (maxt > q->maxt) maxt = q->maxt;
    if (mint > maxt) return MS_OK;
    if (s->perm) i = s->perm[i];
    size_t a = s->first[i], b = s->first[i + 1];
    size_t start = out->n;
    if (b - a == 1) {
        const reader_t *r = &q->readers[s->src[a].src];
        r->ops->samples(r->self, s->src[a].h, mint, maxt, out);
        if (s->te && s->te[i]) tomb_ent_filter(s->te[i], out, start);
        return MS_OK;
    }
    /* several readers hold this series: concatenate oldest reader first, sort by (t, position),
     * keep the last sample of each timestamp (the newest reader's) */
    for (size_t k = a; k < b; k++) {
        const reader_t *r = &q->readers[s->src[k].src];
        r->ops->samples(r->self, s->src[k].h, mint, maxt, out);
    }
    size_t m = out->n - start;
    ord_t *o = xmalloc((m ? m : 1) * sizeof(*o));
    for (size_t k = 0; k < m; k++) o[k] = (ord_t){out->v[start + k], k};
    if (m > 1) qsort(o, m, sizeof(*o), ord_cmp);
    size_t w = start;
    for (size_t k = 0; k < m; k++) {
        if (k + 1 < m && o[k + 1].smp.t == o[k].smp.t) continue; /* a later reader has this t */
        out->v[w++] = o[k].smp;
    }
    out->n = w;
    free(o);
    if (s->te && s->te[i]) tomb_ent_filter(s->te[i], out, start);
    return MS_OK;
}

/* Tombstones (q->tomb set): notes each series' entry, so series_set_samples drops deleted
 * samples, and removes the series whose samples in the querier's range are all deleted
 * (Prometheus does not return them either). Runs before any tenant re-ordering. */
static void tomb_prune(series_set_t *s)
{
    const querier_t *q = s->q;
    s->te = xcalloc(s->n ? s->n : 1, sizeof(*s->te));
    bool *drop = xcalloc(s->n ? s->n : 1, sizeof(bool));
    sample_vec_t sv = {0};
    bool any = false;
    for (size_t i = 0; i < s->n; i++) {
        labels_t ls = s->src[s->first[i]].labels;
        const tomb_ent_t *e = tomb_snap_find(q->tomb, ls.v, ls.n, labels_hash(ls.v, ls.n));
        if (!e || !tomb_ent_overlaps(e, q->mint, q->maxt)) continue;
        s->te[i] = e;
        any = true;
        if (tomb_ent_covers(e, q->mint, q->maxt)) {
            drop[i] = true;
            continue;
        }
        sv.n = 0;
        series_set_samples(s, i, q->mint, q->maxt, &sv);
        drop[i] = sv.n == 0;
    }
    size_t k = 0, w = 0;
    for (size_t i = 0; any && i < s->n; i++) {
        if (drop[i]) continue;
        size_t a = s->first[i], b = s->first[i + 1];
        memmove(&s->src[w], &s->src[a], (b - a) * sizeof(*s->src));
        s->te[k] = s->te[i];
        s->first[k++] = w;
        w += b - a;
    }
    if (any) {
        s->first[k] = w;
        s->n = k;
    } else {
        free(s->te);
        s->te = NULL;
    }
    sample_vec_free(&sv);
    free(drop);
}

void series_set_free(series_set_t *s)
{
    if (!s) return;
    free(s->src);
    free(s->first);
    free(s->tl);
    free(s->tl_store);
    free(s->perm);
    free(s->te);
    free(s);
}

static int str_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

typedef struct spair {
    const char *s;
    size_t len;
} spair_t;

static int spair_cmp(const void *a, const void *b)
{
    const spair_t *x = a, *y = b;
    return str_cmp(x->s, x->len, y->s, y->len);
}

/* Sorts and dedupes v (each reader's list is sorted; several readers interleave), handing out
 * its arrays to the caller. */
static void finish_strs(str_vec_t *v, const char ***s, size_t **lens, size_t *n)
{
    bool sorted = true;
    for (size_t i = 1; i < v->n && sorted; i++) sorted = str_cmp(v->s[i - 1], v->len[i - 1], v->s[i], v->len[i]) < 0;
    if (!sorted) {
        spair_t *p = xmalloc(v->n * sizeof(*p));
        for (size_t i = 0; i < v->n; i++) p[i] = (spair_t){v->s[i], v->len[i]};
        qsort(p, v->n, sizeof(*p), spair_cmp);
        size_t k = 0;
        for (size_t i = 0; i < v->n; i++) {
            if (k && str_cmp(v->s[k - 1], v->len[k - 1], p[i].s, p[i].len) == 0) continue;
            v->s[k] = p[i].s;
            v->len[k] = p[i].len;
            k++;
        }
        v->n = k;
        free(p);
    }
    if (!v->s) {
        v->s = xmalloc(sizeof(char *));
        v->len = xmalloc(sizeof(size_t));
    }
    *s = v->s;
    *lens = v->len;
    *n = v->n;
}

/* A set of borrowed strings (open addressing on hash_bytes), so the tenant's label names and
 * values are de-duplicated as they are met instead of sorting one entry per series. */
typedef struct sset {
    spair_t *v;
    size_t cap, n; /* cap a power of two, at most half full */
} sset_t;

static bool sset_add(sset_t *h, const char *str, size_t len)
{
    if (2 * (h->n + 1) > h->cap) {
        size_t ncap = h->cap ? 2 * h->cap : 64;
        spair_t *nv = xcalloc(ncap, sizeof *nv);
        for (size_t i = 0; i < h->cap; i++)
            if (h->v[i].s) {
                size_t j = (size_t)hash_bytes(h->v[i].s, h->v[i].len) & (ncap - 1);
                while (nv[j].s) j = (j + 1) & (ncap - 1);
                nv[j] = h->v[i];
            }
        free(h->v);
        h->v = nv;
        h->cap = ncap;
    }
    size_t j = (size_t)hash_bytes(str, len) & (h->cap - 1);
    for (; h->v[j].s; j = (j + 1) & (h->cap - 1))
        if (h->v[j].len == len && !memcmp(h->v[j].s, str, len)) return false;
    h->v[j] = (spair_t){str ? str : "", len};
    h->n++;
    return true;
}

/* Tenant mode: names (name == NULL) or values of one label of the tenant's series in range,
 * gathered from their label sets (the readers' selects, unsorted: only the distinct strings are
 * sorted at the end); TENANT_LABEL itself is never listed. Like the open-mode lists, these come
 * from the index and do not look at tombstones. */
static int tenant_strs(querier_t *q, const char *name, size_t name_len, const char ***s, size_t **lens, size_t *n)
{
    str_vec_t v = {0};
    bool hidden = name && name_len == TENANT_LABEL_LEN && !memcmp(name, TENANT_LABEL, TENANT_LABEL_LEN);
    matcher_t *has = NULL;
    char err[64];
    int rc = MS_OK;
    if (name && !hidden) rc = matcher_new(MATCH_NEQ, name, name_len, "", 0, &has, err, sizeof err);
    rs_vec_t all = {0};
    if (rc == MS_OK && !hidden && q->mint <= q->maxt) {
        const matcher_t *ms[2] = {q->tenant, has};
        for (size_t r = 0; r < q->nreaders; r++)
            q->readers[r].ops->select(q->readers[r].self, ms, has ? 2 : 1, q->mint, q->maxt, &all);
    }
    sset_t seen = {0};
    for (size_t i = 0; rc == MS_OK && i < all.n; i++) {
        labels_t ls = all.v[i].labels;
        for (size_t k = 0; k < ls.n; k++) {
            const label_t *l = &ls.v[k];
            if (!name) {
                if ((l->name_len != TENANT_LABEL_LEN || memcmp(l->name, TENANT_LABEL, TENANT_LABEL_LEN)) &&
                    sset_add(&seen, l->name, l->name_len))
                    str_vec_push(&v, l->name, l->name_len);
            } else if (l->name_len == name_len && !memcmp(l->name, name, name_len)) {
                if (sset_add(&seen, l->value, l->value_len)) str_vec_push(&v, l->value, l->value_len);
                break;
            }
        }
    }
    free(seen.v);
    free(all.v);
    matcher_free(has);
    if (rc != MS_OK) {
        free(v.s);
        free(v.len);
        return rc;
    }
    finish_strs(&v, s, lens, n);
    return MS_OK;
}

int querier_label_names(querier_t *q, const char ***names, size_t **name_lens, size_t *n)
{
    if (!q || !names || !name_lens || !n) return MS_EINVAL;
    if (q->tenant) return tenant_strs(q, NULL, 0, names, name_lens, n);
    str_vec_t v = {0};
    for (size_t r = 0; r < q->nreaders && q->mint <= q->maxt; r++)
        q->readers[r].ops->label_names(q->readers[r].self, q->mint, q->maxt, &v);
    finish_strs(&v, names, name_lens, n);
    return MS_OK;
}

int querier_label_values(querier_t *q, const char *name, size_t name_len, const char ***values,
                         size_t **value_lens, size_t *n)
{
    if (!q || !name || !values || !value_lens || !n) return MS_EINVAL;
    if (q->tenant) return tenant_strs(q, name, name_len, values, value_lens, n);
    str_vec_t v = {0};
    for (size_t r = 0; r < q->nreaders && q->mint <= q->maxt; r++)
        q->readers[r].ops->label_values(q->readers[r].self, name, name_len, q->mint, q->maxt, &v);
    finish_strs(&v, values, value_lens, n);
    return MS_OK;
}
