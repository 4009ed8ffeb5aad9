/* wal.c owns WAL segment files: naming, framing checks on replay (torn tail truncation,
 * CRC32C, resync, the cut left by a write fault), the single-write() append path, group-commit
 * fdatasync, the interval sync thread, recovery from write/fsync faults, and deletion of segments
 * wholly older than retention. Format: docs/format/wal.md.
 *
 * Faults: a failed write whose partial bytes can be cut off again (ENOSPC) leaves the segment in
 * use. Any other failure (fsync, EIO, a failed truncate, a failed segment creation) puts the WAL
 * in the fault state and "recovers" at once (before the failure is reported): it truncates the
 * open segment back to its last good length (fdatasynced bytes under fsync=always), closes it
 * and creates a new segment whose header records that length, so replay ignores whatever the
 * kernel may still write of the old tail. If that fails, the next wal_write or wal_cut retries
 * it first; until it succeeds every write fails with the original kind of error (MS_ENOSPC or
 * MS_EIO), and nothing is acknowledged. */
#include "storage/wal.h"
#include "storage/record.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/fio.h"
#include "util/log.h"
#include "util/mapread.h"
#include "util/status.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const uint8_t SEG_MAGIC[4] = {'M', 'S', 'W', 'L'};
#define SEG_VERSION 1
#define SEG_FLAG_CUT 1u /* header carries the good length of the previous segment */
#define SEG_CUT_HEADER_LEN (WAL_SEG_HEADER_LEN + 16)
#define FAIL_LOG_EVERY_NS (30LL * 1000000000LL)

typedef struct seginfo {
    uint32_t idx;
    int64_t maxt; /* newest sample time written to it; INT64_MIN if none */
    uint64_t size;
} seginfo_t;

typedef struct lost_range {
    uint64_t lo, hi; /* logical ends in (lo, hi] were cut away by a recovery: never synced */
} lost_range_t;

struct wal {
    metrics_histogram_t fsync_seconds; /* latency of every fdatasync on the append path */
    char *dir;
    wal_opts_t o;
    pthread_mutex_t mu; /* guards fd, segs, written, fault, seg_base, seg_hdr (writers) */
    int fd;
    seginfo_t *segs; /* last one is open when fd >= 0 */
    size_t nsegs, capsegs;
    uint64_t written;  /* logical bytes written since open */
    uint64_t seg_base; /* logical offset of the open segment's first record byte */
    uint64_t seg_hdr;  /* header length of the open segment */
    bool fault;        /* must recover (cut to a new segment) before the next write */
    bool closed_cut;   /* after a fault: the old segment was closed, its good length is cut_len */
    uint32_t cut_idx;
    uint64_t cut_len;
    uint32_t replaying; /* segment number inside wal_replay's callback */
    uint32_t floor;     /* lowest number for a new segment */

    pthread_mutex_t smu; /* group commit state */
    pthread_cond_t scond;
    bool syncing, sync_broken;
    int sync_fd;
    uint64_t pub_written, synced;
    lost_range_t *lost; /* guarded by smu */
    size_t nlost, caplost;

    pthread_mutex_t lmu; /* fault logging state */
    atomic_bool degraded;
    uint64_t fails_since; /* failed attempts since the last success */
    int64_t fail_logged_ns;
    atomic_uint_fast64_t failures;

    pthread_t thr;
    bool thr_started, stop;
    pthread_mutex_t tmu;
    pthread_cond_t tcond;
};

static void seg_path_in(const char *dir, uint32_t idx, char *out, size_t n)
{
    snprintf(out, n, "%s/%08u", dir, idx);
}

static void seg_path(const wal_t *w, uint32_t idx, char *out, size_t n) { seg_path_in(w->dir, idx, out, n); }

static void *interval_main(void *arg);

int wal_open(const char *dir, const wal_opts_t *o, wal_t **out, char *err, size_t err_len)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "mkdir %s: %s", dir, strerror(errno));
        return fio_errno_status(errno);
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
    pthread_mutex_init(&w->lmu, NULL);
    pthread_mutex_init(&w->tmu, NULL);
    pthread_cond_init(&w->tcond, NULL);
    atomic_init(&w->degraded, false);
    atomic_init(&w->failures, 0);
    *out = w;
    return MS_OK;
}

/* ---- fault bookkeeping ---- */

/* Counts a failed attempt to persist; logs the first one of a run loudly and the rest at most
 * every 30 s, so a full disk under load does not flood the log. */
static void note_failure(wal_t *w, const char *what, int rc, int err)
{
    atomic_fetch_add(&w->failures, 1);
    int64_t now = clock_mono_ns();
    pthread_mutex_lock(&w->lmu);
    w->fails_since++;
    if (!atomic_load(&w->degraded)) {
        atomic_store(&w->degraded, true);
        w->fail_logged_ns = now;
        log_error("wal: %s failed: %s (%s); storage is not ready for writes: they are refused with 503 "
                  "until the disk accepts them again", what, err ? strerror(err) : "no progress", ms_strerror(rc));
    } else if (now - w->fail_logged_ns >= FAIL_LOG_EVERY_NS) {
        w->fail_logged_ns = now;
        log_warn("wal: still cannot persist writes: %s failed: %s (%llu failed attempts so far)", what,
                 err ? strerror(err) : "no progress", (unsigned long long)w->fails_since);
    }
    pthread_mutex_unlock(&w->lmu);
}

/* A write (or sync) went through: leave the degraded state, once. */
static void note_success(wal_t *w)
{
    if (!atomic_load(&w->degraded)) return;
    pthread_mutex_lock(&w->lmu);
    if (atomic_load(&w->degraded)) {
        atomic_store(&w->degraded, false);
        log_info("wal: writes persist again after %llu failed attempts; storage is ready for writes",
                 (unsigned long long)w->fails_since);
        w->fails_since = 0;
    }
    pthread_mutex_unlock(&w->lmu);
}

uint64_t wal_write_failures(const wal_t *w) { return atomic_load(&((wal_t *)w)->failures); }

bool wal_writable(const wal_t *w) { return !atomic_load(&((wal_t *)w)->degraded); }

/* ---- segment headers ---- */

typedef struct seg_header {
    size_t len;       /* 0: not a valid header */
    bool cut;         /* carries the good length of segment cut_idx */
    uint32_t cut_idx;
    uint64_t cut_len;
} seg_header_t;

/* Parses a segment header through the cursor. *torn: the bytes are a valid prefix of a header. */
static seg_header_t parse_header(const uint8_t *b, size_t len, bool *torn)
{
    seg_header_t h = {0};
    *torn = false;
    size_t m = len < 4 ? len : 4;
    if (memcmp(b, SEG_MAGIC, m) != 0) return h;
    if (len < WAL_SEG_HEADER_LEN) {
        *torn = true;
        return h;
    }
    cursor_t c;
    cursor_init(&c, b, len);
    cursor_bytes(&c, 4);
    uint8_t version = cursor_u8(&c), flags = cursor_u8(&c);
    uint8_t r0 = cursor_u8(&c), r1 = cursor_u8(&c);
    if (!cursor_ok(&c) || version != SEG_VERSION || r0 || r1 || (flags & ~SEG_FLAG_CUT)) return h;
    if (!(flags & SEG_FLAG_CUT)) {
        h.len = WAL_SEG_HEADER_LEN;
        return h;
    }
    if (len < SEG_CUT_HEADER_LEN) {
        *torn = true;
        return h;
    }
    h.cut_idx = cursor_u32le(&c);
    h.cut_len = cursor_u64le(&c);
    uint32_t crc = cursor_u32le(&c);
    if (!cursor_ok(&c) || crc != crc32c(0, b, SEG_CUT_HEADER_LEN - 4) || h.cut_len < WAL_SEG_HEADER_LEN) return h;
    h.cut = true;
    h.len = SEG_CUT_HEADER_LEN;
    return h;
}

static size_t build_header(uint8_t *hdr, bool cut, uint32_t cut_idx, uint64_t cut_len)
{
    memcpy(hdr, SEG_MAGIC, 4);
    hdr[4] = SEG_VERSION;
    hdr[5] = cut ? SEG_FLAG_CUT : 0;
    hdr[6] = hdr[7] = 0;
    if (!cut) return WAL_SEG_HEADER_LEN;
    for (int i = 0; i < 4; i++) hdr[8 + i] = (uint8_t)(cut_idx >> (8 * i));
    for (int i = 0; i < 8; i++) hdr[12 + i] = (uint8_t)(cut_len >> (8 * i));
    uint32_t crc = crc32c(0, hdr, SEG_CUT_HEADER_LEN - 4);
    for (int i = 0; i < 4; i++) hdr[20 + i] = (uint8_t)(crc >> (8 * i));
    return SEG_CUT_HEADER_LEN;
}

/* ---- replay ---- */

/* Opens path for reading and tells its size; on failure nothing is left open (errno kept). */
static int open_sized(const char *path, int *fd, size_t *size)
{
    int rc = fio_open(path, O_RDONLY, 0, fd);
    if (rc != MS_OK) return rc;
    struct stat st;
    if (fstat(*fd, &st) != 0) {
        int e = errno;
        close(*fd);
        errno = e;
        return MS_EIO;
    }
    *size = (size_t)st.st_size;
    return MS_OK;
}

static int read_file(const char *path, size_t max, uint8_t **data, size_t *len)
{
    int fd;
    size_t n, got = 0;
    int rc = open_sized(path, &fd, &n);
    if (rc != MS_OK) return rc;
    if (n > max) n = max;
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

static void list_segments(const char *dir, uint32_t **idx, size_t *n)
{
    *idx = NULL;
    *n = 0;
    size_t cap = 0;
    DIR *d = opendir(dir);
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

/* A good samples record found by the framing pass, applied in the samples pass. */
typedef struct pending_rec {
    size_t seg;         /* index into wal_replay's segment arrays */
    const uint8_t *p;   /* payload, inside that segment's mapping */
    uint32_t len;
} pending_rec_t;

typedef struct pending_list {
    pending_rec_t *v;
    size_t n, cap;
} pending_list_t;

/* Checks one segment's framing and CRCs (the only pass that reads every byte), hands series and
 * metadata records to fn (pass 0) and queues samples records for pass 1. last: this is the
 * newest segment (a short tail is torn). limit: the good length a later segment's header
 * recorded after a write fault (SIZE_MAX if none); bytes past it were never acknowledged and
 * are ignored. */
static void scan_segment(wal_t *w, size_t seg, const char *path, const uint8_t *b, size_t len, bool mapped,
                         bool last, size_t limit, wal_record_fn fn, void *arg, wal_replay_stats_t *st,
                         int64_t *maxt, pending_list_t *pend, size_t *file_len)
{
    mapread_t win;
    mapread_init(&win, b, len, mapped);
    if (len == 0) return;
    bool torn;
    seg_header_t h = parse_header(b, len, &torn);
    if (!h.len) {
        if (last && torn) {
            log_warn("wal: %s: torn segment header (%zu bytes), truncating", path, len);
            st->torn++;
            if (truncate(path, 0) != 0) log_warn("wal: truncate %s: %s", path, strerror(errno));
            *file_len = 0;
        } else {
            log_warn("wal: %s: bad segment header, skipping segment", path);
            st->corrupt++;
        }
        return;
    }
    if (len > limit) {
        log_info("wal: %s: ignoring %zu bytes after offset %zu (written before a write fault, never acknowledged)",
                 path, len - limit, limit);
        len = limit < h.len ? h.len : limit;
    }
    cursor_t c;
    cursor_init(&c, b + h.len, len - h.len);
    bool resyncing = false; /* after a CRC failure the next header must check out */
    while (!cursor_done(&c)) {
        size_t off = len - cursor_left(&c);
        uint8_t type = cursor_u8(&c);
        uint32_t plen = cursor_u32le(&c);
        uint32_t crc = cursor_u32le(&c);
        if (!cursor_ok(&c) || plen > cursor_left(&c)) {
            if (last && !resyncing) {
                log_warn("wal: %s: torn record at offset %zu, truncating %zu bytes", path, off, len - off);
                st->torn++;
                /* the mapping stays valid below off, the only part anything points into */
                if (truncate(path, (off_t)off) != 0) log_warn("wal: truncate %s: %s", path, strerror(errno));
                *file_len = off; /* pages past it may no longer be touched */
            } else {
                log_warn("wal: %s: record at offset %zu overruns the segment, skipping the rest", path, off);
                st->corrupt++;
            }
            return;
        }
        const uint8_t *p = cursor_bytes(&c, plen);
        bool crc_ok = crc32c(0, p, plen) == crc;
        mapread_at(&win, p);
        if (!crc_ok || type < REC_SERIES || type > REC_METADATA) {
            log_warn("wal: %s: corrupt record at offset %zu (%s), skipping", path, off,
                     crc_ok ? "unknown type" : "checksum mismatch");
            st->corrupt++;
            if (resyncing) {
                log_warn("wal: %s: cannot resync after offset %zu, skipping the rest", path, off);
                return;
            }
            resyncing = true;
            continue;
        }
        resyncing = false;
        if (type == REC_SAMPLES) {
            if (pend->n == pend->cap) XGROW(pend->v, pend->cap, pend->n + 1);
            pend->v[pend->n++] = (pending_rec_t){seg, p, plen};
            continue;
        }
        if (fn(arg, 0, type, p, plen, maxt) == MS_ECORRUPT) {
            log_warn("wal: %s: undecodable record at offset %zu, skipping", path, off);
            st->corrupt++;
        } else {
            st->records++;
        }
    }
}

/* A segment file's bytes for replay: mapped read-only (no copy, nothing zeroed), or read into
 * memory where mapping fails. */
typedef struct seg_bytes {
    uint8_t *b;
    size_t len;   /* of the mapping or buffer */
    size_t valid; /* bytes still in the file (less after a torn tail was truncated) */
    bool mapped;
} seg_bytes_t;

static int seg_load(const char *path, seg_bytes_t *out)
{
    memset(out, 0, sizeof(*out));
    int fd;
    size_t size;
    int rc = open_sized(path, &fd, &size);
    if (rc != MS_OK) return rc;
    if (size > 0) {
        void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) (void)madvise(m, size, MADV_SEQUENTIAL); /* read ahead, drop behind */
        if (m != MAP_FAILED) {
            close(fd);
            out->b = m;
            out->len = size;
            out->mapped = true;
            return MS_OK;
        }
    }
    close(fd);
    return read_file(path, SIZE_MAX, &out->b, &out->len);
}

static void seg_unload(seg_bytes_t *s)
{
    if (s->mapped) munmap(s->b, s->len);
    else free(s->b);
    memset(s, 0, sizeof(*s));
}

/* Creates segment idx with a header (recording the previous segment's good length if cut),
 * makes it durable, and makes it the open segment. On failure nothing is left behind (best
 * effort) and the state is unchanged. Caller holds w->mu (or is single-threaded). */
static int open_segment(wal_t *w, uint32_t idx, bool cut, uint32_t cut_idx, uint64_t cut_len)
{
    char path[PATH_MAX];
    seg_path(w, idx, path, sizeof(path));
    int fd;
    int rc = fio_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd);
    if (rc != MS_OK) {
        note_failure(w, "creating a WAL segment", rc, errno);
        return rc == MS_ENOSPC ? MS_ENOSPC : MS_EIO;
    }
    uint8_t hdr[SEG_CUT_HEADER_LEN];
    size_t hl = build_header(hdr, cut, cut_idx, cut_len);
    const char *what = "writing a WAL segment header";
    rc = fio_write_all(fd, hdr, hl, NULL);
    if (rc == MS_OK && w->o.fsync != WAL_FSYNC_NEVER) {
        what = "syncing a new WAL segment";
        rc = fio_fdatasync(fd);
        if (rc == MS_OK) rc = fio_fsync_dir(w->dir);
    }
    if (rc != MS_OK) {
        int e = errno;
        note_failure(w, what, rc, e);
        close(fd);
        unlink(path);
        return rc == MS_ENOSPC ? MS_ENOSPC : MS_EIO;
    }
    if (w->nsegs == w->capsegs) XGROW(w->segs, w->capsegs, w->nsegs + 1);
    w->segs[w->nsegs++] = (seginfo_t){idx, INT64_MIN, hl};
    w->fd = fd;
    w->seg_base = w->written;
    w->seg_hdr = hl;
    return MS_OK;
}

/* Registers the segments replay covered (in order) and opens a fresh one for appends: the end
 * of wal_replay, and all of wal_resume. A failure to create the segment leaves the WAL in the
 * fault state (writes refused until one can be created) rather than failing the open. */
static void start_appending(wal_t *w, const wal_seg_state_t *segs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (w->nsegs == w->capsegs) XGROW(w->segs, w->capsegs, w->nsegs + 1);
        w->segs[w->nsegs++] = (seginfo_t){segs[i].idx, segs[i].maxt, segs[i].size};
    }
    uint32_t next = n ? segs[n - 1].idx + 1 : 1;
    if (next < w->floor) next = w->floor;
    pthread_mutex_lock(&w->mu);
    int rc = open_segment(w, next, false, 0, 0);
    if (rc != MS_OK) {
        /* a full or failing disk at start: serve what was replayed, refuse writes until a
         * segment can be created (every wal_write retries) */
        log_error("wal: cannot start a new segment (%s); starting with writes refused until the disk accepts them",
                  ms_strerror(rc));
        w->fault = true;
    }
    pthread_mutex_unlock(&w->mu);
    if (rc == MS_OK) note_success(w);
    w->sync_fd = w->fd;
    if (w->o.fsync == WAL_FSYNC_INTERVAL) {
        if (pthread_create(&w->thr, NULL, interval_main, w) == 0) w->thr_started = true;
    }
}

int wal_replay(wal_t *w, wal_record_fn fn, void *arg, wal_replay_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    uint32_t *idx;
    size_t n;
    list_segments(w->dir, &idx, &n);
    int64_t *maxts = xcalloc(n ? n : 1, sizeof(int64_t));
    size_t *limits = xcalloc(n ? n : 1, sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        maxts[i] = INT64_MIN;
        limits[i] = SIZE_MAX;
    }
    /* a segment started after a write fault names the good length of the one it replaced */
    for (size_t i = 1; i < n; i++) {
        char path[PATH_MAX];
        seg_path(w, idx[i], path, sizeof(path));
        uint8_t *b;
        size_t len;
        if (read_file(path, SEG_CUT_HEADER_LEN, &b, &len) != MS_OK) continue;
        bool torn;
        seg_header_t h = parse_header(b, len, &torn);
        free(b);
        if (!h.cut) continue;
        for (size_t j = 0; j < i; j++)
            if (idx[j] == h.cut_idx && h.cut_len < limits[j]) limits[j] = (size_t)h.cut_len;
    }
    /* pass 0: every byte is read once (framing, CRCs, series, metadata); pass 1: the samples
     * records it queued, once every series record of every segment is known */
    seg_bytes_t *segs = xcalloc(n ? n : 1, sizeof(seg_bytes_t));
    pending_list_t pend = {0};
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        seg_path(w, idx[i], path, sizeof(path));
        if (seg_load(path, &segs[i]) != MS_OK) {
            log_warn("wal: cannot read %s: %s", path, strerror(errno));
            st->corrupt++;
            continue;
        }
        w->replaying = idx[i];
        segs[i].valid = segs[i].len;
        scan_segment(w, i, path, segs[i].b, segs[i].len, segs[i].mapped, i + 1 == n, limits[i], fn, arg, st,
                     &maxts[i], &pend, &segs[i].valid);
        /* out of this process's memory (not out of the page cache) until pass 1 reads it again:
         * a WAL of many segments must not be resident all at once */
        if (segs[i].mapped) (void)madvise(segs[i].b, segs[i].len, MADV_DONTNEED);
    }
    size_t unloaded = 0; /* segments below it are done with */
    mapread_t win = {0};
    for (size_t k = 0; k < pend.n; k++) {
        const pending_rec_t *r = &pend.v[k];
        if (win.base != segs[r->seg].b) mapread_init(&win, segs[r->seg].b, segs[r->seg].valid, segs[r->seg].mapped);
        while (unloaded < r->seg) seg_unload(&segs[unloaded++]);
        mapread_at(&win, r->p);
        w->replaying = idx[r->seg];
        if (k + 1 < pend.n) __builtin_prefetch(pend.v[k + 1].p);
        if (fn(arg, 1, REC_SAMPLES, r->p, r->len, &maxts[r->seg]) == MS_ECORRUPT) {
            char path[PATH_MAX];
            seg_path(w, idx[r->seg], path, sizeof(path));
            log_warn("wal: %s: undecodable samples record at offset %zu, skipping", path,
                     (size_t)(r->p - segs[r->seg].b) - REC_HEADER_LEN);
            st->corrupt++;
        } else {
            st->records++;
        }
    }
    w->replaying = 0;
    free(pend.v);
    for (size_t i = 0; i < n; i++) seg_unload(&segs[i]);
    free(segs);
    /* register the replayed segments (sizes after any truncation) and open a fresh one */
    wal_seg_state_t *done = xcalloc(n ? n : 1, sizeof(wal_seg_state_t));
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        seg_path(w, idx[i], path, sizeof(path));
        struct stat sb;
        done[i] = (wal_seg_state_t){idx[i], maxts[i], stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0, 0};
    }
    free(idx);
    free(maxts);
    free(limits);
    start_appending(w, done, n);
    free(done);
    return MS_OK;
}

int wal_resume(wal_t *w, const wal_seg_state_t *segs, size_t n)
{
    start_appending(w, segs, n);
    return MS_OK;
}

size_t wal_seg_states(wal_t *w, wal_seg_state_t **out)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->nsegs;
    *out = xcalloc(n ? n : 1, sizeof(wal_seg_state_t));
    for (size_t i = 0; i < n; i++) (*out)[i] = (wal_seg_state_t){w->segs[i].idx, w->segs[i].maxt, w->segs[i].size, 0};
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* CRC32C of a whole file, read through a bounded resident window. */
static int file_crc(const char *path, uint32_t *crc)
{
    seg_bytes_t sb;
    int rc = seg_load(path, &sb);
    if (rc != MS_OK) return rc;
    *crc = mapread_crc32c(sb.b, sb.len, sb.mapped);
    seg_unload(&sb);
    return MS_OK;
}

int wal_list_dir(const char *dir, bool with_crc, wal_seg_state_t **out, size_t *n)
{
    uint32_t *idx;
    list_segments(dir, &idx, n);
    *out = xcalloc(*n ? *n : 1, sizeof(wal_seg_state_t));
    int rc = MS_OK;
    for (size_t i = 0; i < *n && rc == MS_OK; i++) {
        char path[PATH_MAX];
        seg_path_in(dir, idx[i], path, sizeof(path));
        struct stat sb;
        if (stat(path, &sb) != 0) {
            rc = MS_EIO;
            break;
        }
        (*out)[i] = (wal_seg_state_t){idx[i], INT64_MIN, (uint64_t)sb.st_size, 0};
        if (with_crc) rc = file_crc(path, &(*out)[i].crc);
    }
    free(idx);
    return rc;
}

bool wal_clean(const wal_t *w)
{
    return w && !w->fault && !w->sync_broken && w->fd >= 0 && !atomic_load(&w->degraded);
}

/* ---- appending ---- */

/* fdatasync, observed in the fsync latency histogram. */
static int timed_fdatasync(wal_t *w, int fd)
{
    int64_t t0 = clock_mono_ns();
    int rc = fio_fdatasync(fd);
    metrics_histogram_observe(&w->fsync_seconds, (double)(clock_mono_ns() - t0) / 1e9);
    return rc;
}

const metrics_histogram_t *wal_fsync_histogram(const wal_t *w) { return &w->fsync_seconds; }

static uint32_t next_idx(const wal_t *w)
{
    uint32_t next = w->nsegs ? w->segs[w->nsegs - 1].idx + 1 : 1;
    return next < w->floor ? w->floor : next;
}

/* Leaves the fault state: cuts the open segment back to its good length (the fdatasynced bytes
 * under fsync=always, everything written otherwise), closes it, and starts a new segment whose
 * header records that length. Waiters on the cut-off bytes get MS_EIO from wal_sync. Safe to
 * call again after a failure: it resumes where it stopped. Caller holds w->mu. */
static int recover_locked(wal_t *w)
{
    pthread_mutex_lock(&w->smu);
    while (w->syncing) pthread_cond_wait(&w->scond, &w->smu);
    if (w->fd >= 0) {
        seginfo_t *seg = &w->segs[w->nsegs - 1];
        uint64_t good = seg->size;
        if (w->o.fsync == WAL_FSYNC_ALWAYS) {
            uint64_t rel = w->seg_hdr + (w->synced > w->seg_base ? w->synced - w->seg_base : 0);
            if (rel < good) good = rel;
        }
        if (w->written > w->synced) {
            if (w->nlost == w->caplost) XGROW(w->lost, w->caplost, w->nlost + 1);
            w->lost[w->nlost++] = (lost_range_t){w->synced, w->written};
        }
        w->synced = w->pub_written = w->written; /* nothing left to sync on the old fd */
        w->sync_fd = -1;
        pthread_mutex_unlock(&w->smu);
        if (fio_ftruncate(w->fd, (off_t)good) != MS_OK)
            log_warn("wal: truncating segment %08u to %llu bytes after a fault: %s (replay ignores the rest)",
                     seg->idx, (unsigned long long)good, strerror(errno));
        if (w->o.fsync == WAL_FSYNC_INTERVAL && good > w->seg_hdr)
            log_warn("wal: segment %08u: a sync failed under --wal-fsync=interval; up to one interval of "
                     "acknowledged samples may not be on disk", seg->idx);
        close(w->fd);
        w->fd = -1;
        seg->size = good;
        w->closed_cut = true;
        w->cut_idx = seg->idx;
        w->cut_len = good;
    } else {
        pthread_mutex_unlock(&w->smu);
    }
    int rc = open_segment(w, next_idx(w), w->closed_cut, w->cut_idx, w->cut_len);
    if (rc != MS_OK) return rc;
    if (w->closed_cut)
        log_info("wal: started segment %08u after a write fault; segment %08u ends at byte %llu",
                 w->segs[w->nsegs - 1].idx, w->cut_idx, (unsigned long long)w->cut_len);
    w->closed_cut = false;
    w->fault = false;
    pthread_mutex_lock(&w->smu);
    w->sync_fd = w->fd;
    w->sync_broken = false;
    pthread_mutex_unlock(&w->smu);
    return MS_OK;
}

/* Closes the open segment after making it durable and opens the next. Caller holds w->mu. */
static int rotate_locked(wal_t *w)
{
    pthread_mutex_lock(&w->smu);
    while (w->syncing) pthread_cond_wait(&w->scond, &w->smu);
    int rc = MS_OK;
    if (w->sync_broken) {
        rc = MS_EIO;
    } else if (w->o.fsync != WAL_FSYNC_NEVER) {
        rc = timed_fdatasync(w, w->fd);
        if (rc != MS_OK) {
            note_failure(w, "fdatasync of the WAL segment being closed", rc, errno);
            w->sync_broken = true;
        }
    }
    if (rc == MS_OK) {
        w->synced = w->pub_written = w->written;
        w->sync_fd = -1;
    }
    pthread_mutex_unlock(&w->smu);
    if (rc != MS_OK) {
        w->fault = true;
        return recover_locked(w); /* cuts the unsynced tail and starts the next segment anyway */
    }
    close(w->fd);
    w->fd = -1;
    rc = open_segment(w, next_idx(w), false, 0, 0);
    if (rc != MS_OK) {
        w->fault = true; /* the next write retries creating the segment */
        return rc;
    }
    pthread_mutex_lock(&w->smu);
    w->sync_fd = w->fd;
    pthread_mutex_unlock(&w->smu);
    return MS_OK;
}

/* Recovers first if a write or sync failed since. Caller holds w->mu. */
static int ready_locked(wal_t *w)
{
    if (w->fd < 0 && !w->fault) return MS_EIO; /* not replayed yet */
    pthread_mutex_lock(&w->smu);
    if (w->sync_broken) w->fault = true;
    pthread_mutex_unlock(&w->smu);
    return w->fault ? recover_locked(w) : MS_OK;
}

int wal_write(wal_t *w, const void *p, size_t n, int64_t maxt, uint64_t *end)
{
    pthread_mutex_lock(&w->mu);
    int rc = ready_locked(w);
    if (rc != MS_OK) {
        pthread_mutex_unlock(&w->mu);
        return rc;
    }
    seginfo_t *seg = &w->segs[w->nsegs - 1];
    if (seg->size + n > (uint64_t)w->o.segment_bytes && seg->size > w->seg_hdr) {
        rc = rotate_locked(w);
        if (rc != MS_OK) {
            pthread_mutex_unlock(&w->mu);
            return rc;
        }
        seg = &w->segs[w->nsegs - 1];
    }
    size_t done = 0;
    rc = fio_write_all(w->fd, p, n, &done);
    if (rc != MS_OK) {
        int e = errno;
        note_failure(w, "WAL write", rc, e);
        /* ENOSPC: cut the partial record back out and keep the segment; anything else (EIO, a
         * failed cut): do not trust this segment's tail, start a new one on the next write */
        if (rc != MS_ENOSPC ||
            (done && (fio_ftruncate(w->fd, (off_t)seg->size) != MS_OK || lseek(w->fd, (off_t)seg->size, SEEK_SET) < 0))) {
            w->fault = true;
            recover_locked(w); /* now, so a crash before the next write cannot replay the torn tail */
        }
        pthread_mutex_unlock(&w->mu);
        return rc == MS_ENOSPC ? MS_ENOSPC : MS_EIO;
    }
    seg->size += n;
    if (maxt > seg->maxt) seg->maxt = maxt;
    w->written += n;
    *end = w->written;
    pthread_mutex_lock(&w->smu);
    w->pub_written = w->written;
    pthread_mutex_unlock(&w->smu);
    pthread_mutex_unlock(&w->mu);
    if (w->o.fsync != WAL_FSYNC_ALWAYS) note_success(w);
    return MS_OK;
}

static bool lost_locked(const wal_t *w, uint64_t end)
{
    for (size_t i = w->nlost; i-- > 0;)
        if (end > w->lost[i].lo && end <= w->lost[i].hi) return true;
    return false;
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
        int e = errno;
        pthread_mutex_lock(&w->smu);
        w->syncing = false;
        if (rc != MS_OK) {
            note_failure(w, "WAL fdatasync", rc, e);
            w->sync_broken = true; /* not retryable on this fd: dirty pages may be gone */
        } else if (target > w->synced) {
            w->synced = target;
        }
        pthread_cond_broadcast(&w->scond);
    }
    int ret = w->synced >= end && !lost_locked(w, end) ? MS_OK : MS_EIO;
    bool broken = w->sync_broken;
    pthread_mutex_unlock(&w->smu);
    if (ret == MS_OK && end) note_success(w);
    if (broken) {
        /* cut the unsynced tail away before the caller reports the failure, so a crash right
         * after that cannot bring a refused batch back at replay; retried by the next write */
        pthread_mutex_lock(&w->mu);
        if (w->fd >= 0) ready_locked(w);
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
        bool todo = target > w->synced && !w->sync_broken;
        pthread_mutex_unlock(&w->smu);
        if (todo) wal_sync(w, target);
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
    int rc;
    if (w->fd < 0 && !w->fault) {
        rc = MS_EIO;
    } else {
        pthread_mutex_lock(&w->smu);
        if (w->sync_broken) w->fault = true;
        pthread_mutex_unlock(&w->smu);
        if (!w->fault && w->fd >= 0 && w->segs[w->nsegs - 1].size == w->seg_hdr)
            rc = MS_OK; /* the open segment holds no record yet: it already is a fresh one (a cut
                           failing every second no longer leaves an empty segment each time) */
        else
            rc = w->fault ? recover_locked(w) : rotate_locked(w); /* a recovery is itself a cut */
    }
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
    if (i && w->o.fsync != WAL_FSYNC_NEVER) fio_fsync_dir(w->dir);
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
        if (w->o.fsync != WAL_FSYNC_NEVER && !w->sync_broken && fio_fdatasync(w->fd) != MS_OK)
            log_error("wal: fdatasync on close: %s", strerror(errno));
        close(w->fd);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->smu);
    pthread_cond_destroy(&w->scond);
    pthread_mutex_destroy(&w->lmu);
    pthread_mutex_destroy(&w->tmu);
    pthread_cond_destroy(&w->tcond);
    free(w->lost);
    free(w->segs);
    free(w->dir);
    free(w);
}
