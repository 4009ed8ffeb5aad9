/* blocks.c owns the db's set of on-disk blocks: loading them at open (deleting leftover tmp
 * dirs, reading the cut marker), cutting head samples older than the head window into blocks
 * and then truncating the head and the WAL, handing block readers to queriers, and deleting
 * blocks past retention. The cut protocol and its crash-safety argument are in
 * docs/format/block.md ("Cutting", "cut"). */
#include "storage/db_internal.h"
#include "storage/quarantine.h"
#include "storage/reader.h"
#include "util/alloc.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/log.h"
#include "util/status.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CUT_MARKER_LEN 24

static bool is_seq_name(const char *s, size_t len)
{
    if (len != 8) return false;
    for (size_t i = 0; i < 8; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

static int read_cut_marker(db_t *db)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/cut", db->blocks_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? MS_OK : MS_EIO;
    uint8_t b[CUT_MARKER_LEN + 1];
    ssize_t n = read(fd, b, sizeof(b));
    close(fd);
    cursor_t c;
    cursor_init(&c, b, n > 0 ? (size_t)n : 0);
    const uint8_t *magic = cursor_bytes(&c, 4);
    uint8_t ver = cursor_u8(&c);
    cursor_skip(&c, 3);
    uint32_t seg = cursor_u32le(&c);
    int64_t T = (int64_t)cursor_u64le(&c);
    uint32_t crc = cursor_u32le(&c);
    if (!cursor_ok(&c) || !cursor_done(&c) || memcmp(magic, "MSCT", 4) != 0 || ver != 1 || crc32c(0, b, 20) != crc) {
        /* without a trustworthy marker replay keeps every WAL sample: duplicates of block data
         * are harmless (readers dedupe), losing samples would not be */
        log_warn("blocks: %s is damaged; replaying the whole WAL", path);
        return MS_OK;
    }
    db->cut_wal_seg = seg;
    db->cut_T = T;
    return MS_OK;
}

static int write_cut_marker(db_t *db, uint32_t seg, int64_t T)
{
    buf_t b = BUF_INIT;
    buf_append(&b, "MSCT\1\0\0\0", 8);
    buf_put_u32le(&b, seg);
    buf_put_u64le(&b, (uint64_t)T);
    buf_put_u32le(&b, crc32c(0, b.data, b.len));
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/cut.tmp", db->blocks_dir);
    snprintf(path, sizeof(path), "%s/cut", db->blocks_dir);
    int rc = MS_OK;
    bool sync = db->opts.wal_fsync != WAL_FSYNC_NEVER;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || (sync && fsync(fd) != 0)) rc = MS_EIO;
    if (fd >= 0) close(fd);
    if (rc == MS_OK && rename(tmp, path) != 0) rc = MS_EIO;
    if (rc == MS_OK && sync) {
        int dfd = open(db->blocks_dir, O_RDONLY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0) rc = MS_EIO;
        if (dfd >= 0) close(dfd);
    }
    buf_free(&b);
    if (rc != MS_OK) log_error("blocks: writing %s failed: %s", path, strerror(errno));
    return rc;
}

static int block_ptr_cmp(const void *a, const void *b)
{
    uint32_t x = block_seq(*(block_t *const *)a), y = block_seq(*(block_t *const *)b);
    return x < y ? -1 : x > y;
}

static void blocks_push(db_t *db, block_t *b)
{
    if (db->nblocks == db->capblocks) XGROW(db->blocks, db->capblocks, db->nblocks + 1);
    db->blocks[db->nblocks++] = b;
}

int blocks_load(db_t *db, char *err, size_t err_len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/blocks", db->data_dir);
    db->blocks_dir = xstrdup(path);
    db->next_block_seq = 1;
    db->cut_T = INT64_MIN;
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "mkdir %s: %s", path, strerror(errno));
        return MS_EIO;
    }
    DIR *d = opendir(path);
    if (!d) {
        snprintf(err, err_len, "opendir %s: %s", path, strerror(errno));
        return MS_EIO;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char sub[PATH_MAX + 256];
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (len == 12 && is_seq_name(e->d_name, 8) && !strcmp(e->d_name + 8, ".tmp")) {
            log_info("blocks: removing unfinished block %s", sub);
            block_rmdir(sub);
            uint32_t seq = (uint32_t)strtoul(e->d_name, NULL, 10);
            if (seq >= db->next_block_seq) db->next_block_seq = seq + 1;
            continue;
        }
        if (!is_seq_name(e->d_name, len)) continue;
        uint32_t seq = (uint32_t)strtoul(e->d_name, NULL, 10);
        if (seq >= db->next_block_seq) db->next_block_seq = seq + 1;
        block_t *b;
        char berr[PATH_MAX + 512];
        int brc = block_open(sub, seq, &b, berr, sizeof(berr));
        if (brc != MS_OK) {
            quarantine_block(db->data_dir, sub, brc, berr); /* corrupt: moved aside; else left; skipped */
            continue;
        }
        blocks_push(db, b);
    }
    closedir(d);
    if (db->nblocks > 1) qsort(db->blocks, db->nblocks, sizeof(block_t *), block_ptr_cmp);
    compact_cleanup_parents(db);
    int rc = read_cut_marker(db);
    db->compact_upto = db->cut_T;
    if (rc != MS_OK) snprintf(err, err_len, "reading %s/cut failed", path);
    if (db->nblocks) log_info("blocks: %zu blocks loaded", db->nblocks);
    return rc;
}

void blocks_close_all(db_t *db)
{
    for (size_t i = 0; i < db->nblocks; i++) block_close(db->blocks[i]);
    free(db->blocks);
    db->blocks = NULL;
    db->nblocks = db->capblocks = 0;
    free(db->blocks_dir);
    db->blocks_dir = NULL;
}

static void view_free(void *v) { block_view_free(v); }

void blocks_add_readers(db_t *db, querier_t *q, int64_t mint, int64_t maxt)
{
    for (size_t i = 0; i < db->nblocks; i++) {
        const block_meta_t *m = block_meta(db->blocks[i]);
        if (m->maxt < mint || m->mint > maxt) continue;
        querier_add_reader_owned(q, &block_reader_ops, block_view_new(db->blocks[i]), view_free);
    }
}

int blocks_remove_dir(const char *dir)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", dir);
    if (rename(dir, tmp) != 0) return block_rmdir(dir);
    return block_rmdir(tmp);
}

void blocks_apply_retention(db_t *db, int64_t cutoff)
{
    uint64_t total = 0;
    for (size_t i = 0; i < db->nblocks; i++) total += block_disk_bytes(db->blocks[i]);
    /* by size: raise the cutoff past the oldest blocks until the rest fits */
    if (db->opts.retention_bytes > 0 && total > (uint64_t)db->opts.retention_bytes) {
        size_t n = db->nblocks;
        block_t **byt = xmalloc(n * sizeof(block_t *));
        memcpy(byt, db->blocks, n * sizeof(block_t *));
        for (size_t i = 1; i < n; i++) /* insertion sort by maxt: block counts are small */
            for (size_t j = i; j > 0 && block_meta(byt[j])->maxt < block_meta(byt[j - 1])->maxt; j--) {
                block_t *t = byt[j];
                byt[j] = byt[j - 1];
                byt[j - 1] = t;
            }
        for (size_t i = 0; i < n && total > (uint64_t)db->opts.retention_bytes; i++) {
            total -= block_disk_bytes(byt[i]);
            if (block_meta(byt[i])->maxt >= cutoff) cutoff = block_meta(byt[i])->maxt + 1;
        }
        free(byt);
    }
    size_t k = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        block_t *b = db->blocks[i];
        if (block_meta(b)->maxt < cutoff && !compact_is_input(db, b)) { /* a merge's: next round */
            char dir[PATH_MAX];
            snprintf(dir, sizeof(dir), "%s", block_dir(b));
            block_close(b);
            if (blocks_remove_dir(dir) != MS_OK) log_warn("retention: removing block %s failed: %s", dir, strerror(errno));
            else log_info("retention: deleted block %s", dir);
            continue;
        }
        db->blocks[k++] = b;
    }
    db->nblocks = k;
}

/* ---- cutting ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

typedef struct cut_series {
    series_t **v;
    size_t n, cap;
    int64_t T;
} cut_series_t;

static void collect_fn(series_t *s, void *arg)
{
    cut_series_t *c = arg;
    pthread_mutex_lock(&s->mu);
    bool old = s->nchunks && s->chunks[0].mint < c->T;
    pthread_mutex_unlock(&s->mu);
    if (!old) return;
    if (c->n == c->cap) XGROW(c->v, c->cap, c->n + 1);
    c->v[c->n++] = s;
}

static int series_label_cmp(const void *a, const void *b)
{
    const series_t *x = *(series_t *const *)a, *y = *(series_t *const *)b;
    return labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
}

typedef struct range_writer {
    int64_t start; /* aligned range start */
    block_writer_t *w;
} range_writer_t;

static int rw_cmp(const void *a, const void *b)
{
    const range_writer_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void hint_lower(db_t *db, int64_t t)
{
    int64_t cur = atomic_load(&db->head_mint_hint);
    while (t < cur && !atomic_compare_exchange_weak(&db->head_mint_hint, &cur, t)) {
    }
}

void db_note_samples(db_t *db, int64_t mint, int64_t maxt)
{
    hint_lower(db, mint);
    int64_t cur = atomic_load(&db->head_maxt);
    while (maxt > cur && !atomic_compare_exchange_weak(&db->head_maxt, &cur, maxt)) {
    }
}

/* Phase 2: copies samples < T of every old series, in label order, into one writer per aligned
 * range of R ms; finishes and opens the blocks (appended to *out). Caller holds the gc read lock. */
static int write_blocks(db_t *db, int64_t T, int64_t R, block_t ***out, size_t *nout)
{
    cut_series_t cs = {.T = T};
    head_each(&db->head, collect_fn, &cs);
    if (cs.n > 1) qsort(cs.v, cs.n, sizeof(series_t *), series_label_cmp);
    range_writer_t *rw = NULL;
    size_t nrw = 0, caprw = 0;
    sample_vec_t sv = {0};
    int rc = MS_OK;
    for (size_t i = 0; i < cs.n && rc == MS_OK; i++) {
        series_t *s = cs.v[i];
        sv.n = 0;
        pthread_mutex_lock(&s->mu);
        series_read(s, INT64_MIN, T - 1, &sv);
        s->cut_dirty = false;
        pthread_mutex_unlock(&s->mu);
        for (size_t a = 0; a < sv.n && rc == MS_OK;) {
            int64_t start = floor_div(sv.v[a].t, R) * R;
            size_t b = a;
            while (b < sv.n && floor_div(sv.v[b].t, R) * R == start) b++;
            range_writer_t key = {start, NULL};
            range_writer_t *x = nrw ? bsearch(&key, rw, nrw, sizeof(*rw), rw_cmp) : NULL;
            if (!x) {
                if (nrw == caprw) XGROW(rw, caprw, nrw + 1);
                rc = block_writer_open(db->blocks_dir, db->next_block_seq++, db->opts.block_zstd_level,
                                       db->opts.wal_fsync != WAL_FSYNC_NEVER, &key.w);
                if (rc != MS_OK) break;
                rw[nrw++] = key;
                qsort(rw, nrw, sizeof(*rw), rw_cmp);
                x = bsearch(&key, rw, nrw, sizeof(*rw), rw_cmp);
            }
            rc = block_writer_add(x->w, s->labels, s->nlabels, &sv.v[a], b - a);
            a = b;
        }
    }
    sample_vec_free(&sv);
    free(cs.v);
    for (size_t i = 0; i < nrw; i++) {
        if (rc != MS_OK) {
            block_writer_abort(rw[i].w);
            continue;
        }
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", block_writer_final_dir(rw[i].w));
        uint32_t seq = block_writer_seq(rw[i].w);
        rc = block_writer_finish(rw[i].w, NULL);
        if (rc != MS_OK) continue;
        block_t *b;
        char err[PATH_MAX + 384];
        rc = block_open(dir, seq, &b, err, sizeof(err));
        if (rc != MS_OK) {
            log_error("cut: reopening a block just written failed: %s", err);
            continue;
        }
        *out = xrealloc(*out, (*nout + 1) * sizeof(block_t *));
        (*out)[(*nout)++] = b;
    }
    free(rw);
    return rc;
}

static void dirty_fn(series_t *s, void *arg)
{
    cut_series_t *c = arg;
    pthread_mutex_lock(&s->mu);
    bool dirty = s->cut_dirty;
    pthread_mutex_unlock(&s->mu);
    if (!dirty) return;
    if (c->n == c->cap) XGROW(c->v, c->cap, c->n + 1);
    c->v[c->n++] = s;
}

static int sample_t_cmp(const void *a, const void *b)
{
    const sample_t *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* Appends series ls's samples in the blocks of views[0..nv) to out, sorted by time. False if
 * a view met damage (then nothing may be assumed about what the blocks hold). */
static bool blocks_copy_of(block_view_t **views, size_t nv, const label_t *ls, size_t nl, sample_vec_t *out)
{
    matcher_t **m = xcalloc(nl, sizeof(matcher_t *));
    bool ok = true;
    for (size_t i = 0; i < nl && ok; i++) {
        char err[64];
        ok = matcher_new(MATCH_EQ, ls[i].name, ls[i].name_len, ls[i].value, ls[i].value_len, &m[i], err, sizeof(err)) ==
             MS_OK;
    }
    for (size_t v = 0; v < nv && ok; v++) {
        rs_vec_t rs = {0};
        block_reader_ops.select(views[v], (const matcher_t *const *)m, nl, INT64_MIN, INT64_MAX, &rs);
        for (size_t i = 0; i < rs.n; i++)
            if (labels_equal(rs.v[i].labels.v, rs.v[i].labels.n, ls, nl))
                block_reader_ops.samples(views[v], rs.v[i].h, INT64_MIN, INT64_MAX, out);
        free(rs.v);
        ok = block_view_errors(views[v]) == 0;
    }
    for (size_t i = 0; i < nl; i++) matcher_free(m[i]);
    free(m);
    if (out->n > 1) qsort(out->v, out->n, sizeof(sample_t), sample_t_cmp);
    return ok;
}

/* Phase 3 of a successful cut, gc write lock held (no append in flight): a series written below
 * T after its copy was taken (cut_dirty) keeps below T only the samples the new blocks do not
 * hold with the same value, instead of all of them, so the next cut writes just those (the
 * late ones) and not the series' whole past again. Series whose copy cannot be read back keep
 * everything, as before. */
static void trim_dirty(db_t *db, int64_t T, block_t **nb, size_t nnb)
{
    cut_series_t ds = {.T = T};
    head_each(&db->head, dirty_fn, &ds);
    if (ds.n == 0 || nnb == 0) {
        free(ds.v);
        return;
    }
    block_view_t **views = xmalloc(nnb * sizeof(*views));
    for (size_t i = 0; i < nnb; i++) views[i] = block_view_new(nb[i]);
    sample_vec_t copy = {0}, head = {0};
    size_t trimmed = 0;
    head_t *h = &db->head;
    for (size_t i = 0; i < ds.n; i++) {
        series_t *s = ds.v[i];
        copy.n = 0;
        if (!blocks_copy_of(views, nnb, s->labels, s->nlabels, &copy)) continue;
        pthread_mutex_lock(&s->mu);
        head.n = 0;
        series_read(s, INT64_MIN, T - 1, &head);
        size_t k = 0, c = 0;
        for (size_t j = 0; j < head.n; j++) {
            while (c < copy.n && copy.v[c].t < head.v[j].t) c++;
            bool in_block = c < copy.n && copy.v[c].t == head.v[j].t &&
                            memcmp(&copy.v[c].v, &head.v[j].v, sizeof(double)) == 0;
            if (!in_block) head.v[k++] = head.v[j];
        }
        series_truncate_before(s, T, &h->mem, &h->nchunks);
        for (size_t j = 0; j < k; j++) {
            uint64_t bits;
            memcpy(&bits, &head.v[j].v, sizeof(bits));
            series_append(s, head.v[j].t, bits, &h->mem, &h->nchunks);
        }
        s->cut_dirty = k > 0; /* still holding samples below T: head_truncate must keep them */
        pthread_mutex_unlock(&s->mu);
        trimmed++;
    }
    for (size_t i = 0; i < nnb; i++) block_view_free(views[i]);
    free(views);
    sample_vec_free(&copy);
    sample_vec_free(&head);
    free(ds.v);
    if (trimmed) log_debug("cut: %zu series written during the cut keep only their late samples", trimmed);
}

/* Cuts head samples older than T into blocks of aligned R-ms ranges, then truncates the head and
 * the WAL. Caller holds cut_mu; hint is the head_mint_hint it read (< T). */
static int cut_below(db_t *db, int64_t T, int64_t R, int64_t hint)
{
    /* phase 1: no commit in flight; everything logged in segments < N is in the head */
    gclock_write_lock(&db->gc_lock, 100);
    atomic_store(&db->cut_floor, hint); /* backpressure counts the data being cut until phase 3 */
    atomic_store(&db->cut_running, true);
    atomic_store(&db->cut_dirty_below, T);
    atomic_store(&db->head_mint_hint, INT64_MAX);
    int rc = wal_cut(db->wal);
    uint32_t N = wal_open_segment_idx(db->wal);
    gclock_write_unlock(&db->gc_lock);

    /* phase 2: write the blocks while ingestion and queries go on */
    block_t **nb = NULL;
    size_t nnb = 0;
    if (rc == MS_OK) {
        gclock_read_lock(&db->gc_lock);
        rc = write_blocks(db, T, R, &nb, &nnb);
        gclock_read_unlock(&db->gc_lock);
    }
    if (rc == MS_OK) rc = write_cut_marker(db, N, T);

    /* phase 3: publish, truncate head and WAL */
    gclock_write_lock(&db->gc_lock, 100);
    for (size_t i = 0; i < nnb; i++) blocks_push(db, nb[i]); /* complete blocks are valid even on failure */
    if (db->nblocks > 1) qsort(db->blocks, db->nblocks, sizeof(block_t *), block_ptr_cmp);
    uint64_t deleted = 0;
    if (rc == MS_OK) {
        trim_dirty(db, T, nb, nnb);
        int64_t oldest = head_truncate(&db->head, T);
        hint_lower(db, oldest);
        db->cut_wal_seg = N;
        db->cut_T = T;
        if (T > db->compact_upto) db->compact_upto = T;
        int wrc = wal_cut(db->wal);
        if (wrc == MS_OK) wrc = db_relog_live(db);
        if (wrc == MS_OK) wrc = wal_delete_upto(db->wal, N, T, &deleted);
        if (wrc != MS_OK) log_warn("cut: WAL truncation failed: %s (will retry at the next cut)", ms_strerror(wrc));
    } else {
        hint_lower(db, hint); /* the head still holds everything */
    }
    atomic_store(&db->cut_dirty_below, INT64_MIN);
    atomic_store(&db->cut_running, false); /* head_mint_hint covers the head again */
    gclock_write_unlock(&db->gc_lock);
    free(nb);
#ifdef __GLIBC__
    /* the head just freed many small chunk buffers: hand the pages back so RSS follows */
    if (rc == MS_OK) malloc_trim(0);
#endif
    atomic_store(&db->cut_last_failed, rc != MS_OK);
    if (rc == MS_OK) {
        atomic_fetch_add(&db->cuts, 1);
        log_info("cut: %zu blocks below %lld, %llu WAL segments deleted", nnb, (long long)T,
                 (unsigned long long)deleted);
    } else {
        /* retried every check interval (1 s) while the disk is full or failing: log the 1st,
         * 2nd, 4th, 8th ... failure only, so an outage of hours writes a few dozen lines */
        uint64_t nf = atomic_fetch_add(&db->cut_failures, 1) + 1;
        if ((nf & (nf - 1)) == 0)
            log_error("cut: failed: %s (data stays in the head and WAL; retried every second; failure #%llu, "
                      "later ones logged at powers of two)", ms_strerror(rc), (unsigned long long)nf);
    }
    return rc;
}

void db_cut_signal_done(db_t *db)
{
    pthread_mutex_lock(&db->bg_mu);
    db->cut_gen++;
    pthread_cond_broadcast(&db->bg_cond);
    pthread_mutex_unlock(&db->bg_mu);
}

int db_cut_blocks(db_t *db)
{
    if (!db) return MS_EINVAL;
    if (db->opts.head_window_ms <= 0) return MS_OK;
    pthread_mutex_lock(&db->cut_mu);
    int64_t hmax = atomic_load(&db->head_maxt), hint = atomic_load(&db->head_mint_hint);
    const int64_t R = db->opts.block_range_ms;
    int rc = MS_OK;
    if (hmax != INT64_MIN && hint != INT64_MAX && hmax >= INT64_MIN + db->opts.head_window_ms + R) {
        int64_t T = floor_div(hmax - db->opts.head_window_ms, R) * R;
        if (hint < T) rc = cut_below(db, T, R, hint);
    }
    pthread_mutex_unlock(&db->cut_mu);
    db_cut_signal_done(db); /* commits held back by backpressure look again */
    return rc;
}

int db_flush_head(db_t *db)
{
    if (!db) return MS_EINVAL;
    pthread_mutex_lock(&db->cut_mu);
    int64_t hmax = atomic_load(&db->head_maxt), hint = atomic_load(&db->head_mint_hint);
    int rc = MS_OK;
    /* T = newest + 1: every sample now in the head is below it (a sample at INT64_MAX, which
     * max_future refuses anyway, would stay in the head) */
    if (hmax != INT64_MIN && hint != INT64_MAX) {
        int64_t T = hmax == INT64_MAX ? INT64_MAX : hmax + 1;
        /* one block per window of the largest compaction level (24h by default) rather than per
         * 2h: the head is written as compaction would leave it once the window completes, so a
         * flush of 2h of data crossing a 2h boundary is one block, not two (half the index);
         * with compaction off, blocks keep the cut's range */
        int64_t levels[8];
        size_t nl = compact_levels(&db->opts, levels);
        int64_t R = nl && !db->opts.no_compaction ? levels[nl - 1] : db->opts.block_range_ms;
        if (hint < T) rc = cut_below(db, T, R, hint);
    }
    pthread_mutex_unlock(&db->cut_mu);
    db_cut_signal_done(db); /* commits held back by backpressure look again */
    return rc;
}
