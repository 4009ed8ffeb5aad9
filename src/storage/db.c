/* db.c owns the database lifecycle (options, open + block loading + replay, close, the
 * background thread that cuts blocks, compacts them and applies retention), metadata storage, statistics,
 * and retention: dropping old head chunks and empty series under the gc_lock's
 * write side, and deleting WAL segments wholly older than retention after re-logging every
 * live series and metadata entry into a fresh segment (so no needed series record is lost). */
#include "storage/db_internal.h"
#include "storage/head_snapshot.h"
#include "storage/record.h"
#include "storage/tombstones.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/status.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#define RETENTION_INTERVAL_MS 60000
#define CUT_CHECK_INTERVAL_MS 1000
#define COMPACT_RETRY_MS 60000 /* after a failed merge, background compaction waits this long */

void db_options_default(db_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->data_dir = "./data";
    o->retention_ms = 15LL * 24 * 3600 * 1000;
    o->max_future_ms = 10LL * 60 * 1000;
    o->wal_fsync = WAL_FSYNC_ALWAYS;
    o->wal_fsync_interval_ms = 1000;
    o->wal_segment_bytes = 128LL << 20;
    o->head_window_ms = 2LL * 3600 * 1000;
    o->block_range_ms = 2LL * 3600 * 1000;
    o->block_zstd_level = 3;
}

/* One background compaction merge, unless disabled or backing off after a failure. True when
 * it merged (more may be ready: the caller loops without waiting). */
static bool bg_compact(db_t *db)
{
    if (db->opts.no_compaction) return false;
    int64_t now = clock_mono_ns() / 1000000;
    if (now < db->compact_retry_at_ms) return false;
    bool merged = false;
    if (compact_step(db, &merged) != MS_OK) db->compact_retry_at_ms = now + COMPACT_RETRY_MS;
    return merged;
}

static void *bg_main(void *arg)
{
    db_t *db = arg;
    int64_t last_retention = clock_mono_ns() / 1000000;
    pthread_mutex_lock(&db->bg_mu);
    while (!db->bg_stop) {
        if (!db->cut_wanted) { /* cut_wanted: backpressure asked for a cut (appender.c) */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += CUT_CHECK_INTERVAL_MS / 1000;
            pthread_cond_timedwait(&db->bg_cond, &db->bg_mu, &ts);
        }
        if (db->bg_stop) break;
        db->cut_wanted = false;
        pthread_mutex_unlock(&db->bg_mu);
        /* cuts only: merges run on their own thread (compact_main), so a long merge never
         * holds the cuts (and the head's size) back */
        uint64_t cuts = atomic_load(&db->cuts);
        db_cut_blocks(db);
        if (atomic_load(&db->cuts) != cuts) { /* new blocks: maybe a window to merge */
            pthread_mutex_lock(&db->bg_mu);
            pthread_cond_signal(&db->compact_cond);
            pthread_mutex_unlock(&db->bg_mu);
        }
        int64_t now = clock_mono_ns() / 1000000;
        if (now - last_retention >= RETENTION_INTERVAL_MS) {
            last_retention = now;
            db_apply_retention(db, clock_now_ms());
        }
        pthread_mutex_lock(&db->bg_mu);
    }
    pthread_mutex_unlock(&db->bg_mu);
    return NULL;
}

/* Background compaction: waits for a cut (or a check interval; also at start, so opening is
 * not slowed by merges), then merges one group after another while groups are ready. */
static void *compact_main(void *arg)
{
    db_t *db = arg;
    bool merged = false;
    pthread_mutex_lock(&db->bg_mu);
    while (!db->compact_stop) {
        if (!merged) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += CUT_CHECK_INTERVAL_MS / 1000;
            pthread_cond_timedwait(&db->compact_cond, &db->bg_mu, &ts);
            if (db->compact_stop) break;
        }
        pthread_mutex_unlock(&db->bg_mu);
        merged = bg_compact(db);
        pthread_mutex_lock(&db->bg_mu);
    }
    pthread_mutex_unlock(&db->bg_mu);
    return NULL;
}

void db_meta_free_all(db_t *db)
{
    for (size_t i = 0; i < db->meta.cap; i++) {
        meta_entry_t *e = db->meta.e[i].v;
        if (!db->meta.e[i].k) continue;
        free(e->metric);
        free(e->type);
        free(e->help);
        free(e->unit);
        free(e);
    }
    strmap_free(&db->meta);
}

/* Fills the head: from the snapshot a clean close left when the WAL is exactly as it
 * describes, otherwise by replaying the WAL. */
static int start_head(db_t *db, const char *wdir)
{
    if (db->opts.no_head_snapshot) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/head.snapshot", db->data_dir);
        unlink(path); /* would never match the WAL again anyway; don't leave it lying around */
        return head_replay(db);
    }
    wal_seg_state_t *segs;
    size_t nsegs;
    if (head_snapshot_load(db, wdir, &segs, &nsegs) != MS_OK) return head_replay(db);
    /* drop what replay would have dropped as too old, sample by sample as replay does */
    if (db->opts.retention_ms > 0) head_truncate(&db->head, clock_now_ms() - db->opts.retention_ms);
    int rc = wal_resume(db->wal, segs, nsegs);
    free(segs);
    return rc;
}

/* Closes the WAL (syncing it) and, after a clean run, snapshots the head against the WAL's
 * final state so the next open need not replay it. */
static void close_wal(db_t *db)
{
    bool snap = db->open_done && !db->opts.no_head_snapshot && wal_clean(db->wal);
    wal_seg_state_t *st = NULL;
    size_t nst = snap ? wal_seg_states(db->wal, &st) : 0;
    wal_close(db->wal);
    db->wal = NULL;
    if (!snap) return;
    char wdir[PATH_MAX];
    snprintf(wdir, sizeof(wdir), "%s/wal", db->data_dir);
    wal_seg_state_t *files;
    size_t nfiles;
    bool same = wal_list_dir(wdir, true, &files, &nfiles) == MS_OK && nfiles == nst;
    /* the files must end exactly where this process's records end: anything else (another
     * writer, a write the WAL lost track of) is not in the head, and only replay reads it */
    for (size_t i = 0; same && i < nst; i++) {
        same = files[i].idx == st[i].idx && files[i].size == st[i].size;
        files[i].maxt = st[i].maxt;
    }
    if (same) head_snapshot_write(db, files, nfiles);
    else log_warn("head snapshot: the WAL's files are not what it wrote; not taking one (the next start replays it)");
    free(files);
    free(st);
}

int db_open(const db_options_t *opts, db_t **out, char *err, size_t err_len)
{
    char dummy[1];
    if (!err || !err_len) {
        err = dummy;
        err_len = sizeof(dummy);
    }
    if (!opts || !out || !opts->data_dir || !*opts->data_dir) {
        snprintf(err, err_len, "db_open: data_dir is required");
        return MS_EINVAL;
    }
    if (mkdir(opts->data_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "mkdir %s: %s", opts->data_dir, strerror(errno));
        return MS_EIO;
    }
    char lpath[PATH_MAX];
    snprintf(lpath, sizeof(lpath), "%s/lock", opts->data_dir);
    int lfd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0) {
        snprintf(err, err_len, "open %s: %s", lpath, strerror(errno));
        return MS_EIO;
    }
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, err_len, "data dir %s is in use by another process (%s)", opts->data_dir, strerror(errno));
        close(lfd);
        return MS_EBUSY;
    }
    db_t *db = xcalloc(1, sizeof(*db));
    db->lock_fd = lfd;
    db->opts = *opts;
    db->data_dir = xstrdup(opts->data_dir);
    db->opts.data_dir = db->data_dir;
    if (db->opts.max_future_ms <= 0) db->opts.max_future_ms = 10LL * 60 * 1000;
    if (db->opts.wal_segment_bytes <= 0) db->opts.wal_segment_bytes = 128LL << 20;
    if (db->opts.retention_ms < 0) db->opts.retention_ms = 0;
    if (db->opts.head_window_ms < 0) db->opts.head_window_ms = 0;
    if (db->opts.block_range_ms <= 0) db->opts.block_range_ms = 2LL * 3600 * 1000;
    if (db->opts.block_zstd_level > 19) db->opts.block_zstd_level = 19;
    atomic_init(&db->head_maxt, INT64_MIN);
    atomic_init(&db->head_mint_hint, INT64_MAX);
    atomic_init(&db->cut_dirty_below, INT64_MIN);
    db->cut_T = INT64_MIN;
    head_init(&db->head);
    gclock_init(&db->gc_lock);
    pthread_mutex_init(&db->meta_mu, NULL);
    pthread_mutex_init(&db->pool_mu, NULL);
    pthread_mutex_init(&db->bg_mu, NULL);
    pthread_cond_init(&db->bg_cond, NULL);
    pthread_cond_init(&db->compact_cond, NULL);
    pthread_mutex_init(&db->compact_mu, NULL);
    pthread_mutex_init(&db->cut_mu, NULL);

    int rc = tomb_open(db->data_dir, db->opts.wal_fsync != WAL_FSYNC_NEVER, &db->tomb, err, err_len);
    if (rc == MS_OK) rc = blocks_load(db, err, err_len);
    if (rc != MS_OK) {
        db_close(db);
        return rc;
    }
    char wdir[PATH_MAX];
    snprintf(wdir, sizeof(wdir), "%s/wal", db->data_dir);
    wal_opts_t wo = {db->opts.wal_fsync, db->opts.wal_fsync_interval_ms, db->opts.wal_segment_bytes};
    rc = wal_open(wdir, &wo, &db->wal, err, err_len);
    if (rc == MS_OK) {
        wal_set_segment_floor(db->wal, db->cut_wal_seg);
        rc = start_head(db, wdir);
        if (rc != MS_OK) snprintf(err, err_len, "wal replay in %s: %s", wdir, ms_strerror(rc));
    }
    if (rc != MS_OK) {
        db_close(db);
        return rc;
    }
    db->open_done = true;
    if (pthread_create(&db->bg, NULL, bg_main, db) == 0) db->bg_started = true;
    if (!db->opts.no_compaction && pthread_create(&db->compact_thr, NULL, compact_main, db) == 0)
        db->compact_started = true;
    *out = db;
    return MS_OK;
}

void db_close(db_t *db)
{
    if (!db) return;
    atomic_store(&db->closing, true); /* a background merge stops early; its inputs stay */
    if (db->bg_started) {
        pthread_mutex_lock(&db->bg_mu);
        db->bg_stop = true;
        pthread_cond_signal(&db->bg_cond);
        pthread_mutex_unlock(&db->bg_mu);
        pthread_join(db->bg, NULL);
    }
    if (db->compact_started) { /* a running merge sees db->closing and gives up */
        pthread_mutex_lock(&db->bg_mu);
        db->compact_stop = true;
        pthread_cond_signal(&db->compact_cond);
        pthread_mutex_unlock(&db->bg_mu);
        pthread_join(db->compact_thr, NULL);
    }
    close_wal(db);
    blocks_close_all(db);
    free(db->compact_bad);
    tomb_close(db->tomb);
    appender_pool_free(db);
    head_destroy(&db->head);
    db_meta_free_all(db);
    gclock_destroy(&db->gc_lock);
    pthread_mutex_destroy(&db->meta_mu);
    pthread_mutex_destroy(&db->pool_mu);
    pthread_mutex_destroy(&db->bg_mu);
    pthread_cond_destroy(&db->bg_cond);
    pthread_cond_destroy(&db->compact_cond);
    pthread_mutex_destroy(&db->compact_mu);
    pthread_mutex_destroy(&db->cut_mu);
    free(db->data_dir);
    close(db->lock_fd); /* releases the flock */
    free(db);
}

/* ---- metadata ---- */

static void set_str(char **dst, const char *s, size_t n)
{
    if (*dst && strlen(*dst) == n && memcmp(*dst, s, n) == 0) return;
    free(*dst);
    *dst = xmemdup0(s, n);
}

void db_meta_set(db_t *db, const char *metric, size_t ml, const char *type, size_t tl, const char *help, size_t hl,
                 const char *unit, size_t ul)
{
    uint64_t h = hash_bytes(metric, ml);
    pthread_mutex_lock(&db->meta_mu);
    meta_entry_t *e = strmap_get(&db->meta, metric, ml, h);
    if (!e) {
        e = xcalloc(1, sizeof(*e));
        e->metric = xmemdup0(metric, ml);
        strmap_put(&db->meta, e->metric, ml, h, e);
    }
    set_str(&e->type, type, tl);
    set_str(&e->help, help, hl);
    set_str(&e->unit, unit, ul);
    pthread_mutex_unlock(&db->meta_mu);
}

static int meta_cmp(const void *a, const void *b)
{
    return strcmp((*(meta_entry_t *const *)a)->metric, (*(meta_entry_t *const *)b)->metric);
}

int db_metadata_each(db_t *db, const char *metric, int (*fn)(const metric_metadata_t *, void *), void *arg)
{
    if (!db || !fn) return MS_EINVAL;
    pthread_mutex_lock(&db->meta_mu);
    meta_entry_t **v = xmalloc((db->meta.n ? db->meta.n : 1) * sizeof(*v));
    size_t k = 0;
    if (metric) {
        meta_entry_t *e = strmap_get(&db->meta, metric, strlen(metric), hash_bytes(metric, strlen(metric)));
        if (e) v[k++] = e;
    } else {
        for (size_t i = 0; i < db->meta.cap; i++)
            if (db->meta.e[i].k) v[k++] = db->meta.e[i].v;
        qsort(v, k, sizeof(*v), meta_cmp);
    }
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        metric_metadata_t m = {v[i]->metric, v[i]->type, v[i]->help, v[i]->unit};
        rc = fn(&m, arg);
    }
    pthread_mutex_unlock(&db->meta_mu);
    free(v);
    return MS_OK;
}

/* ---- stats ---- */

typedef struct minmax {
    int64_t mint, maxt;
} minmax_t;

static void minmax_fn(series_t *s, void *arg)
{
    minmax_t *m = arg;
    pthread_mutex_lock(&s->mu);
    if (s->nchunks) {
        if (s->chunks[0].mint < m->mint) m->mint = s->chunks[0].mint;
        if (s->chunks[s->nchunks - 1].maxt > m->maxt) m->maxt = s->chunks[s->nchunks - 1].maxt;
    }
    pthread_mutex_unlock(&s->mu);
}

void db_stats(db_t *db, db_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!db) return;
    minmax_t mm = {INT64_MAX, INT64_MIN};
    head_each(&db->head, minmax_fn, &mm);
    out->series = (uint64_t)atomic_load(&db->head.nseries);
    out->samples_appended = atomic_load(&db->samples_appended);
    out->head_chunks = (uint64_t)atomic_load(&db->head.nchunks);
    out->head_mint = mm.mint == INT64_MAX ? 0 : mm.mint;
    out->head_maxt = mm.maxt == INT64_MIN ? 0 : mm.maxt;
    out->wal_bytes = wal_size(db->wal);
    out->wal_fsync_seconds = wal_fsync_histogram(db->wal);
    out->wal_write_failures = wal_write_failures(db->wal);
    out->wal_writable = wal_writable(db->wal);
    out->wal_replay_records = db->replay_records;
    out->wal_replay_corrupt = db->replay_corrupt;
    out->wal_replay_ms = db->replay_ms;
    out->head_snapshot_loaded = db->snapshot_loaded;
    out->head_bytes = (uint64_t)atomic_load(&db->head.mem);
    out->cuts = atomic_load(&db->cuts);
    out->cut_failures = atomic_load(&db->cut_failures);
    out->compactions = atomic_load(&db->compactions);
    out->compaction_failures = atomic_load(&db->compaction_failures);
    out->compaction_blocks_in = atomic_load(&db->compaction_blocks_in);
    out->compaction_ms = atomic_load(&db->compaction_ms);
    out->ingest_backpressure_waits = atomic_load(&db->bp_waits);
    out->ingest_backpressure_rejections = atomic_load(&db->bp_rejections);
    gclock_read_lock(&db->gc_lock);
    for (size_t i = 0; i < db->nblocks; i++) {
        const block_meta_t *m = block_meta(db->blocks[i]);
        if (out->blocks == 0 || m->mint < out->blocks_mint) out->blocks_mint = m->mint;
        if (out->blocks == 0 || m->maxt > out->blocks_maxt) out->blocks_maxt = m->maxt;
        out->blocks++;
        out->block_bytes += block_disk_bytes(db->blocks[i]);
        out->block_samples += m->nsamples;
        out->block_series += m->nseries;
    }
    gclock_read_unlock(&db->gc_lock);
}

/* ---- retention ---- */

static void relog_series_fn(series_t *s, void *arg)
{
    record_put_series(arg, s->ref, s->labels, s->nlabels);
}

/* Writes every live series and metadata entry into the (fresh) open segment. Caller holds the
 * gc write lock, so no appender runs concurrently. */
int db_relog_live(db_t *db)
{
    buf_t b = BUF_INIT;
    size_t hdr = record_begin(&b, REC_SERIES);
    head_each(&db->head, relog_series_fn, &b);
    if (b.len == hdr + REC_HEADER_LEN) b.len = hdr; /* no series */
    else record_end(&b, hdr);
    pthread_mutex_lock(&db->meta_mu);
    if (db->meta.n) {
        hdr = record_begin(&b, REC_METADATA);
        for (size_t i = 0; i < db->meta.cap; i++) {
            meta_entry_t *e = db->meta.e[i].v;
            if (!db->meta.e[i].k) continue;
            record_put_metadata(&b, e->metric, strlen(e->metric), e->type, strlen(e->type), e->help, strlen(e->help),
                                e->unit, strlen(e->unit));
        }
        record_end(&b, hdr);
    }
    pthread_mutex_unlock(&db->meta_mu);
    int rc = MS_OK;
    if (b.len) {
        uint64_t end;
        rc = wal_write(db->wal, b.data, b.len, INT64_MIN, &end);
        if (rc == MS_OK && db->opts.wal_fsync != WAL_FSYNC_NEVER) rc = wal_sync(db->wal, end);
    }
    buf_free(&b);
    return rc;
}

int db_apply_retention(db_t *db, int64_t now_ms)
{
    if (!db) return MS_EINVAL;
    int64_t cutoff = db->opts.retention_ms > 0 ? now_ms - db->opts.retention_ms : INT64_MIN;
    pthread_mutex_lock(&db->cut_mu);
    gclock_write_lock(&db->gc_lock, 100);
    head_gc(&db->head, cutoff);
    blocks_apply_retention(db, cutoff);
    int rc = MS_OK;
    if (db->opts.retention_ms > 0 && wal_deletable(db->wal, cutoff) > 0) {
        rc = wal_cut(db->wal);
        if (rc == MS_OK) rc = db_relog_live(db);
        uint64_t deleted = 0;
        if (rc == MS_OK) rc = wal_delete_before(db->wal, cutoff, &deleted);
        if (rc != MS_OK) log_warn("retention: WAL cleanup failed: %s", ms_strerror(rc));
        else if (deleted) log_info("retention: deleted %llu WAL segments", (unsigned long long)deleted);
    }
    gclock_write_unlock(&db->gc_lock);
    pthread_mutex_unlock(&db->cut_mu);
    return rc;
}
