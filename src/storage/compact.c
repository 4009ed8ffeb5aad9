/* compact.c owns block compaction: choosing a group of blocks that lie inside one complete
 * aligned window of a level (R, 3R, 12R by default), merging them series by series (k-way in
 * label order, samples by timestamp, the higher-seq block winning ties, tombstoned samples
 * dropped) into one new block that records its parents, publishing it in place of its inputs,
 * and, at load, deleting blocks that a complete block names as parents (a crash between the
 * rename and the deletion). Format and crash-safety argument: docs/format/block.md
 * ("parents", "Compaction").
 *
 * Locking: a merge holds db->compact_mu from planning to publishing (one merge at a time, and
 * tombstone cleanup, which rewrites blocks, waits for it). It plans under db->cut_mu, records
 * its inputs in db->merging and then releases cut_mu for the long part (reading, merging and
 * writing), so block cuts, flushes and retention are never held up by a merge: cuts only add
 * blocks, and retention leaves the inputs of the merge in progress alone. It retakes cut_mu to
 * publish; only the swap of inputs for output takes the gc write lock. Queries and appends go on
 * throughout. */
#include "storage/db_internal.h"
#include "storage/reader.h"
#include "storage/tombstones.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/log.h"
#include "util/status.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PARENTS_MAX 100000 /* sanity bound when reading */

/* ---- the parents file ---- */

static int write_parents(const char *dir, const uint32_t *seqs, size_t n, bool sync)
{
    buf_t b = BUF_INIT;
    buf_append(&b, "MSBP\1\0\0\0", 8);
    buf_put_u32le(&b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) buf_put_u32le(&b, seqs[i]);
    buf_put_u32le(&b, crc32c(0, b.data, b.len));
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/parents", dir);
    int rc = MS_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || (sync && fsync(fd) != 0))
        rc = errno == ENOSPC ? MS_ENOSPC : MS_EIO;
    if (fd >= 0) close(fd);
    buf_free(&b);
    return rc;
}

/* Reads <dir>/parents into *seqs (malloc'd). MS_ENOENT when the block has none (a cut block);
 * MS_ECORRUPT when it fails its checks. */
static int read_parents(const char *dir, uint32_t **seqs, size_t *n)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/parents", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? MS_ENOENT : MS_EIO;
    struct stat sb;
    int rc = MS_OK;
    if (fstat(fd, &sb) != 0 || sb.st_size < 16 || sb.st_size > 16 + 4 * PARENTS_MAX) rc = MS_ECORRUPT;
    uint8_t *p = NULL;
    size_t len = rc == MS_OK ? (size_t)sb.st_size : 0;
    if (rc == MS_OK) {
        p = xmalloc(len);
        if (pread(fd, p, len, 0) != (ssize_t)len) rc = MS_EIO;
    }
    close(fd);
    if (rc == MS_OK) {
        cursor_t c;
        cursor_init(&c, p, len);
        const uint8_t *magic = cursor_bytes(&c, 4);
        uint8_t ver = cursor_u8(&c);
        cursor_skip(&c, 3);
        uint32_t k = cursor_u32le(&c);
        if (!cursor_ok(&c) || memcmp(magic, "MSBP", 4) != 0 || ver != 1 || k > PARENTS_MAX ||
            len != 16 + 4 * (size_t)k) {
            rc = MS_ECORRUPT;
        } else {
            *seqs = xmalloc((k ? k : 1) * sizeof(uint32_t));
            for (uint32_t i = 0; i < k; i++) (*seqs)[i] = cursor_u32le(&c);
            uint32_t crc = cursor_u32le(&c);
            if (!cursor_ok(&c) || !cursor_done(&c) || crc != crc32c(0, p, len - 4)) {
                free(*seqs);
                *seqs = NULL;
                rc = MS_ECORRUPT;
            } else {
                *n = k;
            }
        }
    }
    free(p);
    return rc;
}

void compact_cleanup_parents(db_t *db)
{
    uint32_t *dead = NULL;
    size_t ndead = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        uint32_t *p;
        size_t n;
        int rc = read_parents(block_dir(db->blocks[i]), &p, &n);
        if (rc == MS_ENOENT) continue;
        if (rc != MS_OK) {
            /* keeping parents beside their child only costs space: the child has the higher
             * seq and holds exactly their merge, so reads see the same samples */
            log_warn("blocks: %s/parents is unreadable (%s); keeping any blocks it names", block_dir(db->blocks[i]),
                     ms_strerror(rc));
            continue;
        }
        dead = xrealloc(dead, (ndead + n + 1) * sizeof(uint32_t));
        memcpy(dead + ndead, p, n * sizeof(uint32_t));
        ndead += n;
        free(p);
    }
    if (!ndead) {
        free(dead);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        block_t *b = db->blocks[i];
        bool parent = false;
        for (size_t j = 0; j < ndead && !parent; j++) parent = dead[j] == block_seq(b);
        if (!parent) {
            db->blocks[k++] = b;
            continue;
        }
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", block_dir(b));
        block_close(b);
        log_info("blocks: removing %s, already merged into a newer block (compaction was interrupted)", dir);
        if (blocks_remove_dir(dir) != MS_OK) log_warn("blocks: removing %s failed: %s", dir, strerror(errno));
    }
    db->nblocks = k;
    free(dead);
}

/* ---- choosing a group ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

size_t compact_levels(const db_options_t *o, int64_t *levels)
{
    const int64_t R = o->block_range_ms;
    int64_t cap = o->max_block_range_ms > 0 ? o->max_block_range_ms : 12 * R;
    if (o->retention_ms > 0 && o->retention_ms / 10 < cap) cap = o->retention_ms / 10;
    size_t n = 0;
    levels[n++] = R;
    const int64_t mult[] = {3, 12};
    for (size_t i = 0; i < 2; i++)
        if (R <= INT64_MAX / mult[i] && mult[i] * R <= cap) levels[n++] = mult[i] * R;
    return n;
}

typedef struct wslot {
    int64_t w; /* window start */
    size_t i;  /* index into db->blocks */
} wslot_t;

static int wslot_cmp(const void *a, const void *b)
{
    const wslot_t *x = a, *y = b;
    if (x->w != y->w) return x->w < y->w ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static bool is_bad(const db_t *db, uint32_t seq)
{
    for (size_t i = 0; i < db->ncompact_bad; i++)
        if (db->compact_bad[i] == seq) return true;
    return false;
}

static void mark_bad(db_t *db, const block_t *b)
{
    if (is_bad(db, block_seq(b))) return;
    db->compact_bad = xrealloc(db->compact_bad, (db->ncompact_bad + 1) * sizeof(uint32_t));
    db->compact_bad[db->ncompact_bad++] = block_seq(b);
    log_error("compact: block %s is damaged; it stays as it is and is left out of compaction", block_dir(b));
}

/* The next group to merge: at the largest level first, the oldest complete window holding at
 * least two blocks that lie entirely inside it. Caller holds cut_mu. Returns the group size
 * (0: nothing to do); *out malloc'd. */
static size_t plan(db_t *db, block_t ***out, int64_t *level_out)
{
    int64_t levels[3];
    size_t nl = compact_levels(&db->opts, levels);
    const int64_t upto = db->compact_upto;
    if (db->nblocks < 2 || upto == INT64_MIN) return 0;
    wslot_t *ws = xmalloc(db->nblocks * sizeof(*ws));
    for (size_t li = nl; li-- > 0;) {
        const int64_t L = levels[li];
        size_t n = 0;
        for (size_t i = 0; i < db->nblocks; i++) {
            const block_meta_t *m = block_meta(db->blocks[i]);
            int64_t w = floor_div(m->mint, L) * L;
            if (w > INT64_MAX - L) continue;
            if (m->maxt >= w + L || w + L > upto) continue; /* not inside, or window not complete */
            ws[n++] = (wslot_t){w, i};
        }
        if (n > 1) qsort(ws, n, sizeof(*ws), wslot_cmp);
        for (size_t a = 0; a < n;) {
            size_t b = a;
            bool bad = false;
            while (b < n && ws[b].w == ws[a].w) bad |= is_bad(db, block_seq(db->blocks[ws[b++].i]));
            /* a window holding a damaged block is left alone: merging the rest would give their
             * samples a seq above the damaged block's, which may hold newer values */
            if (b - a >= 2 && !bad) {
                *out = xmalloc((b - a) * sizeof(block_t *));
                for (size_t k = a; k < b; k++) (*out)[k - a] = db->blocks[ws[k].i];
                *level_out = L;
                free(ws);
                return b - a;
            }
            a = b;
        }
    }
    free(ws);
    return 0;
}

/* ---- merging ---- */

typedef struct cin {
    block_t *b;
    block_view_t *v;
    rs_vec_t rs;
    size_t pos;
} cin_t;

static int seq_cmp(const void *a, const void *b)
{
    uint32_t x = block_seq(*(block_t *const *)a), y = block_seq(*(block_t *const *)b);
    return x < y ? -1 : x > y;
}

/* Merges b (time-sorted, unique) into a (the same), b winning on equal timestamps; tmp is
 * scratch. */
static void merge_newer(sample_vec_t *a, const sample_vec_t *b, sample_vec_t *tmp)
{
    if (b->n == 0) return;
    if (a->n == 0 || a->v[a->n - 1].t < b->v[0].t) {
        for (size_t i = 0; i < b->n; i++) {
            if (a->n == a->cap) XGROW(a->v, a->cap, a->n + 1);
            a->v[a->n++] = b->v[i];
        }
        return;
    }
    tmp->n = 0;
    if (tmp->cap < a->n + b->n) XGROW(tmp->v, tmp->cap, a->n + b->n);
    size_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        if (j == b->n || (i < a->n && a->v[i].t < b->v[j].t)) tmp->v[tmp->n++] = a->v[i++];
        else {
            if (i < a->n && a->v[i].t == b->v[j].t) i++; /* the newer block's sample replaces it */
            tmp->v[tmp->n++] = b->v[j++];
        }
    }
    sample_vec_t t = *a;
    *a = *tmp;
    *tmp = t;
}

/* Checks that a decoded block handed over its series in strictly increasing label order
 * (the writer requires it; a damaged block must not produce a damaged index). */
static bool in_order(const cin_t *c)
{
    for (size_t i = 1; i < c->rs.n; i++)
        if (labels_cmp(c->rs.v[i - 1].labels.v, c->rs.v[i - 1].labels.n, c->rs.v[i].labels.v, c->rs.v[i].labels.n) >= 0)
            return false;
    return true;
}

/* Writes the merge of in[0..n) (sorted by seq) into writer w. A damaged input makes it return
 * MS_ECORRUPT with that block in *bad (marked by the caller, under cut_mu). */
static int merge_series(db_t *db, cin_t *in, size_t n, block_writer_t *w, uint64_t *nsamples, block_t **bad)
{
    matcher_t *all;
    char err[64];
    int rc = matcher_new(MATCH_RE, "__name__", 8, ".*", 2, &all, err, sizeof(err));
    if (rc != MS_OK) return rc;
    const matcher_t *ms[1] = {all};
    for (size_t i = 0; i < n && rc == MS_OK; i++) {
        in[i].v = block_view_new(in[i].b);
        block_reader_ops.select(in[i].v, ms, 1, INT64_MIN, INT64_MAX, &in[i].rs);
        if (block_view_errors(in[i].v) > 0 || !in_order(&in[i]) || in[i].rs.n != block_meta(in[i].b)->nseries) {
            *bad = in[i].b;
            rc = MS_ECORRUPT;
        }
    }
    matcher_free(all);
    tomb_snap_t *tombs = tomb_snap_get(db->tomb); /* NULL (no cost) without tombstones */
    sample_vec_t acc = {0}, one = {0}, tmp = {0};
    size_t *same = xmalloc(n * sizeof(size_t));
    while (rc == MS_OK) {
        /* the smallest label set among the inputs' next series, and every input holding it */
        const labels_t *min = NULL;
        size_t ns = 0;
        for (size_t i = 0; i < n; i++) {
            if (in[i].pos >= in[i].rs.n) continue;
            const labels_t *l = &in[i].rs.v[in[i].pos].labels;
            int c = min ? labels_cmp(l->v, l->n, min->v, min->n) : -1;
            if (c < 0) {
                min = l;
                ns = 0;
            }
            if (c <= 0) same[ns++] = i;
        }
        if (!min) break;
        if (atomic_load(&db->closing)) {
            rc = MS_ECANCELED;
            break;
        }
        acc.n = 0;
        for (size_t k = 0; k < ns; k++) { /* ascending seq: later inputs win ties */
            cin_t *c = &in[same[k]];
            one.n = 0;
            block_reader_ops.samples(c->v, c->rs.v[c->pos].h, INT64_MIN, INT64_MAX, &one);
            if (block_view_errors(c->v) > 0) {
                *bad = c->b;
                rc = MS_ECORRUPT;
                break;
            }
            merge_newer(&acc, &one, &tmp);
        }
        if (rc != MS_OK) break;
        labels_t l = *min;
        for (size_t k = 0; k < ns; k++) in[same[k]].pos++;
        if (tombs) tomb_snap_filter(tombs, l.v, l.n, &acc); /* deleted samples go for good */
        if (acc.n == 0) continue;
        rc = block_writer_add(w, l.v, l.n, acc.v, acc.n);
        *nsamples += acc.n;
    }
    free(same);
    tomb_snap_put(tombs);
    sample_vec_free(&acc);
    sample_vec_free(&one);
    sample_vec_free(&tmp);
    return rc;
}

/* Inserts b into the block list at its place by seq (blocks cut while a merge ran have higher
 * seqs than its output). Caller holds the gc write lock. */
static void insert_by_seq(db_t *db, block_t *b)
{
    if (db->nblocks == db->capblocks) XGROW(db->blocks, db->capblocks, db->nblocks + 1);
    size_t at = db->nblocks;
    while (at > 0 && block_seq(db->blocks[at - 1]) > block_seq(b)) at--;
    memmove(&db->blocks[at + 1], &db->blocks[at], (db->nblocks - at) * sizeof(block_t *));
    db->blocks[at] = b;
    db->nblocks++;
}

void (*compact_test_pause)(void);

bool compact_is_input(const db_t *db, const block_t *b)
{
    for (size_t i = 0; i < db->nmerging; i++)
        if (db->merging[i] == b) return true;
    return false;
}

/* Merges the given blocks (n >= 1, all in db->blocks) into one new block, publishes it in
 * their place and deletes them. Caller holds compact_mu and cut_mu; cut_mu is released while
 * the merge reads and writes (db->merging names the inputs meanwhile) and held again on
 * return. */
static int merge_blocks(db_t *db, block_t **group, size_t n, int64_t level)
{
    int64_t t_start = clock_mono_ns();
    qsort(group, n, sizeof(block_t *), seq_cmp);
    cin_t *in = xcalloc(n, sizeof(cin_t));
    uint32_t *seqs = xmalloc(n * sizeof(uint32_t));
    uint64_t in_bytes = 0, in_samples = 0;
    for (size_t i = 0; i < n; i++) {
        in[i].b = group[i];
        seqs[i] = block_seq(group[i]);
        in_bytes += block_disk_bytes(group[i]);
        in_samples += block_meta(group[i])->nsamples;
    }
    bool sync = db->opts.wal_fsync != WAL_FSYNC_NEVER;
    uint32_t seq = db->next_block_seq++;
    db->merging = group;
    db->nmerging = n;
    pthread_mutex_unlock(&db->cut_mu);
    log_info("compact: merging %zu blocks (%08u..%08u, level %lld ms) into %08u", n, seqs[0], seqs[n - 1],
              (long long)level, seq);
    block_writer_t *w = NULL;
    int rc = block_writer_open(db->blocks_dir, seq, db->opts.block_zstd_level, sync, &w);
    uint64_t nsamples = 0;
    block_t *bad = NULL;
    if (rc == MS_OK) rc = merge_series(db, in, n, w, &nsamples, &bad);
    for (size_t i = 0; i < n; i++) {
        block_view_free(in[i].v);
        free(in[i].rs.v);
    }
    free(in);
    char dir[PATH_MAX] = "";
    block_t *out = NULL;
    if (rc == MS_OK) {
        snprintf(dir, sizeof(dir), "%s.tmp", block_writer_final_dir(w));
        rc = write_parents(dir, seqs, n, sync);
        snprintf(dir, sizeof(dir), "%s", block_writer_final_dir(w));
    }
    if (rc == MS_OK) {
        rc = block_writer_finish(w, NULL);
        w = NULL;
        if (rc == MS_ENOENT) rc = MS_OK; /* every sample was deleted: the inputs just go */
        else if (rc == MS_OK) {
            char err[PATH_MAX + 256];
            rc = block_open(dir, seq, &out, err, sizeof(err));
            if (rc != MS_OK) {
                /* renamed into place but unreadable: it names its parents, so remove it before
                 * the next load deletes the inputs in its favour */
                log_error("compact: reopening the block just written failed: %s", err);
                blocks_remove_dir(dir);
            }
        }
    }
    block_writer_abort(w);
    if (compact_test_pause) compact_test_pause();
    pthread_mutex_lock(&db->cut_mu);
    db->merging = NULL;
    db->nmerging = 0;
    if (bad) mark_bad(db, bad);
    if (rc != MS_OK) {
        free(seqs);
        if (rc == MS_ECANCELED) {
            log_info("compact: merge of %zu blocks given up: the db is closing (they stay as they are)", n);
            return rc;
        }
        atomic_fetch_add(&db->compaction_failures, 1);
        log_error("compact: merge of %zu blocks failed: %s (they stay as they are)", n, ms_strerror(rc));
        return rc;
    }

    /* publish: the new block replaces its inputs in one step for queriers */
    gclock_write_lock(&db->gc_lock, 100);
    size_t k = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        bool input = false;
        for (size_t j = 0; j < n && !input; j++) input = db->blocks[i] == group[j];
        if (!input) db->blocks[k++] = db->blocks[i];
    }
    db->nblocks = k;
    if (out) insert_by_seq(db, out);
    char **dirs = xmalloc(n * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        dirs[i] = xstrdup(block_dir(group[i]));
        block_close(group[i]);
    }
    gclock_write_unlock(&db->gc_lock);
    /* the output is durable (renamed, directory fsynced) before any input goes; a crash in
     * between leaves inputs that the next load deletes because the output names them */
    for (size_t i = 0; i < n; i++) {
        if (blocks_remove_dir(dirs[i]) != MS_OK) log_warn("compact: removing %s failed: %s", dirs[i], strerror(errno));
        free(dirs[i]);
    }
    free(dirs);
    free(seqs);
    uint64_t ms = (uint64_t)((clock_mono_ns() - t_start) / 1000000);
    atomic_fetch_add(&db->compactions, 1);
    atomic_fetch_add(&db->compaction_blocks_in, n);
    atomic_fetch_add(&db->compaction_ms, ms);
    log_info("compact: merged %zu blocks (%llu samples, %llu bytes) -> %08u (%llu samples, %llu bytes), level %lld ms, "
             "%llu ms",
             n, (unsigned long long)in_samples, (unsigned long long)in_bytes, seq, (unsigned long long)nsamples,
             (unsigned long long)(out ? block_disk_bytes(out) : 0), (long long)level, (unsigned long long)ms);
    return MS_OK;
}

int compact_step(db_t *db, bool *merged)
{
    *merged = false;
    pthread_mutex_lock(&db->compact_mu);
    pthread_mutex_lock(&db->cut_mu);
    block_t **group = NULL;
    int64_t level = 0;
    size_t n = plan(db, &group, &level);
    int rc = MS_OK;
    if (n >= 2) {
        rc = merge_blocks(db, group, n, level);
        *merged = rc == MS_OK;
    }
    free(group);
    pthread_mutex_unlock(&db->cut_mu);
    pthread_mutex_unlock(&db->compact_mu);
    return rc;
}

int db_compact(db_t *db, uint64_t *merged)
{
    if (merged) *merged = 0;
    if (!db) return MS_EINVAL;
    int first = MS_OK;
    for (;;) {
        bool did;
        pthread_mutex_lock(&db->cut_mu);
        size_t nbad = db->ncompact_bad;
        pthread_mutex_unlock(&db->cut_mu);
        int rc = compact_step(db, &did);
        pthread_mutex_lock(&db->cut_mu);
        bool newly_bad = db->ncompact_bad > nbad;
        pthread_mutex_unlock(&db->cut_mu);
        if (rc == MS_ECORRUPT && newly_bad) { /* the damaged block is left out from now on: go on */
            if (first == MS_OK) first = rc;
            continue;
        }
        if (rc != MS_OK) return rc;
        if (!did) return first;
        if (merged) (*merged)++;
    }
}
