/* series.c owns the series registry: a striped hash map (by labels hash) of series, each with
 * interned labels and a never-reused ref, so writers to different series rarely contend. */
#include "storage/head.h"
#include "util/alloc.h"
#include <stdlib.h>
#include <string.h>

void head_init(head_t *h)
{
    memset(h, 0, sizeof(*h));
    for (size_t i = 0; i < HEAD_STRIPES; i++) pthread_rwlock_init(&h->stripes[i].lock, NULL);
    atomic_init(&h->mem, (int64_t)sizeof(*h));
    atomic_init(&h->next_ref, 1);
    symtab_init(&h->syms, &h->mem);
    index_init(&h->index, &h->mem);
}

static void series_free(head_t *h, series_t *s)
{
    int64_t bytes = (int64_t)(sizeof(*s) + s->nlabels * sizeof(label_t) + s->capchunks * sizeof(xor_chunk_t));
    for (uint32_t i = 0; i < s->nchunks; i++) {
        bytes += s->chunks[i].cap;
        chunk_free(&s->chunks[i]);
    }
    atomic_fetch_sub(&h->nchunks, (int64_t)s->nchunks);
    for (uint32_t i = 0; i < s->nlabels; i++) {
        symtab_release(&h->syms, s->labels[i].name);
        symtab_release(&h->syms, s->labels[i].value);
    }
    free(s->labels);
    free(s->chunks);
    pthread_mutex_destroy(&s->mu);
    free(s);
    atomic_fetch_sub(&h->mem, bytes);
    atomic_fetch_sub(&h->nseries, 1);
}

void head_destroy(head_t *h)
{
    for (size_t i = 0; i < HEAD_STRIPES; i++) {
        stripe_t *st = &h->stripes[i];
        for (size_t b = 0; b < st->nbuckets; b++) {
            series_t *s = st->buckets[b];
            while (s) {
                series_t *nx = s->next;
                series_free(h, s);
                s = nx;
            }
        }
        free(st->buckets);
        pthread_rwlock_destroy(&st->lock);
    }
    index_destroy(&h->index);
    symtab_destroy(&h->syms);
}

static series_t *stripe_find(stripe_t *st, const label_t *ls, size_t n, uint64_t hash)
{
    if (!st->nbuckets) return NULL;
    for (series_t *s = st->buckets[(hash >> 8) & (st->nbuckets - 1)]; s; s = s->next)
        if (s->hash == hash && labels_equal(s->labels, s->nlabels, ls, n)) return s;
    return NULL;
}

series_t *head_get(head_t *h, const label_t *ls, size_t n, uint64_t hash)
{
    stripe_t *st = &h->stripes[hash % HEAD_STRIPES];
    pthread_rwlock_rdlock(&st->lock);
    series_t *s = stripe_find(st, ls, n, hash);
    pthread_rwlock_unlock(&st->lock);
    return s;
}

static void stripe_insert(head_t *h, stripe_t *st, series_t *s)
{
    if (st->n + 1 > st->nbuckets) {
        size_t nb = st->nbuckets ? st->nbuckets * 2 : 16;
        series_t **nbk = xcalloc(nb, sizeof(*nbk));
        for (size_t b = 0; b < st->nbuckets; b++) {
            series_t *x = st->buckets[b];
            while (x) {
                series_t *nx = x->next;
                size_t j = (x->hash >> 8) & (nb - 1);
                x->next = nbk[j];
                nbk[j] = x;
                x = nx;
            }
        }
        atomic_fetch_add(&h->mem, (int64_t)((nb - st->nbuckets) * sizeof(*nbk)));
        free(st->buckets);
        st->buckets = nbk;
        st->nbuckets = nb;
    }
    size_t j = (s->hash >> 8) & (st->nbuckets - 1);
    s->next = st->buckets[j];
    st->buckets[j] = s;
    st->n++;
}

series_t *head_get_or_create(head_t *h, const label_t *ls, size_t n, uint64_t hash, uint64_t ref, bool *created)
{
    stripe_t *st = &h->stripes[hash % HEAD_STRIPES];
    *created = false;
    pthread_rwlock_wrlock(&st->lock);
    series_t *s = stripe_find(st, ls, n, hash);
    if (s) {
        pthread_rwlock_unlock(&st->lock);
        return s;
    }
    s = xcalloc(1, sizeof(*s));
    s->hash = hash;
    s->nlabels = (uint32_t)n;
    s->labels = xmalloc(n * sizeof(label_t));
    for (size_t i = 0; i < n; i++) {
        s->labels[i].name = symtab_intern(&h->syms, ls[i].name, ls[i].name_len);
        s->labels[i].value = symtab_intern(&h->syms, ls[i].value, ls[i].value_len);
        s->labels[i].name_len = ls[i].name_len;
        s->labels[i].value_len = ls[i].value_len;
    }
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->wal_logged, false);
    if (ref == 0) {
        s->ref = atomic_fetch_add(&h->next_ref, 1);
    } else {
        s->ref = ref;
        uint64_t cur = atomic_load(&h->next_ref);
        while (cur <= ref && !atomic_compare_exchange_weak(&h->next_ref, &cur, ref + 1)) {
        }
    }
    atomic_fetch_add(&h->mem, (int64_t)(sizeof(*s) + n * sizeof(label_t)));
    atomic_fetch_add(&h->nseries, 1);
    stripe_insert(h, st, s);
    index_add(&h->index, s);
    *created = true;
    pthread_rwlock_unlock(&st->lock);
    return s;
}

void head_each(head_t *h, void (*fn)(series_t *s, void *arg), void *arg)
{
    for (size_t i = 0; i < HEAD_STRIPES; i++) {
        stripe_t *st = &h->stripes[i];
        pthread_rwlock_rdlock(&st->lock);
        for (size_t b = 0; b < st->nbuckets; b++)
            for (series_t *s = st->buckets[b]; s; s = s->next) fn(s, arg);
        pthread_rwlock_unlock(&st->lock);
    }
}

/* Visits every series under its stripe's write lock and its own mutex; keep() trims it and
 * returns how many chunks it still holds; a series left with none is unlinked and freed. */
static void head_sweep(head_t *h, uint32_t (*keep)(head_t *h, series_t *s, void *arg), void *arg)
{
    for (size_t i = 0; i < HEAD_STRIPES; i++) {
        stripe_t *st = &h->stripes[i];
        pthread_rwlock_wrlock(&st->lock);
        for (size_t b = 0; b < st->nbuckets; b++) {
            series_t **pp = &st->buckets[b];
            while (*pp) {
                series_t *s = *pp;
                pthread_mutex_lock(&s->mu);
                uint32_t left = keep(h, s, arg);
                pthread_mutex_unlock(&s->mu);
                if (left == 0) {
                    *pp = s->next;
                    st->n--;
                    index_remove(&h->index, s);
                    series_free(h, s);
                } else {
                    pp = &s->next;
                }
            }
        }
        pthread_rwlock_unlock(&st->lock);
    }
}

static uint32_t gc_keep(head_t *h, series_t *s, void *arg)
{
    return series_drop_before(s, *(const int64_t *)arg, &h->mem, &h->nchunks);
}

void head_gc(head_t *h, int64_t cutoff) { head_sweep(h, gc_keep, &cutoff); }

typedef struct truncate_arg {
    int64_t T, oldest;
} truncate_arg_t;

static uint32_t truncate_keep(head_t *h, series_t *s, void *arg)
{
    truncate_arg_t *ta = arg;
    uint32_t left = s->cut_dirty ? s->nchunks : series_truncate_before(s, ta->T, &h->mem, &h->nchunks);
    if (left && s->chunks[0].mint < ta->oldest) ta->oldest = s->chunks[0].mint;
    return left;
}

int64_t head_truncate(head_t *h, int64_t T)
{
    truncate_arg_t ta = {T, INT64_MAX};
    head_sweep(h, truncate_keep, &ta);
    return ta.oldest;
}
