/* head_replay.c owns rebuilding the head and metadata from the WAL at db_open: series records
 * recreate series under their logged refs (a replay-local ref map resolves them), samples are
 * applied with the retention filter, metadata is last-write-wins. Samples that a completed
 * block cut already stored in blocks (older than its boundary, in a segment before its WAL
 * mark; docs/format/block.md) are skipped. */
#include "storage/db_internal.h"
#include "storage/record.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/status.h"
#include <stdlib.h>
#include <string.h>

typedef struct refmap {
    uint64_t *k;
    series_t **v;
    size_t cap, n;
} refmap_t;

static size_t ref_slot(const refmap_t *m, uint64_t ref)
{
    size_t mask = m->cap - 1, i = (size_t)(ref * 0x9E3779B97F4A7C15ull >> 20) & mask;
    while (m->k[i] && m->k[i] != ref) i = (i + 1) & mask;
    return i;
}

static void refmap_put(refmap_t *m, uint64_t ref, series_t *s)
{
    if ((m->n + 1) * 2 > m->cap) {
        refmap_t nm = {0};
        nm.cap = m->cap ? m->cap * 2 : 1024;
        nm.k = xcalloc(nm.cap, sizeof(uint64_t));
        nm.v = xcalloc(nm.cap, sizeof(series_t *));
        for (size_t i = 0; i < m->cap; i++)
            if (m->k[i]) {
                size_t j = ref_slot(&nm, m->k[i]);
                nm.k[j] = m->k[i];
                nm.v[j] = m->v[i];
                nm.n++;
            }
        free(m->k);
        free(m->v);
        *m = nm;
    }
    size_t i = ref_slot(m, ref);
    if (!m->k[i]) m->n++;
    m->k[i] = ref;
    m->v[i] = s;
}

static series_t *refmap_get(const refmap_t *m, uint64_t ref)
{
    if (!m->cap) return NULL;
    size_t i = ref_slot(m, ref);
    return m->k[i] ? m->v[i] : NULL;
}

typedef struct replay_ctx {
    db_t *db;
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
                continue;
            }
            bool created;
            series_t *s = head_get_or_create(h, ls, rs->n, labels_hash(ls, rs->n), rs->ref, &created);

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
    series_t *s = NULL;
    uint64_t cur = 0;
    int64_t in_blocks_below = wal_replaying_segment(db->wal) < db->cut_wal_seg ? db->cut_T : INT64_MIN;
    for (size_t i = 0; i < c->sc.nsamples; i++) {
        const rec_sample_t *rs = &c->sc.samples[i];
        if (rs->t > *maxt) *maxt = rs->t;
        if (rs->ref != cur || !s) {
            if (s) pthread_mutex_unlock(&s->mu);
            cur = rs->ref;
            bump_next_ref(h, cur);
            s = refmap_get(&c->refs, cur);
            if (!s) {
                c->unknown_refs++;
                continue;
            }
            pthread_mutex_lock(&s->mu);
        }
        if (rs->t < c->oldest) {
            c->too_old++;
            continue;
        }
        if (rs->t < in_blocks_below) {
            c->in_blocks++;
            continue;
        }
        series_append(s, rs->t, rs->vbits, &h->mem, &h->nchunks);
        if (rs->t < c->mint) c->mint = rs->t;
        if (rs->t > c->maxt) c->maxt = rs->t;
        c->samples++;
    }
    if (s) pthread_mutex_unlock(&s->mu);
    return MS_OK;
}

int head_replay(db_t *db)
{
    int64_t t0 = clock_mono_ns();
    replay_ctx_t c = {.db = db, .mint = INT64_MAX, .maxt = INT64_MIN};
    c.oldest = db->opts.retention_ms > 0 ? clock_now_ms() - db->opts.retention_ms : INT64_MIN;
    wal_replay_stats_t st;
    int rc = wal_replay(db->wal, on_record, &c, &st);
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
    free(c.refs.k);
    free(c.refs.v);
    record_scratch_free(&c.sc);
    return rc;
}
