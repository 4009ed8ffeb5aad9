/* querier.c owns the read path: a querier is a consistent view holding the db gc_lock for
 * reading (series and their label strings stay valid until querier_close); selection through
 * the postings index filtered to series with samples in range and sorted by labels; samples
 * copied out under each series' lock; label names and values over the index.
 * The head is today's only reader; on-disk blocks would be merged here per series. */
#include "storage/db_internal.h"
#include "util/alloc.h"
#include "util/status.h"
#include <stdlib.h>
#include <string.h>

struct querier {
    db_t *db;
    int64_t mint, maxt;
};

struct series_set {
    querier_t *q;
    series_t **v;
    size_t n;
};

void sample_vec_free(sample_vec_t *sv)
{
    if (!sv) return;
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

int db_querier(db_t *db, int64_t mint, int64_t maxt, querier_t **out)
{
    if (!db || !out) return MS_EINVAL;
    querier_t *q = xcalloc(1, sizeof(*q));
    q->db = db;
    q->mint = mint;
    q->maxt = maxt;
    gclock_read_lock(&db->gc_lock);
    *out = q;
    return MS_OK;
}

void querier_close(querier_t *q)
{
    if (!q) return;
    gclock_read_unlock(&q->db->gc_lock);
    free(q);
}

static bool has_data(series_t *s, int64_t mint, int64_t maxt)
{
    pthread_mutex_lock(&s->mu);
    bool r = series_has_data(s, mint, maxt);
    pthread_mutex_unlock(&s->mu);
    return r;
}

static int series_cmp(const void *a, const void *b)
{
    const series_t *x = *(series_t *const *)a, *y = *(series_t *const *)b;
    return labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
}

int querier_select(querier_t *q, const matcher_t *const *ms, size_t n, series_set_t **out)
{
    if (!q || !out || (n && !ms)) return MS_EINVAL;
    if (n == 0) return MS_EINVAL;
    postings_t p = {0};
    index_select(&q->db->head.index, ms, n, &p);
    size_t k = 0;
    for (size_t i = 0; i < p.n; i++)
        if (q->mint <= q->maxt && has_data(p.v[i], q->mint, q->maxt)) p.v[k++] = p.v[i];
    if (k > 1) qsort(p.v, k, sizeof(series_t *), series_cmp);
    series_set_t *s = xcalloc(1, sizeof(*s));
    s->q = q;
    s->v = p.v;
    s->n = k;
    *out = s;
    return MS_OK;
}

size_t series_set_len(const series_set_t *s) { return s ? s->n : 0; }

labels_t series_set_labels(const series_set_t *s, size_t i)
{
    if (!s || i >= s->n) return (labels_t){NULL, 0};
    return (labels_t){s->v[i]->labels, s->v[i]->nlabels};
}

int series_set_samples(const series_set_t *s, size_t i, int64_t mint, int64_t maxt, sample_vec_t *out)
{
    if (!s || i >= s->n || !out) return MS_EINVAL;
    if (mint < s->q->mint) mint = s->q->mint;
    if (maxt > s->q->maxt) maxt = s->q->maxt;
    if (mint > maxt) return MS_OK;
    series_t *se = s->v[i];
    pthread_mutex_lock(&se->mu);
    series_read(se, mint, maxt, out);
    pthread_mutex_unlock(&se->mu);
    return MS_OK;
}

void series_set_free(series_set_t *s)
{
    if (!s) return;
    free(s->v);
    free(s);
}

static bool postings_any_data(const postings_t *p, int64_t mint, int64_t maxt)
{
    for (size_t i = 0; i < p->n; i++)
        if (has_data(p->v[i], mint, maxt)) return true;
    return false;
}

int querier_label_names(querier_t *q, const char ***names, size_t **name_lens, size_t *n)
{
    if (!q || !names || !name_lens || !n) return MS_EINVAL;
    hindex_t *ix = &q->db->head.index;
    index_read_lock_sorted(ix);
    const char **nv = xmalloc((ix->nnames ? ix->nnames : 1) * sizeof(char *));
    size_t *lv = xmalloc((ix->nnames ? ix->nnames : 1) * sizeof(size_t));
    size_t k = 0;
    for (size_t i = 0; i < ix->nnames; i++) {
        pname_t *pn = ix->names[i];
        bool any = false;
        for (size_t j = 0; j < pn->nsorted && !any; j++)
            any = q->mint <= q->maxt && postings_any_data(&pn->sorted[j]->p, q->mint, q->maxt);
        if (!any) continue;
        nv[k] = pn->name;
        lv[k] = pn->len;
        k++;
    }
    index_read_unlock(ix);
    *names = nv;
    *name_lens = lv;
    *n = k;
    return MS_OK;
}

int querier_label_values(querier_t *q, const char *name, size_t name_len, const char ***values,
                         size_t **value_lens, size_t *n)
{
    if (!q || !name || !values || !value_lens || !n) return MS_EINVAL;
    hindex_t *ix = &q->db->head.index;
    index_read_lock_sorted(ix);
    pname_t *pn = index_find_name(ix, name, name_len);
    size_t cap = pn && pn->nsorted ? pn->nsorted : 1;
    const char **vv = xmalloc(cap * sizeof(char *));
    size_t *lv = xmalloc(cap * sizeof(size_t));
    size_t k = 0;
    for (size_t j = 0; pn && j < pn->nsorted; j++) {
        if (q->mint > q->maxt || !postings_any_data(&pn->sorted[j]->p, q->mint, q->maxt)) continue;
        vv[k] = pn->sorted[j]->value;
        lv[k] = pn->sorted[j]->len;
        k++;
    }
    index_read_unlock(ix);
    *values = vv;
    *value_lens = lv;
    *n = k;
    return MS_OK;
}
