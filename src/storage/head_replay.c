/* head_replay.c owns rebuilding the head and metadata from the WAL at db_open: series records
 * recreate series under their logged refs (a replay-local ref map resolves them), samples are
 * applied with the retention filter, metadata is last-write-wins. Samples that a completed
 * block cut already stored in blocks (older than its boundary, in a segment before its WAL
 * mark; docs/format/block.md) are skipped.
 *
 * Speed: encoding samples into head chunks is most of the replay's CPU, so the thread reading
 * the WAL only decodes records, resolves refs and filters; it hands (series, t, value) triples
 * in batches to worker threads sharded by series ref (one worker per CPU, capped), which append
 * them. A series' samples all go to one worker in WAL order, so the result equals a
 * single-threaded replay. Batches are copies: nothing points into the WAL read buffer. */
#include "storage/db_internal.h"
#include "storage/record.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/status.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ref_entry {
    uint64_t k; /* 0: empty slot */
    series_t *v;
} ref_entry_t;

typedef struct refmap {
    ref_entry_t *e; /* key and value side by side: one cache miss per lookup */
    size_t cap, n;
} refmap_t;

/* Where probing for ref starts. */
static size_t ref_slot_start(const refmap_t *m, uint64_t ref)
{
    return (size_t)(ref * 0x9E3779B97F4A7C15ull >> 20) & (m->cap - 1);
}

static size_t ref_slot(const refmap_t *m, uint64_t ref)
{
    size_t mask = m->cap - 1, i = ref_slot_start(m, ref);
    while (m->e[i].k && m->e[i].k != ref) i = (i + 1) & mask;
    return i;
}

static void refmap_put(refmap_t *m, uint64_t ref, series_t *s)
{
    if ((m->n + 1) * 2 > m->cap) {
        refmap_t nm = {0};
        nm.cap = m->cap ? m->cap * 2 : 1024;
        nm.e = xcalloc(nm.cap, sizeof(ref_entry_t));
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].k) {
                nm.e[ref_slot(&nm, m->e[i].k)] = m->e[i];
                nm.n++;
            }
        free(m->e);
        *m = nm;
    }
    size_t i = ref_slot(m, ref);
    if (!m->e[i].k) m->n++;
    m->e[i] = (ref_entry_t){ref, s};
}

static series_t *refmap_get(const refmap_t *m, uint64_t ref)
{
    if (!m->cap) return NULL;
    size_t i = ref_slot(m, ref);
    return m->e[i].k ? m->e[i].v : NULL;
}

/* ---- sample application: batches handed to workers sharded by series ref ---- */

#define APPLY_BATCH 16384  /* samples per hand-off (24 bytes each) */
#define APPLY_QUEUED 4     /* full batches a worker may have waiting before the reader blocks */
#define APPLY_MAX_WORKERS 8

typedef struct apply_sample {
    series_t *s;
    int64_t t;
    uint64_t v;
} apply_sample_t;

typedef struct apply_batch {
    apply_sample_t *v;
    size_t n;
    struct apply_batch *next;
} apply_batch_t;

typedef struct apply_worker {
    head_t *h;
    pthread_t thr;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* queue changed (either direction) */
    apply_batch_t *qhead, *qtail; /* full batches, oldest first */
    size_t queued;
    apply_batch_t *spare;       /* applied batches for the reader to refill */
    bool closing;
    apply_batch_t *cur;         /* being filled by the reader (reader-owned) */
} apply_worker_t;

/* Index of the first sample after the run of samples of v[i].s starting at i. */
static size_t run_end(const apply_sample_t *v, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && v[j].s == v[i].s) j++;
    return j;
}

/* Appends a batch; consecutive samples of one series (a run) share one lock hold. The series
 * are scattered over the heap and each run touches a cold series, its chunk array and its open
 * chunk's tail (replay was bound by those cache misses), so later runs' memory is prefetched
 * in a pipeline while this run is encoded, each stage needing only what the previous one
 * fetched a run earlier: the series struct three runs ahead, its open chunk's struct two runs
 * ahead, that chunk's tail bytes one run ahead. */
static void apply_run(head_t *h, const apply_sample_t *v, size_t n)
{
    size_t r[4]; /* starts of this run and the next three (n: none) */
    r[0] = 0;
    for (int k = 1; k < 4; k++) r[k] = r[k - 1] < n ? run_end(v, n, r[k - 1]) : n;
    for (int k = 1; k < 4; k++)
        if (r[k] < n) __builtin_prefetch(v[r[k]].s, 1);
    while (r[0] < n) {
        series_t *s = v[r[0]].s;
        if (r[3] < n) __builtin_prefetch(v[r[3]].s, 1);
        if (r[2] < n) {
            const series_t *ns = v[r[2]].s;
            if (ns->nchunks) __builtin_prefetch(&ns->chunks[ns->nchunks - 1], 1);
        }
        if (r[1] < n) {
            const series_t *ns = v[r[1]].s;
            if (ns->nchunks) {
                const xor_chunk_t *oc = &ns->chunks[ns->nchunks - 1];
                if (oc->b) __builtin_prefetch(oc->b + (oc->nbits >> 3), 1);
            }
        }
        pthread_mutex_lock(&s->mu);
        for (size_t i = r[0]; i < r[1]; i++) series_append(s, v[i].t, v[i].v, &h->mem, &h->nchunks);
        pthread_mutex_unlock(&s->mu);
        r[0] = r[1];
        r[1] = r[2];
        r[2] = r[3];
        r[3] = r[3] < n ? run_end(v, n, r[3]) : n;
    }
}

static void *apply_main(void *arg)
{
    apply_worker_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->qhead && !w->closing) pthread_cond_wait(&w->cv, &w->mu);
        apply_batch_t *b = w->qhead;
        if (!b) break; /* closing and drained */
        w->qhead = b->next;
        if (!w->qhead) w->qtail = NULL;
        w->queued--;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        apply_run(w->h, b->v, b->n);
        b->n = 0;
        pthread_mutex_lock(&w->mu);
        b->next = w->spare;
        w->spare = b;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

typedef struct applier {
    head_t *h;
    size_t nw; /* 0: apply inline on the reader thread */
    apply_worker_t w[APPLY_MAX_WORKERS];
} applier_t;

static void applier_start(applier_t *a, head_t *h)
{
    memset(a, 0, sizeof(*a));
    a->h = h;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 2) return;
    size_t nw = cpus > APPLY_MAX_WORKERS ? APPLY_MAX_WORKERS : (size_t)cpus;
    for (size_t i = 0; i < nw; i++) {
        apply_worker_t *w = &a->w[i];
        w->h = h;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        if (pthread_create(&w->thr, NULL, apply_main, w) != 0) {
            pthread_mutex_destroy(&w->mu);
            pthread_cond_destroy(&w->cv);
            break; /* fewer workers (maybe none): still correct */
        }
        w->started = true;
        a->nw = i + 1;
    }
}

/* Hands w's current batch to its thread, waiting while too many are queued. */
static void applier_push(apply_worker_t *w)
{
    apply_batch_t *b = w->cur;
    w->cur = NULL;
    if (!b || b->n == 0) {
        w->cur = b;
        return;
    }
    b->next = NULL;
    pthread_mutex_lock(&w->mu);
    while (w->queued >= APPLY_QUEUED) pthread_cond_wait(&w->cv, &w->mu);
    if (w->qtail) w->qtail->next = b;
    else w->qhead = b;
    w->qtail = b;
    w->queued++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* The worker that owns series s (NULL: apply inline). Chosen by the series' address, which
 * never changes (its ref may) and needs no load of the series' cold cache line. */
static apply_worker_t *applier_worker(applier_t *a, const series_t *s)
{
    if (a->nw == 0) return NULL;
    return &a->w[(size_t)(((uint64_t)(uintptr_t)s * 0x9E3779B97F4A7C15ull) >> 32) % a->nw];
}

static void applier_add(applier_t *a, apply_worker_t *w, series_t *s, int64_t t, uint64_t v)
{
    if (!w) {
        pthread_mutex_lock(&s->mu);
        series_append(s, t, v, &a->h->mem, &a->h->nchunks);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    if (!w->cur) {
        pthread_mutex_lock(&w->mu);
        w->cur = w->spare;
        if (w->cur) w->spare = w->cur->next;
        pthread_mutex_unlock(&w->mu);
        if (!w->cur) {
            w->cur = xcalloc(1, sizeof(apply_batch_t));
            w->cur->v = xmalloc(APPLY_BATCH * sizeof(apply_sample_t));
        }
    }
    w->cur->v[w->cur->n++] = (apply_sample_t){s, t, v};
    if (w->cur->n == APPLY_BATCH) applier_push(w);
}

static void batch_list_free(apply_batch_t *b)
{
    while (b) {
        apply_batch_t *nx = b->next;
        free(b->v);
        free(b);
        b = nx;
    }
}

/* Flushes every partial batch, waits until all are applied and stops the workers. */
static void applier_finish(applier_t *a)
{
    for (size_t i = 0; i < a->nw; i++) applier_push(&a->w[i]);
    for (size_t i = 0; i < a->nw; i++) {
        apply_worker_t *w = &a->w[i];
        pthread_mutex_lock(&w->mu);
        w->closing = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    for (size_t i = 0; i < a->nw; i++) {
        apply_worker_t *w = &a->w[i];
        pthread_join(w->thr, NULL);
        batch_list_free(w->spare);
        batch_list_free(w->cur);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    a->nw = 0;
}

typedef struct replay_ctx {
    db_t *db;
    applier_t apply;
    refmap_t refs;
    rec_scratch_t sc;
    int64_t oldest;
    uint64_t unknown_refs, too_old, samples, ref_conflicts, in_blocks;
    int64_t mint, maxt;
} replay_ctx_t;

static void bump_next_ref(head_t *h, uint64_t ref)
{
    if (ref >= UINT64_MAX - 1) return;
    uint64_t cur = atomic_load(&h->next_ref);
    while (cur <= ref && !atomic_compare_exchange_weak(&h->next_ref, &cur, ref + 1)) {
    }
}

/* Gives s another ref. The head's postings are ordered by ref, so s leaves the index under the
 * old one and enters it under the new one. Replay pass 0 only (no reader, no appender). */
static void set_ref(head_t *h, series_t *s, uint64_t ref)
{
    if (s->ref == ref) return;
    index_remove(&h->index, s);
    s->ref = ref;
    index_add(&h->index, s);
}

static int on_record(void *arg, int pass, uint8_t type, const uint8_t *p, size_t n, int64_t *maxt)
{
    replay_ctx_t *c = arg;
    db_t *db = c->db;
    head_t *h = &db->head;
    if (type == REC_SERIES) {
        if (record_decode_series(p, n, &c->sc) != MS_OK) return MS_ECORRUPT;
        if (pass != 0) return MS_OK;
        for (size_t i = 0; i < c->sc.nseries; i++) {
            const rec_series_t *rs = &c->sc.series[i];
            const label_t *ls = &c->sc.labels[rs->first];
            series_t *prev = refmap_get(&c->refs, rs->ref);
            if (prev) {
                /* a ref names one label set forever; anything else is damage */
                if (!labels_equal(prev->labels, prev->nlabels, ls, rs->n)) c->ref_conflicts++;
                else set_ref(h, prev, rs->ref); /* the newest record wins (see below) */
                continue;
            }
            bool created;
            series_t *s = head_get_or_create(h, ls, rs->n, labels_hash(ls, rs->n), rs->ref, &created);
            /* A label set logged under several refs had several lives (a cut dropped it, an
             * append created it again under a new ref). The newest record names the current
             * life: take its ref, so the next cut re-logs that one. Keeping the first ref made
             * the cut re-log only the old ref and delete the segment holding the new ref's
             * record while later segments still held samples under it; the next replay
             * dropped them as unknown refs (acknowledged samples lost). Samples under the
             * older refs are all in blocks (the series was dropped only after its cut). */
            if (!created) set_ref(h, s, rs->ref);
            atomic_store(&s->wal_logged, true);
            refmap_put(&c->refs, rs->ref, s);
            bump_next_ref(h, rs->ref);
        }
        return MS_OK;
    }
    if (type == REC_METADATA) {
        if (record_decode_metadata(p, n, &c->sc) != MS_OK) return MS_ECORRUPT;
        if (pass != 0) return MS_OK;
        for (size_t i = 0; i < c->sc.nmeta; i++) {
            const rec_meta_t *m = &c->sc.meta[i];
            db_meta_set(db, m->s[0], m->len[0], m->s[1], m->len[1], m->s[2], m->len[2], m->s[3], m->len[3]);
        }
        return MS_OK;
    }
    /* REC_SAMPLES: applied in pass 1, once every series record is known */
    if (pass != 1) return MS_OK;
    if (record_decode_samples(p, n, &c->sc) != MS_OK) return MS_ECORRUPT;
    int64_t in_blocks_below = wal_replaying_segment(db->wal) < db->cut_wal_seg ? db->cut_T : INT64_MIN;
    /* Runs of one ref (a group of the record). Looking up each run's ref is a cache miss into
     * the ref map, so the slot of the run RUN_AHEAD runs later is fetched while this one is
     * handed off. */
    enum { RUN_AHEAD = 6 };
    const rec_sample_t *v = c->sc.samples;
    size_t ns = c->sc.nsamples;
    size_t ahead = 0; /* start of the run whose slot was fetched last */
    for (int k = 0; k < RUN_AHEAD && ahead < ns && c->refs.cap; k++) {
        __builtin_prefetch(&c->refs.e[ref_slot_start(&c->refs, v[ahead].ref)]);
        uint64_t r = v[ahead].ref;
        while (ahead < ns && v[ahead].ref == r) ahead++;
    }
    size_t i = 0;
    while (i < ns) {
        uint64_t cur = v[i].ref;
        size_t end = i + 1;
        while (end < ns && v[end].ref == cur) end++;
        if (ahead < ns && c->refs.cap) {
            __builtin_prefetch(&c->refs.e[ref_slot_start(&c->refs, v[ahead].ref)]);
            uint64_t r = v[ahead].ref;
            while (ahead < ns && v[ahead].ref == r) ahead++;
        }
        bump_next_ref(h, cur);
        series_t *s = refmap_get(&c->refs, cur);
        for (size_t j = i; j < end; j++)
            if (v[j].t > *maxt) *maxt = v[j].t;
        if (!s) {
            c->unknown_refs += end - i;
            i = end;
            continue;
        }
        apply_worker_t *w = applier_worker(&c->apply, s); /* by series, not by the record's ref:
                                                            * one worker per series across its refs */
        for (; i < end; i++) {
            const rec_sample_t *rs = &v[i];
            if (rs->t < c->oldest) {
                c->too_old++;
                continue;
            }
            if (rs->t < in_blocks_below) {
                c->in_blocks++;
                continue;
            }
            applier_add(&c->apply, w, s, rs->t, rs->vbits);
            if (rs->t < c->mint) c->mint = rs->t;
            if (rs->t > c->maxt) c->maxt = rs->t;
            c->samples++;
        }
    }
    return MS_OK;
}

int head_replay(db_t *db)
{
    int64_t t0 = clock_mono_ns();
    replay_ctx_t c = {.db = db, .mint = INT64_MAX, .maxt = INT64_MIN};
    c.oldest = db->opts.retention_ms > 0 ? clock_now_ms() - db->opts.retention_ms : INT64_MIN;
    wal_replay_stats_t st;
    applier_start(&c.apply, &db->head);
    int rc = wal_replay(db->wal, on_record, &c, &st);
    applier_finish(&c.apply); /* every handed-off sample is in the head before anything else */
    if (c.ref_conflicts) log_warn("wal replay: %llu series records reuse a ref with other labels; ignored",
                                  (unsigned long long)c.ref_conflicts);
    if (c.unknown_refs) log_warn("wal replay: %llu samples for unknown series refs dropped",
                                 (unsigned long long)c.unknown_refs);
    db->replay_records = st.records;
    db->replay_corrupt = st.corrupt;
    db->replay_ms = (uint64_t)((clock_mono_ns() - t0) / 1000000);
    /* series that only ever had dropped samples hold no chunks: drop them now */
    head_gc(&db->head, c.oldest);
    if (c.samples) db_note_samples(db, c.mint, c.maxt);
    log_info("wal replay: %llu records, %llu samples, %llu already in blocks, %llu too old, %llu corrupt, "
             "%llu torn, %llu ms",
             (unsigned long long)st.records, (unsigned long long)c.samples, (unsigned long long)c.in_blocks,
             (unsigned long long)c.too_old,
             (unsigned long long)st.corrupt, (unsigned long long)st.torn, (unsigned long long)db->replay_ms);
    free(c.refs.e);
    record_scratch_free(&c.sc);
    return rc;
}
