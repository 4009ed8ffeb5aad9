/* strmap.c owns the open-addressing (linear probing, backward-shift delete) string map. */
#include "storage/strmap.h"
#include "util/alloc.h"
#include <stdlib.h>
#include <string.h>

void strmap_free(strmap_t *m)
{
    free(m->e);
    m->e = NULL;
    m->cap = m->n = 0;
}

size_t strmap_bytes(const strmap_t *m) { return m->cap * sizeof(strmap_ent_t); }

static size_t find(const strmap_t *m, const char *k, size_t klen, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    for (;;) {
        const strmap_ent_t *e = &m->e[i];
        if (!e->k) return i;
        if (e->hash == h && e->klen == klen && memcmp(e->k, k, klen) == 0) return i;
        i = (i + 1) & mask;
    }
}

void *strmap_get(const strmap_t *m, const char *k, size_t klen, uint64_t h)
{
    if (!m->cap) return NULL;
    size_t i = find(m, k, klen, h);
    return m->e[i].k ? m->e[i].v : NULL;
}

static void grow(strmap_t *m)
{
    size_t nc = m->cap ? m->cap * 2 : 16;
    strmap_ent_t *old = m->e;
    size_t oc = m->cap;
    m->e = xcalloc(nc, sizeof(*m->e));
    m->cap = nc;
    for (size_t i = 0; i < oc; i++) {
        if (!old[i].k) continue;
        size_t j = (size_t)old[i].hash & (nc - 1);
        while (m->e[j].k) j = (j + 1) & (nc - 1);
        m->e[j] = old[i];
    }
    free(old);
}

void strmap_put(strmap_t *m, const char *k, size_t klen, uint64_t h, void *v)
{
    if ((m->n + 1) * 4 > m->cap * 3) grow(m);
    size_t i = find(m, k, klen, h);
    if (!m->e[i].k) m->n++;
    m->e[i] = (strmap_ent_t){h, k, klen, v};
}

void *strmap_del(strmap_t *m, const char *k, size_t klen, uint64_t h)
{
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1, i = find(m, k, klen, h);
    if (!m->e[i].k) return NULL;
    void *v = m->e[i].v;
    /* backward-shift: pull later entries of the probe run into the hole */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->e[j].k) break;
        size_t home = (size_t)m->e[j].hash & mask;
        /* move e[j] to i if its home is not cyclically in (i, j] */
        int in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            m->e[i] = m->e[j];
            i = j;
        }
    }
    m->e[i].k = NULL;
    m->e[i].v = NULL;
    m->n--;
    return v;
}
