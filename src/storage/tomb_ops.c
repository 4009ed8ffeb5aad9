/* tomb_ops.c owns deletion on a db: db_delete_series (resolving matchers to series through a
 * querier over head and blocks and recording their deleted intervals as tombstones) and
 * db_clean_tombstones (rewriting every block that holds tombstoned samples without them, then
 * forgetting intervals that no longer cover stored data, in the head or in a WAL that replay
 * could bring back). Both run under db->cut_mu, so they are serialised with each other, with
 * block cuts and retention; cleaning also holds db->compact_mu, so no merge runs meanwhile, and
 * the block list cannot change under it.
 * Design and crash argument: docs/format/tombstones.md. */
#include "storage/db_internal.h"
#include "storage/reader.h"
#include "storage/tombstones.h"
#include "util/alloc.h"
#include "util/fio.h"
#include "util/log.h"
#include "util/status.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Does the head hold a sample of the series ls inside [mint, maxt]? Caller holds the gc lock. */
static bool head_has(db_t *db, const label_t *ls, size_t n, uint64_t hash, int64_t mint, int64_t maxt)
{
    series_t *s = head_get(&db->head, ls, n, hash);
    if (!s) return false;
    pthread_mutex_lock(&s->mu);
    bool r = series_has_data(s, mint, maxt);
    pthread_mutex_unlock(&s->mu);
    return r;
}

int db_delete_series(db_t *db, const matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt,
                     uint64_t *nseries)
{
    if (nseries) *nseries = 0;
    if (!db || !ms || n == 0 || mint > maxt) return MS_EINVAL;
    pthread_mutex_lock(&db->cut_mu);
    querier_t *q = NULL;
    series_set_t *set = NULL;
    int rc = db_querier(db, mint, maxt, &q);
    if (rc == MS_OK) rc = querier_select(q, ms, n, &set);
    tomb_add_t *adds = NULL;
    size_t nadd = 0;
    uint32_t mark_now = wal_open_segment_idx(db->wal);
    sample_vec_t sv = {0};
    size_t len = series_set_len(set);
    if (rc == MS_OK && len) adds = xmalloc(len * sizeof(*adds));
    for (size_t i = 0; rc == MS_OK && i < len; i++) {
        sv.n = 0;
        rc = series_set_samples(set, i, mint, maxt, &sv);
        if (rc != MS_OK || sv.n == 0) continue; /* nothing (left) to delete in range */
        labels_t ls = series_set_labels(set, i);
        uint64_t h = labels_hash(ls.v, ls.n);
        /* clamp to the data, as Prometheus does, so later samples of the series stay visible */
        int64_t a = sv.v[0].t, b = sv.v[sv.n - 1].t;
        uint32_t mark = head_has(db, ls.v, ls.n, h, a, b) ? mark_now : 0;
        adds[nadd++] = (tomb_add_t){ls.v, ls.n, h, a, b, mark};
    }
    sample_vec_free(&sv);
    if (rc == MS_OK && nadd) rc = tomb_add(db->tomb, adds, nadd);
    if (rc == MS_OK) {
        if (nseries) *nseries = nadd;
        if (nadd) log_info("delete_series: %zu series got tombstones in [%lld, %lld]", nadd, (long long)mint,
                           (long long)maxt);
    }
    free(adds);
    series_set_free(set);
    querier_close(q);
    pthread_mutex_unlock(&db->cut_mu);
    return rc;
}

/* ---- cleaning ---- */

/* The lowest WAL segment number on disk (segments are numbered from 1 and named by 8 decimal
 * digits, docs/format/wal.md); false when the directory cannot be read (then every marked
 * interval is kept). */
static bool wal_oldest_segment(db_t *db, uint32_t *out)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/wal", db->data_dir);
    DIR *d = opendir(dir);
    if (!d) return false;
    uint32_t lo = UINT32_MAX;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 8 || strspn(e->d_name, "0123456789") != 8) continue;
        uint32_t x = (uint32_t)strtoul(e->d_name, NULL, 10);
        if (x < lo) lo = x;
    }
    closedir(d);
    *out = lo == UINT32_MAX ? wal_open_segment_idx(db->wal) : lo;
    return true;
}

static int rs_label_cmp(const void *a, const void *b)
{
    const reader_series_t *x = a, *y = b;
    return labels_cmp(x->labels.v, x->labels.n, y->labels.v, y->labels.n);
}

/* Every series of a block view, in label order. */
static void view_all(block_view_t *v, const matcher_t *all, int64_t mint, int64_t maxt, rs_vec_t *out)
{
    const matcher_t *ms[1] = {all};
    block_reader_ops.select(v, ms, 1, mint, maxt, out);
    if (out->n > 1) qsort(out->v, out->n, sizeof(*out->v), rs_label_cmp);
}

static bool snap_touches(const tomb_snap_t *s, int64_t mint, int64_t maxt)
{
    for (size_t i = 0; i < tomb_snap_len(s); i++)
        if (tomb_ent_overlaps(tomb_snap_at(s, i), mint, maxt)) return true;
    return false;
}

/* Does block b hold a sample inside a deleted interval? */
static bool block_needs_rewrite(block_t *b, const tomb_snap_t *s, const matcher_t *all, sample_vec_t *sv)
{
    const block_meta_t *m = block_meta(b);
    if (!snap_touches(s, m->mint, m->maxt)) return false;
    block_view_t *v = block_view_new(b);
    rs_vec_t rs = {0};
    view_all(v, all, m->mint, m->maxt, &rs);
    bool hit = false;
    for (size_t i = 0; i < rs.n && !hit; i++) {
        const tomb_ent_t *e = tomb_snap_find(s, rs.v[i].labels.v, rs.v[i].labels.n,
                                             labels_hash(rs.v[i].labels.v, rs.v[i].labels.n));
        if (!e || !tomb_ent_overlaps(e, m->mint, m->maxt)) continue;
        sv->n = 0;
        block_reader_ops.samples(v, rs.v[i].h, m->mint, m->maxt, sv);
        hit = tomb_ent_filter(e, sv, 0) > 0;
    }
    free(rs.v);
    block_view_free(v);
    return hit;
}

/* Writes a copy of b without tombstoned samples into *out (NULL when nothing is left; then the
 * block's data is all deleted). Caller holds cut_mu (which owns next_block_seq). */
static int block_rewrite(db_t *db, block_t *b, const tomb_snap_t *s, const matcher_t *all, sample_vec_t *sv,
                         block_t **out, uint64_t *removed)
{
    *out = NULL;
    const block_meta_t *m = block_meta(b);
    block_writer_t *w;
    int rc = block_writer_open(db->blocks_dir, db->next_block_seq++, db->opts.block_zstd_level,
                               db->opts.wal_fsync != WAL_FSYNC_NEVER, &w);
    if (rc != MS_OK) return rc;
    block_view_t *v = block_view_new(b);
    rs_vec_t rs = {0};
    view_all(v, all, INT64_MIN, INT64_MAX, &rs);
    for (size_t i = 0; i < rs.n && rc == MS_OK; i++) {
        sv->n = 0;
        block_reader_ops.samples(v, rs.v[i].h, m->mint, m->maxt, sv);
        const tomb_ent_t *e = tomb_snap_find(s, rs.v[i].labels.v, rs.v[i].labels.n,
                                             labels_hash(rs.v[i].labels.v, rs.v[i].labels.n));
        if (e) *removed += tomb_ent_filter(e, sv, 0);
        if (sv->n) rc = block_writer_add(w, rs.v[i].labels.v, rs.v[i].labels.n, sv->v, sv->n);
    }
    uint64_t errs = block_view_errors(v);
    free(rs.v);
    block_view_free(v);
    if (rc == MS_OK && errs) {
        /* a rewrite would silently drop the unreadable parts: leave the block as it is */
        log_error("clean_tombstones: block %s has %llu unreadable parts; not rewritten", block_dir(b),
                  (unsigned long long)errs);
        rc = MS_ECORRUPT;
    }
    if (rc != MS_OK) {
        block_writer_abort(w);
        return rc;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", block_writer_final_dir(w));
    uint32_t seq = block_writer_seq(w);
    rc = block_writer_finish(w, NULL);
    if (rc == MS_ENOENT) return MS_OK; /* every sample deleted */
    if (rc != MS_OK) return rc;
    char err[PATH_MAX + 384];
    rc = block_open(dir, seq, out, err, sizeof(err));
    if (rc != MS_OK) {
        log_error("clean_tombstones: reopening a block just written failed: %s", err);
        block_rmdir(dir);
    }
    return rc;
}

static bool overlap(const block_meta_t *a, const block_meta_t *b)
{
    return a->mint <= b->maxt && b->mint <= a->maxt;
}

int db_clean_tombstones(db_t *db)
{
    if (!db) return MS_EINVAL;
    /* compact_mu: no merge may be reading blocks this rewrites (its output would bring back
     * what this deletes) */
    pthread_mutex_lock(&db->compact_mu);
    pthread_mutex_lock(&db->cut_mu);
    tomb_snap_t *s = tomb_snap_get(db->tomb);
    if (!s) {
        pthread_mutex_unlock(&db->cut_mu);
        pthread_mutex_unlock(&db->compact_mu);
        return MS_OK;
    }
    matcher_t *all = NULL;
    char merr[64];
    int rc = matcher_new(MATCH_RE, METRIC_NAME_LABEL, strlen(METRIC_NAME_LABEL), ".*", 2, &all, merr, sizeof(merr));
    sample_vec_t sv = {0};

    /* 1. which blocks to rewrite: those holding deleted samples, plus every block overlapping
     * one of them with a higher seq, so rewritten blocks (new, higher seqs) keep their order
     * of precedence on equal timestamps (the higher seq wins). The list is stable: cut_mu. */
    gclock_read_lock(&db->gc_lock);
    size_t nb = db->nblocks;
    block_t **old = xmalloc((nb ? nb : 1) * sizeof(*old));
    memcpy(old, db->blocks, nb * sizeof(*old)); /* sorted by seq */
    bool *mark = xcalloc(nb ? nb : 1, sizeof(bool));
    size_t nmark = 0;
    for (size_t i = 0; rc == MS_OK && i < nb; i++) {
        mark[i] = block_needs_rewrite(old[i], s, all, &sv);
        for (size_t j = 0; j < i && !mark[i]; j++)
            mark[i] = mark[j] && overlap(block_meta(old[j]), block_meta(old[i]));
        nmark += mark[i];
    }

    /* 2. write the replacements while queries and ingestion go on */
    block_t **repl = xcalloc(nb ? nb : 1, sizeof(*repl));
    uint64_t removed = 0, bytes_before = 0, bytes_after = 0;
    for (size_t i = 0; rc == MS_OK && i < nb; i++) {
        if (!mark[i]) continue;
        bytes_before += block_disk_bytes(old[i]);
        rc = block_rewrite(db, old[i], s, all, &sv, &repl[i], &removed);
        if (repl[i]) bytes_after += block_disk_bytes(repl[i]);
    }
    gclock_read_unlock(&db->gc_lock);

    /* 3. swap under the write lock (no querier holds the old blocks), then delete the old dirs.
     * A crash between the rename of a new block and the removal of its old one leaves both:
     * duplicates that readers merge, and the tombstones (still on disk) hide what they must. */
    if (rc != MS_OK) {
        for (size_t i = 0; i < nb; i++)
            if (repl[i]) {
                char dir[PATH_MAX];
                snprintf(dir, sizeof(dir), "%s", block_dir(repl[i]));
                block_close(repl[i]);
                block_rmdir(dir);
            }
    } else if (nmark) {
        gclock_write_lock(&db->gc_lock, 100);
        size_t k = 0;
        for (size_t i = 0; i < db->nblocks; i++) {
            block_t *b = db->blocks[i];
            size_t j = 0;
            while (j < nb && old[j] != b) j++;
            if (j < nb && mark[j]) {
                if (repl[j]) db->blocks[k++] = repl[j];
                continue;
            }
            db->blocks[k++] = b;
        }
        db->nblocks = k;
        /* replacements got increasing seqs in old-seq order: keep the list sorted by seq */
        for (size_t i = 1; i < db->nblocks; i++)
            for (size_t j = i; j > 0 && block_seq(db->blocks[j]) < block_seq(db->blocks[j - 1]); j--) {
                block_t *t = db->blocks[j];
                db->blocks[j] = db->blocks[j - 1];
                db->blocks[j - 1] = t;
            }
        gclock_write_unlock(&db->gc_lock);
        /* each old dir is first renamed to <seq>.tmp (which the loader deletes), so a crash in
         * the middle of removing its files never leaves a half block behind */
        for (size_t i = 0; i < nb; i++) {
            if (!mark[i]) continue;
            char dir[PATH_MAX], gone[PATH_MAX + 8];
            snprintf(dir, sizeof(dir), "%s", block_dir(old[i]));
            snprintf(gone, sizeof(gone), "%s/%08u.tmp", db->blocks_dir, block_seq(old[i]));
            block_close(old[i]);
            if (fio_rename(dir, gone) != MS_OK) {
                log_warn("clean_tombstones: renaming %s failed: %s", dir, strerror(errno));
                snprintf(gone, sizeof(gone), "%s", dir);
            }
            if (block_rmdir(gone) != MS_OK) log_warn("clean_tombstones: removing %s failed: %s", gone, strerror(errno));
        }
        /* the removals must be durable before tombstones that only they make unneeded go */
        if (db->opts.wal_fsync != WAL_FSYNC_NEVER && fio_fsync_dir(db->blocks_dir) != MS_OK) rc = MS_EIO;
    }

    /* 4. forget intervals that cover nothing stored: no block sample (all rewritten), no head
     * sample, and no WAL segment that could replay head samples seen inside them */
    size_t ne = tomb_snap_len(s), kept_iv = 0, total_iv = 0;
    if (rc == MS_OK) {
        uint32_t oldest = 0, now_seg = wal_open_segment_idx(db->wal);
        bool known = wal_oldest_segment(db, &oldest);
        tomb_ent_t *keep = xcalloc(ne ? ne : 1, sizeof(*keep));
        gclock_read_lock(&db->gc_lock);
        for (size_t i = 0; i < ne; i++) {
            const tomb_ent_t *e = tomb_snap_at(s, i);
            keep[i] = *e;
            keep[i].iv = xmalloc(e->niv * sizeof(tomb_iv_t));
            keep[i].niv = 0;
            for (size_t k = 0; k < e->niv; k++) {
                tomb_iv_t iv = e->iv[k];
                total_iv++;
                if (head_has(db, e->labels.v, e->labels.n, e->hash, iv.mint, iv.maxt)) iv.wal_mark = now_seg;
                else if (!iv.wal_mark || (known && oldest > iv.wal_mark)) continue; /* covers nothing */
                keep[i].iv[keep[i].niv++] = iv;
            }
            kept_iv += keep[i].niv;
        }
        gclock_read_unlock(&db->gc_lock);
        rc = tomb_replace(db->tomb, keep, ne);
        for (size_t i = 0; i < ne; i++) free(keep[i].iv);
        free(keep);
    }
    if (rc == MS_OK)
        log_info("clean_tombstones: %zu blocks rewritten (%llu -> %llu bytes, %llu samples removed), %zu of %zu "
                 "intervals kept",
                 nmark, (unsigned long long)bytes_before, (unsigned long long)bytes_after,
                 (unsigned long long)removed, kept_iv, total_iv);
    else
        log_error("clean_tombstones: failed: %s (tombstones kept)", ms_strerror(rc));
    free(repl);
    free(mark);
    free(old);
    sample_vec_free(&sv);
    matcher_free(all);
    tomb_snap_put(s);
    pthread_mutex_unlock(&db->cut_mu);
    pthread_mutex_unlock(&db->compact_mu);
    return rc;
}
