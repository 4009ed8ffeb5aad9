/* wal.c owns WAL segment files: naming, framing checks on replay (torn tail truncation,
 * CRC32C, resync), the single-write() append path, group-commit fdatasync, the interval sync
 * thread, and deletion of segments wholly older than retention. Format: docs/format/wal.md. */
#include "storage/wal.h"
#include "storage/record.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/log.h"
#include "util/status.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const uint8_t SEG_MAGIC[4] = {'M', 'S', 'W', 'L'};
#define SEG_VERSION 1

typedef struct seginfo {
    uint32_t idx;
    int64_t maxt; /* newest sample time written to it; INT64_MIN if none */
    uint64_t size;
} seginfo_t;

struct wal {
    metrics_histogram_t fsync_seconds; /* latency of every fdatasync on the append path */
    char *dir;
    wal_opts_t o;
    pthread_mutex_t mu; /* guards fd, segs, written, broken (writers) */
    int fd;
    seginfo_t *segs; /* last one is open when fd >= 0 */
    size_t nsegs, capsegs;
    uint64_t written; /* logical bytes written since open */
    bool broken;
    uint32_t replaying; /* segment number inside wal_replay's callback */
    uint32_t floor;     /* lowest number for a new segment */

    pthread_mutex_t smu; /* group commit state */
    pthread_cond_t scond;
    bool syncing, sync_broken;
    int sync_fd;
    uint64_t pub_written, synced;

    pthread_t thr;
    bool thr_started, stop;
    pthread_mutex_t tmu;
    pthread_cond_t tcond;
};

static void seg_path(const wal_t *w, uint32_t idx, char *out, size_t n)
{
    snprintf(out, n, "%s/%08u", w->dir, idx);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return MS_EIO;
    int rc = fsync(fd);
    close(fd);
    return rc ? MS_EIO : MS_OK;
}

static void *interval_main(void *arg);

int wal_open(const char *dir, const wal_opts_t *o, wal_t **out, char *err, size_t err_len)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "mkdir %s: %s", dir, strerror(errno));
        return MS_EIO;
    }
    wal_t *w = xcalloc(1, sizeof(*w));
    metrics_histogram_init(&w->fsync_seconds, metrics_latency_buckets, metrics_latency_buckets_n);
    w->dir = xstrdup(dir);
    w->o = *o;
    if (w->o.segment_bytes < 4096) w->o.segment_bytes = 4096;
    w->fd = -1;
    w->sync_fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->smu, NULL);
    pthread_cond_init(&w->scond, NULL);
    pthread_mutex_init(&w->tmu, NULL);
    pthread_cond_init(&w->tcond, NULL);
    *out = w;
    return MS_OK;
}

/* ---- replay ---- */

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return MS_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return MS_EIO;
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *b = xmalloc(n ? n : 1);
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    *data = b;
    *len = got;
    return MS_OK;
}

static int idx_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void list_segments(wal_t *w, uint32_t **idx, size_t *n)
{
    *idx = NULL;
    *n = 0;
    size_t cap = 0;
    DIR *d = opendir(w->dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (strlen(s) != 8 || strspn(s, "0123456789") != 8) continue;
        unsigned long v = strtoul(s, NULL, 10);
        if (v == 0 || v > UINT32_MAX - 1) continue;
        if (*n == cap) XGROW(*idx, cap, *n + 1);
        (*idx)[(*n)++] = (uint32_t)v;
    }
    closedir(d);
    if (*n > 1) qsort(*idx, *n, sizeof(uint32_t), idx_cmp);
}

/* Replays one segment's records. last: this is the newest segment (a short tail is torn). */
static void replay_segment(wal_t *w, int pass, const char *path, const uint8_t *b, size_t len, bool last,
                           wal_record_fn fn, void *arg, wal_replay_stats_t *st, int64_t *maxt)
{
    bool report = pass == 1;
    if (len < WAL_SEG_HEADER_LEN || memcmp(b, SEG_MAGIC, 4) != 0 || b[4] != SEG_VERSION) {
        if (len == 0) return;
        if (report) {
            if (last && len < WAL_SEG_HEADER_LEN && memcmp(b, SEG_MAGIC, len < 4 ? len : 4) == 0) {
                log_warn("wal: %s: torn segment header (%zu bytes), truncating", path, len);
                st->torn++;
                if (truncate(path, 0) != 0) log_warn("wal: truncate %s: %s", path, strerror(errno));
            } else {
                log_warn("wal: %s: bad segment header, skipping segment", path);
                st->corrupt++;
            }
        }
        return;
    }
    cursor_t c;
    cursor_init(&c, b + WAL_SEG_HEADER_LEN, len - WAL_SEG_HEADER_LEN);
    bool resyncing = false; /* after a CRC failure the next header must check out */
    while (!cursor_done(&c)) {
        size_t off = len - cursor_left(&c);
        uint8_t type = cursor_u8(&c);
        uint32_t plen = cursor_u32le(&c);
        uint32_t crc = cursor_u32le(&c);
        if (!cursor_ok(&c) || plen > cursor_left(&c)) {
            if (!report) return;
            if (last && !resyncing) {
                log_warn("wal: %s: torn record at offset %zu, truncating %zu bytes", path, off, len - off);
                st->torn++;
                if (truncate(path, (off_t)off) != 0) log_warn("wal: truncate %s: %s", path, strerror(errno));
            } else {
                log_warn("wal: %s: record at offset %zu overruns the segment, skipping the rest", path, off);
                st->corrupt++;
            }
            return;
        }
        const uint8_t *p = cursor_bytes(&c, plen);
        if (crc32c(0, p, plen) != crc || type < REC_SERIES || type > REC_METADATA) {
            if (report) {
                log_warn("wal: %s: corrupt record at offset %zu (%s), skipping", path, off,
                         crc32c(0, p, plen) != crc ? "checksum mismatch" : "unknown type");
                st->corrupt++;
            }
            if (resyncing) {
                if (report) log_warn("wal: %s: cannot resync after offset %zu, skipping the rest", path, off);
                return;
            }
            resyncing = true;
            continue;
        }
        resyncing = false;
        int rc = fn(arg, pass, type, p, plen, maxt);
        if (report) {
            if (rc == MS_ECORRUPT) {
                log_warn("wal: %s: undecodable record at offset %zu, skipping", path, off);
                st->corrupt++;
            } else {
                st->records++;
            }
        }
    }
}

static int open_segment(wal_t *w, uint32_t idx)
{
    char path[PATH_MAX];
    seg_path(w, idx, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error("wal: create %s: %s", path, strerror(errno));
        return errno == ENOSPC ? MS_ENOSPC : MS_EIO;
    }
    uint8_t hdr[WAL_SEG_HEADER_LEN] = {'M', 'S', 'W', 'L', SEG_VERSION, 0, 0, 0};
    if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr)) {
        int e = errno;
        close(fd);
        unlink(path);
        return e == ENOSPC ? MS_ENOSPC : MS_EIO;
    }
    if (w->o.fsync != WAL_FSYNC_NEVER && (fdatasync(fd) != 0 || fsync_dir(w->dir) != 0)) {
        close(fd);
        return MS_EIO;
    }
    if (w->nsegs == w->capsegs) XGROW(w->segs, w->capsegs, w->nsegs + 1);
    w->segs[w->nsegs++] = (seginfo_t){idx, INT64_MIN, WAL_SEG_HEADER_LEN};
    w->fd = fd;
    return MS_OK;
}

int wal_replay(wal_t *w, wal_record_fn fn, void *arg, wal_replay_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    uint32_t *idx;
    size_t n;
    list_segments(w, &idx, &n);
    int64_t *maxts = xcalloc(n ? n : 1, sizeof(int64_t));
    for (size_t i = 0; i < n; i++) maxts[i] = INT64_MIN;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            char path[PATH_MAX];
            seg_path(w, idx[i], path, sizeof(path));
            uint8_t *b;
            size_t len;
            if (read_file(path, &b, &len) != MS_OK) {
                if (pass == 1) {
                    log_warn("wal: cannot read %s: %s", path, strerror(errno));
                    st->corrupt++;
                }
                continue;
            }
            w->replaying = idx[i];
            replay_segment(w, pass, path, b, len, i + 1 == n, fn, arg, st, &maxts[i]);
            free(b);
        }
    }
    /* register the replayed segments (sizes after any truncation) and open a fresh one */
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        seg_path(w, idx[i], path, sizeof(path));
        struct stat sb;
        uint64_t sz = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        if (w->nsegs == w->capsegs) XGROW(w->segs, w->capsegs, w->nsegs + 1);
        w->segs[w->nsegs++] = (seginfo_t){idx[i], maxts[i], sz};
    }
    uint32_t next = n ? idx[n - 1] + 1 : 1;
    if (next < w->floor) next = w->floor;
    free(idx);
    free(maxts);
    pthread_mutex_lock(&w->mu);
    int rc = open_segment(w, next);
    pthread_mutex_unlock(&w->mu);
    if (rc != MS_OK) return rc;
    w->sync_fd = w->fd;
    if (w->o.fsync == WAL_FSYNC_INTERVAL) {
        if (pthread_create(&w->thr, NULL, interval_main, w) == 0) w->thr_started = true;
    }
    return MS_OK;
}

/* ---- appending ---- */

/* fdatasync, observed in the fsync latency histogram. */
static int timed_fdatasync(wal_t *w, int fd)
{
    int64_t t0 = clock_mono_ns();
    int rc = fdatasync(fd);
    metrics_histogram_observe(&w->fsync_seconds, (double)(clock_mono_ns() - t0) / 1e9);
    return rc;
}

const metrics_histogram_t *wal_fsync_histogram(const wal_t *w) { return &w->fsync_seconds; }

/* Closes the open segment after making it durable and opens the next. Caller holds w->mu. */
static int rotate_locked(wal_t *w)
{
    pthread_mutex_lock(&w->smu);
    while (w->syncing) pthread_cond_wait(&w->scond, &w->smu);
    int rc = MS_OK;
    if (w->o.fsync != WAL_FSYNC_NEVER) {
        if (timed_fdatasync(w, w->fd) != 0) {
            w->sync_broken = true;
            rc = MS_EIO;
        } else if (w->pub_written > w->synced) {
            w->synced = w->pub_written;
        }
    }
    pthread_mutex_unlock(&w->smu);
    if (rc) {
        w->broken = true;
        return rc;
    }
    close(w->fd);
    w->fd = -1;
    rc = open_segment(w, w->segs[w->nsegs - 1].idx + 1);
    if (rc) {
        w->broken = true;
        return rc;
    }
    pthread_mutex_lock(&w->smu);
    w->sync_fd = w->fd;
    pthread_mutex_unlock(&w->smu);
    return MS_OK;
}

int wal_write(wal_t *w, const void *p, size_t n, int64_t maxt, uint64_t *end)
{
    pthread_mutex_lock(&w->mu);
    if (w->broken || w->fd < 0) {
        pthread_mutex_unlock(&w->mu);
        return MS_EIO;
    }
    seginfo_t *seg = &w->segs[w->nsegs - 1];
    if (seg->size + n > (uint64_t)w->o.segment_bytes && seg->size > WAL_SEG_HEADER_LEN) {
        int rc = rotate_locked(w);
        if (rc) {
            pthread_mutex_unlock(&w->mu);
            return rc;
        }
        seg = &w->segs[w->nsegs - 1];
    }
    const uint8_t *b = p;
    size_t done = 0;
    int err = 0;
    while (done < n) {
        ssize_t r = write(w->fd, b + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            err = r < 0 ? errno : ENOSPC;
            break;
        }
        done += (size_t)r;
    }
    if (err) {
        log_error("wal: write: %s", strerror(err));
        /* take the partial record back out so later records stay readable */
        if (done && (ftruncate(w->fd, (off_t)seg->size) != 0 || lseek(w->fd, (off_t)seg->size, SEEK_SET) < 0))
            w->broken = true;
        pthread_mutex_unlock(&w->mu);
        return err == ENOSPC ? MS_ENOSPC : MS_EIO;
    }
    seg->size += n;
    if (maxt > seg->maxt) seg->maxt = maxt;
    w->written += n;
    *end = w->written;
    pthread_mutex_lock(&w->smu);
    w->pub_written = w->written;
    pthread_mutex_unlock(&w->smu);
    pthread_mutex_unlock(&w->mu);
    return MS_OK;
}

int wal_sync(wal_t *w, uint64_t end)
{
    pthread_mutex_lock(&w->smu);
    while (!w->sync_broken && w->synced < end) {
        if (w->syncing) {
            pthread_cond_wait(&w->scond, &w->smu);
            continue;
        }
        w->syncing = true;
        int fd = w->sync_fd;
        uint64_t target = w->pub_written;
        pthread_mutex_unlock(&w->smu);
        int rc = timed_fdatasync(w, fd);
        if (rc != 0) log_error("wal: fdatasync: %s", strerror(errno));
        pthread_mutex_lock(&w->smu);
        w->syncing = false;
        if (rc != 0) w->sync_broken = true; /* fsync failure is not retryable: dirty pages may be gone */
        else if (target > w->synced) w->synced = target;
        pthread_cond_broadcast(&w->scond);
    }
    int ret = w->synced >= end ? MS_OK : MS_EIO;
    pthread_mutex_unlock(&w->smu);
    if (ret != MS_OK) {
        pthread_mutex_lock(&w->mu);
        w->broken = true;
        pthread_mutex_unlock(&w->mu);
    }
    return ret;
}

static void *interval_main(void *arg)
{
    wal_t *w = arg;
    int64_t iv = w->o.fsync_interval_ms > 0 ? w->o.fsync_interval_ms : 1000;
    pthread_mutex_lock(&w->tmu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (iv % 1000) * 1000000;
        ts.tv_sec += iv / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&w->tcond, &w->tmu, &ts);
        if (w->stop) break;
        pthread_mutex_unlock(&w->tmu);
        pthread_mutex_lock(&w->smu);
        uint64_t target = w->pub_written;
        pthread_mutex_unlock(&w->smu);
        wal_sync(w, target);
        pthread_mutex_lock(&w->tmu);
    }
    pthread_mutex_unlock(&w->tmu);
    return NULL;
}

uint64_t wal_size(wal_t *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t s = 0;
    for (size_t i = 0; i < w->nsegs; i++) s += w->segs[i].size;
    pthread_mutex_unlock(&w->mu);
    return s;
}

int wal_cut(wal_t *w)
{
    pthread_mutex_lock(&w->mu);
    int rc = w->broken || w->fd < 0 ? MS_EIO : rotate_locked(w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Segments [0, k) are deletable: a prefix of closed segments all older than cutoff. */
static size_t deletable_locked(wal_t *w, int64_t cutoff)
{
    size_t k = 0;
    while (k + 1 < w->nsegs && w->segs[k].maxt < cutoff) k++;
    return k;
}

size_t wal_deletable(wal_t *w, int64_t cutoff)
{
    pthread_mutex_lock(&w->mu);
    size_t k = w->fd >= 0 ? deletable_locked(w, cutoff) : 0;
    pthread_mutex_unlock(&w->mu);
    return k;
}

uint32_t wal_replaying_segment(const wal_t *w) { return w->replaying; }

void wal_set_segment_floor(wal_t *w, uint32_t idx) { w->floor = idx; }

uint32_t wal_open_segment_idx(wal_t *w)
{
    pthread_mutex_lock(&w->mu);
    uint32_t idx = w->nsegs ? w->segs[w->nsegs - 1].idx : 0;
    pthread_mutex_unlock(&w->mu);
    return idx;
}

int wal_delete_before(wal_t *w, int64_t cutoff, uint64_t *deleted)
{
    return wal_delete_upto(w, UINT32_MAX, cutoff, deleted);
}

int wal_delete_upto(wal_t *w, uint32_t below, int64_t cutoff, uint64_t *deleted)
{
    *deleted = 0;
    pthread_mutex_lock(&w->mu);
    size_t k = w->fd >= 0 ? deletable_locked(w, cutoff) : 0;
    while (k > 0 && w->segs[k - 1].idx >= below) k--;
    int rc = MS_OK;
    size_t i = 0;
    for (; i < k; i++) {
        char path[PATH_MAX];
        seg_path(w, w->segs[i].idx, path, sizeof(path));
        if (unlink(path) != 0 && errno != ENOENT) {
            log_warn("wal: unlink %s: %s", path, strerror(errno));
            rc = MS_EIO;
            break;
        }
        (*deleted)++;
    }
    if (i) memmove(&w->segs[0], &w->segs[i], (w->nsegs - i) * sizeof(seginfo_t));
    w->nsegs -= i;
    pthread_mutex_unlock(&w->mu);
    if (i && w->o.fsync != WAL_FSYNC_NEVER) fsync_dir(w->dir);
    return rc;
}

void wal_close(wal_t *w)
{
    if (!w) return;
    if (w->thr_started) {
        pthread_mutex_lock(&w->tmu);
        w->stop = true;
        pthread_cond_signal(&w->tcond);
        pthread_mutex_unlock(&w->tmu);
        pthread_join(w->thr, NULL);
    }
    if (w->fd >= 0) {
        if (w->o.fsync != WAL_FSYNC_NEVER && fdatasync(w->fd) != 0)
            log_error("wal: fdatasync on close: %s", strerror(errno));
        close(w->fd);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->smu);
    pthread_cond_destroy(&w->scond);
    pthread_mutex_destroy(&w->tmu);
    pthread_cond_destroy(&w->tcond);
    free(w->segs);
    free(w->dir);
    free(w);
}
