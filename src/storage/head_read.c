/* head_read.c owns reading the head: copying a series' samples of a time range out under the
 * series lock (so concurrent appends never corrupt a reader), range-presence checks, and the
 * head's implementation of the reader interface (reader.h) used by the querier. */
#include "storage/head.h"
#include "storage/reader.h"
#include "util/alloc.h"
#include <string.h>

void series_read(series_t *s, int64_t mint, int64_t maxt, sample_vec_t *out)
{
    for (uint32_t i = 0; i < s->nchunks; i++) {
        const xor_chunk_t *c = &s->chunks[i];
        if (c->maxt < mint) continue;
        if (c->mint > maxt) break;
        if (out->n + c->n > out->cap) XGROW(out->v, out->cap, out->n + c->n);
        chunk_iter_t it;
        chunk_iter_init(&it, c->b, c->nbits, c->n);
        out->n += chunk_iter_read(&it, mint, maxt, out->v + out->n);
    }
}

bool series_has_data(series_t *s, int64_t mint, int64_t maxt)
{
    for (uint32_t i = 0; i < s->nchunks; i++) {
        const xor_chunk_t *c = &s->chunks[i];
        if (c->maxt < mint) continue;
        if (c->mint > maxt) return false;
        if (c->mint >= mint || c->maxt <= maxt) return true; /* an end sample lies in range */
        chunk_iter_t it;
        chunk_iter_init(&it, c->b, c->nbits, c->n);
        while (chunk_iter_next(&it)) {
            if (it.t > maxt) break;
            if (it.t >= mint) return true;
        }
    }
    return false;
}

/* ---- the head as a reader (reader.h) ---- */

static bool locked_has_data(series_t *s, int64_t mint, int64_t maxt)
{
    pthread_mutex_lock(&s->mu);
    bool r = series_has_data(s, mint, maxt);
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void head_select(void *self, const matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt, rs_vec_t *out)
{
    head_t *h = self;
    postings_t p = {0};
    index_select(&h->index, ms, n, &p);
    for (size_t i = 0; i < p.n; i++) {
        series_t *s = p.v[i];
        if (!locked_has_data(s, mint, maxt)) continue;
        if (out->n == out->cap) XGROW(out->v, out->cap, out->n + 1);
        out->v[out->n++] = (reader_series_t){{s->labels, s->nlabels}, s, 0};
    }
    postings_free(&p);
}

static void head_samples(void *self, void *hs, int64_t mint, int64_t maxt, sample_vec_t *out)
{
    (void)self;
    series_t *s = hs;
    pthread_mutex_lock(&s->mu);
    series_read(s, mint, maxt, out);
    pthread_mutex_unlock(&s->mu);
}

static bool postings_any_data(const postings_t *p, int64_t mint, int64_t maxt)
{
    for (size_t i = 0; i < p->n; i++)
        if (locked_has_data(p->v[i], mint, maxt)) return true;
    return false;
}

static void head_label_names(void *self, int64_t mint, int64_t maxt, str_vec_t *out)
{
    head_t *h = self;
    index_read_lock_sorted(&h->index);
    for (size_t i = 0; i < h->index.nnames; i++) {
        pname_t *pn = h->index.names[i];
        for (size_t j = 0; j < pn->nsorted; j++) {
            if (postings_any_data(&pn->sorted[j]->p, mint, maxt)) {
                str_vec_push(out, pn->name, pn->len);
                break;
            }
        }
    }
    index_read_unlock(&h->index);
}

static void head_label_values(void *self, const char *name, size_t len, int64_t mint, int64_t maxt, str_vec_t *out)
{
    head_t *h = self;
    index_read_lock_sorted(&h->index);
    pname_t *pn = index_find_name(&h->index, name, len);
    for (size_t j = 0; pn && j < pn->nsorted; j++)
        if (postings_any_data(&pn->sorted[j]->p, mint, maxt)) str_vec_push(out, pn->sorted[j]->value, pn->sorted[j]->len);
    index_read_unlock(&h->index);
}

const reader_ops_t head_reader_ops = {head_select, head_samples, head_label_names, head_label_values};
