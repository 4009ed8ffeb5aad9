/* eval_util.c owns the evaluator's label-set building (drop name, keep, delete, set), label
 * subset hashing for matching and grouping, duplicate-labelset detection, a small hash map and
 * the parallel-for used for series-parallel work. */
#include "promql/eval.h"
#include "util/hash.h"
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

bool str_in(const str_t *list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].len == len && memcmp(list[i].s, s, len) == 0) return true;
    return false;
}

bool labels_is_name(const label_t *l) { return l->name_len == 8 && memcmp(l->name, METRIC_NAME_LABEL, 8) == 0; }

labels_t lbl_drop_name(arena_t *a, labels_t m)
{
    /* __name__ usually sorts first: share the rest of the array instead of copying it */
    if (m.n && labels_is_name(&m.v[0])) return (labels_t){m.v + 1, m.n - 1};
    for (size_t i = 1; i < m.n; i++) {
        if (!labels_is_name(&m.v[i])) continue;
        labels_t r = {arena_alloc(a, (m.n ? m.n : 1) * sizeof(label_t)), m.n - 1};
        memcpy(r.v, m.v, i * sizeof(label_t));
        memcpy(r.v + i, m.v + i + 1, (m.n - i - 1) * sizeof(label_t));
        return r;
    }
    return m;
}

labels_t lbl_keep(arena_t *a, labels_t m, const str_t *names, size_t n)
{
    labels_t r = {arena_alloc(a, (m.n ? m.n : 1) * sizeof(label_t)), 0};
    for (size_t i = 0; i < m.n; i++)
        if (str_in(names, n, m.v[i].name, m.v[i].name_len)) r.v[r.n++] = m.v[i];
    return r;
}

labels_t lbl_del(arena_t *a, labels_t m, const str_t *names, size_t n, bool also_name)
{
    labels_t r = {arena_alloc(a, (m.n ? m.n : 1) * sizeof(label_t)), 0};
    for (size_t i = 0; i < m.n; i++) {
        if (also_name && labels_is_name(&m.v[i])) continue;
        if (str_in(names, n, m.v[i].name, m.v[i].name_len)) continue;
        r.v[r.n++] = m.v[i];
    }
    return r;
}

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

labels_t lbl_set(arena_t *a, labels_t m, const char *name, size_t nl, const char *val, size_t vl)
{
    labels_t r = {arena_alloc(a, (m.n + 1) * sizeof(label_t)), 0};
    bool done = false;
    for (size_t i = 0; i < m.n; i++) {
        int c = name_cmp(m.v[i].name, m.v[i].name_len, name, nl);
        if (!done && c >= 0) {
            if (vl) r.v[r.n++] = (label_t){name, val, (uint32_t)nl, (uint32_t)vl};
            done = true;
            if (c == 0) continue;
        }
        r.v[r.n++] = m.v[i];
    }
    if (!done && vl) r.v[r.n++] = (label_t){name, val, (uint32_t)nl, (uint32_t)vl};
    return r;
}

const char *lbl_get(labels_t m, const char *name, size_t nl, uint32_t *vl)
{
    for (size_t i = 0; i < m.n; i++)
        if (m.v[i].name_len == nl && memcmp(m.v[i].name, name, nl) == 0) {
            *vl = m.v[i].value_len;
            return m.v[i].value;
        }
    *vl = 0;
    return "";
}

uint64_t lbl_sig(ev_query_t *q, labels_t m, bool on, const str_t *names, size_t n)
{
    buf_reset(&q->hbuf);
    for (size_t i = 0; i < m.n; i++) {
        const label_t *l = &m.v[i];
        bool in = str_in(names, n, l->name, l->name_len);
        if (on ? !in : (in || labels_is_name(l))) continue;
        buf_append(&q->hbuf, l->name, l->name_len);
        buf_putc(&q->hbuf, (char)0xff);
        buf_append(&q->hbuf, l->value, l->value_len);
        buf_putc(&q->hbuf, (char)0xff);
    }
    return hash_bytes(q->hbuf.data ? (const void *)q->hbuf.data : "", q->hbuf.len);
}

/* Order-dependent mix of one-shot XXH3 hashes of names and values: much cheaper per call than
 * the streaming labels_hash, and only ever compared with itself inside the evaluator. */
uint64_t lbl_hash(labels_t m)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ m.n;
    for (size_t i = 0; i < m.n; i++) {
        h = (h ^ hash_bytes(m.v[i].name, m.v[i].name_len)) * 0xff51afd7ed558ccdULL;
        h = (h ^ hash_bytes(m.v[i].value, m.v[i].value_len)) * 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 29;
    }
    return h;
}

void hmap_init(hmap_t *h, arena_t *a, size_t max_entries)
{
    size_t cap = 8;
    while (cap < max_entries * 2) cap <<= 1;
    h->keys = arena_alloc(a, cap * sizeof(uint64_t));
    h->vals = arena_alloc(a, cap * sizeof(size_t));
    h->used = arena_calloc(a, cap, 1);
    h->mask = cap - 1;
}

size_t *hmap_put(hmap_t *h, uint64_t key, bool *found)
{
    size_t i = (size_t)(key ^ (key >> 29)) & h->mask;
    while (h->used[i]) {
        if (h->keys[i] == key) {
            *found = true;
            return &h->vals[i];
        }
        i = (i + 1) & h->mask;
    }
    h->used[i] = 1;
    h->keys[i] = key;
    h->vals[i] = 0;
    *found = false;
    return &h->vals[i];
}

size_t *hmap_get(const hmap_t *h, uint64_t key)
{
    size_t i = (size_t)(key ^ (key >> 29)) & h->mask;
    while (h->used[i]) {
        if (h->keys[i] == key) return &h->vals[i];
        i = (i + 1) & h->mask;
    }
    return NULL;
}

void vec_check_dups(ev_ctx_t *c, const ev_vec_t *v)
{
    if (v->n < 2) return;
    hmap_t h;
    hmap_init(&h, c->a, v->n);
    for (size_t i = 0; i < v->n; i++) {
        bool found;
        size_t *slot = hmap_put(&h, lbl_hash(v->s[i].metric), &found);
        if (found && labels_equal(v->s[*slot].metric.v, v->s[*slot].metric.n, v->s[i].metric.v, v->s[i].metric.n))
            ev_fail(c->q, PROMQL_ERR_EXECUTION, "vector cannot contain metrics with the same labelset");
        if (!found) *slot = i;
    }
}

bool label_name_valid(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (i > 0 && ch >= '0' && ch <= '9');
        if (!ok) return false;
    }
    return true;
}

/* ---- parallel for ---- */

typedef struct pfor {
    atomic_size_t next;
    size_t n, chunk;
    void (*fn)(void *arg, size_t i0, size_t i1);
    void *arg;
} pfor_t;

static void pfor_run(pfor_t *p)
{
    while (1) {
        size_t i0 = atomic_fetch_add(&p->next, p->chunk);
        if (i0 >= p->n) return;
        p->fn(p->arg, i0, i0 + p->chunk < p->n ? i0 + p->chunk : p->n);
    }
}

static void *pfor_thread(void *arg)
{
    pfor_run(arg);
    return NULL;
}

void ev_parallel_for(int nthreads, size_t n, size_t chunk, void (*fn)(void *arg, size_t i0, size_t i1), void *arg)
{
    if (chunk == 0) chunk = 1;
    size_t nchunks = (n + chunk - 1) / chunk;
    if (nthreads > EV_MAX_THREADS) nthreads = EV_MAX_THREADS;
    if ((size_t)nthreads > nchunks) nthreads = (int)nchunks;
    if (nthreads <= 1) {
        for (size_t i0 = 0; i0 < n; i0 += chunk) fn(arg, i0, i0 + chunk < n ? i0 + chunk : n);
        return;
    }
    pfor_t p = {0, n, chunk, fn, arg};
    pthread_t th[EV_MAX_THREADS];
    bool started[EV_MAX_THREADS] = {false};
    for (int w = 1; w < nthreads; w++) started[w] = pthread_create(&th[w], NULL, pfor_thread, &p) == 0;
    pfor_run(&p); /* the caller works too; chunks a thread failed to start for are taken here */
    for (int w = 1; w < nthreads; w++)
        if (started[w]) pthread_join(th[w], NULL);
}
