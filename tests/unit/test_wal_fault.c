/* test_wal_fault.c tests the WAL under real write faults, without hooks in the WAL: the open
 * segment's descriptor is swapped (dup2) for /dev/full (write -> ENOSPC), for a pipe (writes
 * "succeed" but fdatasync fails, as when the kernel drops dirty pages), or the WAL lives on a
 * tiny tmpfs that is filled for real. Each case checks that a failed batch is never reported
 * written, is not replayed even if its bytes reach the old segment, that writes work again on
 * their own once the fault is gone, and the failure counter and writability flag. Also replay of
 * hand-made segment headers that record a cut (good, corrupt, torn), and util/fio's contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "storage/record.h"
#include "storage/wal.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/fio.h"
#include "util/log.h"
#include "util/status.h"
#include "testutil.h"

static void mkdir_tmp(char *dir) { tu_tmpdir(dir, "/tmp/ms_walf_XXXXXX"); }

typedef struct got {
    size_t n;
    int id[512]; /* first payload byte of each record replayed in pass 1 */
} got_t;

static int collect(void *arg, int pass, uint8_t type, const uint8_t *p, size_t n, int64_t *maxt)
{
    got_t *g = arg;
    (void)type;
    (void)maxt;
    if (pass == 1 && g->n < 512) g->id[g->n++] = n ? p[0] : -1;
    return MS_OK;
}

/* One framed samples-type record whose payload starts with id; len bytes of payload. */
static void frame(buf_t *b, int id, size_t len)
{
    size_t h = record_begin(b, REC_SAMPLES);
    for (size_t k = 0; k < len; k++) buf_putc(b, (char)(k == 0 ? id : (int)(k * 7 + (size_t)id)));
    record_end(b, h);
}

static int put(wal_t *w, int id, size_t len, bool sync)
{
    buf_t b = BUF_INIT;
    frame(&b, id, len);
    uint64_t end = 0;
    int rc = wal_write(w, b.data, b.len, id, &end);
    if (rc == MS_OK && sync) rc = wal_sync(w, end);
    buf_free(&b);
    return rc;
}

static wal_t *open_wal(const char *dir, wal_fsync_t mode, int64_t seg_bytes)
{
    wal_t *w;
    char err[128];
    wal_opts_t o = {mode, 1000, seg_bytes};
    assert_int_equal(wal_open(dir, &o, &w, err, sizeof(err)), MS_OK);
    got_t g = {0};
    wal_replay_stats_t st;
    assert_int_equal(wal_replay(w, collect, &g, &st), MS_OK);
    return w;
}

static void replay(const char *dir, got_t *g, wal_replay_stats_t *st)
{
    wal_t *w;
    char err[128];
    wal_opts_t o = {WAL_FSYNC_NEVER, 0, 1 << 20};
    assert_int_equal(wal_open(dir, &o, &w, err, sizeof(err)), MS_OK);
    memset(g, 0, sizeof(*g));
    assert_int_equal(wal_replay(w, collect, g, st), MS_OK);
    wal_close(w);
}

/* The descriptor this process holds on the WAL's open segment. */
static int segment_fd(wal_t *w, const char *dir, char *path, size_t n)
{
    snprintf(path, n, "%s/%08u", dir, wal_open_segment_idx(w));
    char want[PATH_MAX];
    assert_non_null(realpath(path, want));
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *e;
    int found = -1;
    while ((e = readdir(d))) {
        char lp[300], target[PATH_MAX];
        snprintf(lp, sizeof(lp), "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(lp, target, sizeof(target) - 1);
        if (k <= 0) continue;
        target[k] = 0;
        if (strcmp(target, want) == 0) found = atoi(e->d_name);
    }
    closedir(d);
    assert_true(found >= 0);
    return found;
}

static void expect_ids(const got_t *g, const int *ids, size_t n)
{
    if (g->n != n) fprintf(stderr, "replayed %zu records, want %zu\n", g->n, n);
    assert_int_equal(g->n, n);
    for (size_t i = 0; i < n; i++) assert_int_equal(g->id[i], ids[i]);
}

/* fdatasync fails (EINVAL on a pipe) after the write "went through": the batch is not
 * acknowledged, a later wal_sync on it still fails after recovery, its bytes are ignored at
 * replay even when they did reach the old segment, and the next write lands in a new segment. */
static void test_fsync_failure_cuts_segment(void **state)
{
    (void)state;
    char dir[64], path[PATH_MAX];
    mkdir_tmp(dir);
    wal_t *w = open_wal(dir, WAL_FSYNC_ALWAYS, 1 << 20);
    assert_int_equal(put(w, 1, 40, true), MS_OK);
    assert_int_equal(put(w, 2, 40, true), MS_OK);
    uint32_t seg0 = wal_open_segment_idx(w);
    int fd = segment_fd(w, dir, path, sizeof(path));
    int real = dup(fd);
    struct stat sb;
    assert_int_equal(fstat(real, &sb), 0);
    off_t good = sb.st_size;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    assert_int_equal(dup2(pfd[1], fd), fd);
    close(pfd[1]);
    uint64_t fails0 = wal_write_failures(w);

    buf_t b = BUF_INIT;
    frame(&b, 3, 40);
    uint64_t end3;
    assert_int_equal(wal_write(w, b.data, b.len, 3, &end3), MS_OK); /* into the pipe */
    assert_int_equal(wal_sync(w, end3), MS_EIO);
    assert_false(wal_writable(w));
    assert_true(wal_write_failures(w) > fails0);
    /* the kernel wrote batch 3 to the old segment after all: replay must still not see it */
    assert_int_equal(pwrite(real, b.data, b.len, good), (ssize_t)b.len);
    close(real);

    assert_int_equal(put(w, 4, 40, true), MS_OK); /* recovers on its own: new segment */
    assert_true(wal_writable(w));
    assert_true(wal_open_segment_idx(w) > seg0);
    assert_int_equal(wal_sync(w, end3), MS_EIO); /* a late waiter on batch 3 is still refused */
    assert_int_equal(put(w, 5, 40, true), MS_OK);
    wal_close(w);
    close(pfd[0]);
    buf_free(&b);

    got_t g;
    wal_replay_stats_t st;
    replay(dir, &g, &st);
    int want[] = {1, 2, 4, 5};
    expect_ids(&g, want, 4);
    assert_int_equal(st.corrupt, 0);
    /* and again: the cut stays recorded across restarts */
    replay(dir, &g, &st);
    expect_ids(&g, want, 4);
    tu_rm_rf(dir);
}

/* write() fails with ENOSPC (/dev/full): MS_ENOSPC, not writable, every retry fails the same
 * way while the fault lasts, and the first write after the fault is gone succeeds. */
static void test_enospc_write_then_recover(void **state)
{
    (void)state;
    char dir[64], path[PATH_MAX];
    mkdir_tmp(dir);
    wal_t *w = open_wal(dir, WAL_FSYNC_ALWAYS, 1 << 20);
    assert_int_equal(put(w, 1, 30, true), MS_OK);
    int fd = segment_fd(w, dir, path, sizeof(path));
    int real = dup(fd);
    int full = open("/dev/full", O_WRONLY);
    assert_true(full >= 0);
    assert_int_equal(dup2(full, fd), fd);
    for (int i = 0; i < 3; i++) assert_int_equal(put(w, 10 + i, 30, true), MS_ENOSPC);
    assert_false(wal_writable(w));
    assert_int_equal(dup2(real, fd), fd); /* space is back */
    close(real);
    close(full);
    assert_int_equal(put(w, 2, 30, true), MS_OK);
    assert_true(wal_writable(w));
    wal_close(w);
    got_t g;
    wal_replay_stats_t st;
    replay(dir, &g, &st);
    int want[] = {1, 2};
    expect_ids(&g, want, 2);
    assert_int_equal(st.corrupt + st.torn, 0);
    tu_rm_rf(dir);
}

/* Under fsync=never a failed write (EBADF on a read-only descriptor: an I/O error that is not
 * ENOSPC) also cuts to a new segment, keeping every acknowledged record. */
static void test_eio_write_never_mode(void **state)
{
    (void)state;
    char dir[64], path[PATH_MAX];
    mkdir_tmp(dir);
    wal_t *w = open_wal(dir, WAL_FSYNC_NEVER, 1 << 20);
    assert_int_equal(put(w, 1, 30, false), MS_OK);
    assert_int_equal(put(w, 2, 30, false), MS_OK);
    int fd = segment_fd(w, dir, path, sizeof(path));
    int ro = open(path, O_RDONLY);
    assert_true(ro >= 0);
    assert_int_equal(dup2(ro, fd), fd);
    close(ro);
    assert_int_equal(put(w, 9, 30, false), MS_EIO);
    assert_int_equal(put(w, 3, 30, false), MS_OK); /* new segment */
    wal_close(w);
    got_t g;
    wal_replay_stats_t st;
    replay(dir, &g, &st);
    int want[] = {1, 2, 3};
    expect_ids(&g, want, 3);
    tu_rm_rf(dir);
}

/* Writes a segment file: header (8 bytes, or 24 with a cut of (cut_idx, cut_len)) + records. */
static size_t make_segment(const char *dir, uint32_t idx, bool cut, uint32_t cut_idx, uint64_t cut_len,
                           const int *ids, size_t n, bool bad_crc)
{
    uint8_t h[24] = {'M', 'S', 'W', 'L', 1, cut ? 1 : 0, 0, 0};
    size_t hl = 8;
    if (cut) {
        for (int i = 0; i < 4; i++) h[8 + i] = (uint8_t)(cut_idx >> (8 * i));
        for (int i = 0; i < 8; i++) h[12 + i] = (uint8_t)(cut_len >> (8 * i));
        uint32_t crc = crc32c(0, h, 20) ^ (bad_crc ? 1u : 0u);
        for (int i = 0; i < 4; i++) h[20 + i] = (uint8_t)(crc >> (8 * i));
        hl = 24;
    }
    buf_t b = BUF_INIT;
    buf_append(&b, h, hl);
    for (size_t i = 0; i < n; i++) frame(&b, ids[i], 20);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%08u", dir, idx);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
    fclose(f);
    size_t len = b.len;
    buf_free(&b);
    return len;
}

static void test_cut_header_replay(void **state)
{
    (void)state;
    char dir[64];
    got_t g;
    wal_replay_stats_t st;
    size_t rec = REC_HEADER_LEN + 20;

    /* a valid cut: segment 1 is read only up to its recorded good length */
    mkdir_tmp(dir);
    int s1[] = {1, 2, 3};
    make_segment(dir, 1, false, 0, 0, s1, 3, false);
    int s2[] = {4};
    make_segment(dir, 2, true, 1, 8 + 2 * rec, s2, 1, false);
    replay(dir, &g, &st);
    int want[] = {1, 2, 4};
    expect_ids(&g, want, 3);
    assert_int_equal(st.corrupt + st.torn, 0);
    tu_rm_rf(dir);

    /* a cut header with a bad checksum: that segment is skipped as corrupt, the cut ignored */
    mkdir_tmp(dir);
    make_segment(dir, 1, false, 0, 0, s1, 3, false);
    make_segment(dir, 2, true, 1, 8 + 2 * rec, s2, 1, true);
    int s3[] = {5};
    make_segment(dir, 3, false, 0, 0, s3, 1, false);
    replay(dir, &g, &st);
    int want2[] = {1, 2, 3, 5};
    expect_ids(&g, want2, 4);
    assert_int_equal(st.corrupt, 1);
    tu_rm_rf(dir);

    /* a cut of a segment that is not there, or a cut longer than the segment: harmless */
    mkdir_tmp(dir);
    make_segment(dir, 1, false, 0, 0, s1, 3, false);
    make_segment(dir, 2, true, 7, 8, s2, 1, false);
    make_segment(dir, 3, true, 2, 1 << 20, s3, 1, false);
    replay(dir, &g, &st);
    int want3[] = {1, 2, 3, 4, 5};
    expect_ids(&g, want3, 5);
    tu_rm_rf(dir);

    /* a torn cut header in the newest segment: truncated, counted torn */
    mkdir_tmp(dir);
    make_segment(dir, 1, false, 0, 0, s1, 3, false);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%08u", dir, 2u);
    uint8_t torn[13] = {'M', 'S', 'W', 'L', 1, 1, 0, 0, 1, 0, 0, 0, 9};
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(torn, 1, sizeof(torn), f), sizeof(torn));
    fclose(f);
    replay(dir, &g, &st);
    expect_ids(&g, s1, 3);
    assert_int_equal(st.torn, 1);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    tu_rm_rf(dir);
}

/* ENOSPC for real on a 256 KiB tmpfs (skipped when mounting is not permitted): fill it with a
 * ballast file while writing small segments (so segment creation fails too), check every
 * failed write is refused, remove the ballast, write again without reopening, and replay
 * exactly the acknowledged records; then open the WAL on a full disk: it starts with writes
 * refused and accepts them once space is back. */
static void test_tmpfs_enospc(void **state)
{
    (void)state;
    char mnt[64], dir[PATH_MAX], ballast[PATH_MAX];
    mkdir_tmp(mnt);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") != 0) {
        fprintf(stderr, "test_tmpfs_enospc: SKIPPED: cannot mount tmpfs (%s)\n", strerror(errno));
        tu_rm_rf(mnt);
        skip();
        return;
    }
    snprintf(dir, sizeof(dir), "%s/wal", mnt);
    snprintf(ballast, sizeof(ballast), "%s/ballast", mnt);
    assert_int_equal(mkdir(dir, 0755), 0);
    wal_t *w = open_wal(dir, WAL_FSYNC_ALWAYS, 8192);
    int acked[512];
    size_t nacked = 0;
    int id = 1;
    for (; id <= 20; id++) {
        assert_int_equal(put(w, id, 200, true), MS_OK);
        acked[nacked++] = id;
    }
    /* fill the disk */
    int bfd = open(ballast, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(bfd >= 0);
    char chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    while (write(bfd, chunk, sizeof(chunk)) > 0) {
    }
    int refused = 0;
    for (int k = 0; k < 80 && id < 250; k++, id++) {
        int rc = put(w, id, 200, true);
        if (rc == MS_OK) {
            acked[nacked++] = id; /* fit into the last free bytes */
        } else {
            assert_int_equal(rc, MS_ENOSPC);
            refused++;
        }
    }
    assert_true(refused > 60);
    assert_false(wal_writable(w));
    /* space back: the very next write works, with no reopen */
    close(bfd);
    assert_int_equal(unlink(ballast), 0);
    assert_int_equal(put(w, id, 200, true), MS_OK);
    acked[nacked++] = id++;
    assert_true(wal_writable(w));
    for (int k = 0; k < 60; k++, id++) { /* and across several new segments */
        assert_int_equal(put(w, id, 200, true), MS_OK);
        acked[nacked++] = id;
    }
    wal_close(w);
    got_t g;
    wal_replay_stats_t st;
    replay(dir, &g, &st);
    for (size_t i = 0; i < g.n; i++) g.id[i] &= 0xff; /* ids are one byte in the payload */
    int want[512];
    for (size_t i = 0; i < nacked; i++) want[i] = acked[i] & 0xff;
    expect_ids(&g, want, nacked);
    assert_int_equal(st.corrupt, 0);

    /* start on a full disk: replay works, writes are refused, then succeed once space is back */
    bfd = open(ballast, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(bfd >= 0);
    while (write(bfd, chunk, sizeof(chunk)) > 0) {
    }
    while (write(bfd, chunk, 1) > 0) {
    }
    w = open_wal(dir, WAL_FSYNC_ALWAYS, 8192);
    assert_false(wal_writable(w));
    assert_int_equal(put(w, id, 200, true), MS_ENOSPC);
    id++;
    close(bfd);
    assert_int_equal(unlink(ballast), 0);
    assert_int_equal(put(w, id, 200, true), MS_OK);
    acked[nacked++] = id++;
    assert_true(wal_writable(w));
    wal_close(w);
    replay(dir, &g, &st);
    for (size_t i = 0; i < g.n; i++) g.id[i] &= 0xff;
    for (size_t i = 0; i < nacked; i++) want[i] = acked[i] & 0xff;
    expect_ids(&g, want, nacked);
    umount2(mnt, MNT_DETACH);
    tu_rm_rf(mnt);
}

/* fsync=interval: records are acknowledged once written, so when the background sync fails the
 * recovery keeps every written byte of the old segment (a power loss could still take the last
 * interval: that is the mode's contract) and starts a new segment for the next write. */
static void test_interval_sync_failure_keeps_acked(void **state)
{
    (void)state;
    char dir[64], path[PATH_MAX];
    mkdir_tmp(dir);
    wal_t *w;
    char err[128];
    wal_opts_t o = {WAL_FSYNC_INTERVAL, 50, 1 << 20};
    assert_int_equal(wal_open(dir, &o, &w, err, sizeof(err)), MS_OK);
    got_t g = {0};
    wal_replay_stats_t st;
    assert_int_equal(wal_replay(w, collect, &g, &st), MS_OK);
    assert_int_equal(put(w, 1, 30, false), MS_OK);
    usleep(200000); /* synced by the interval thread */
    assert_int_equal(put(w, 2, 30, false), MS_OK);
    uint32_t seg0 = wal_open_segment_idx(w);
    int fd = segment_fd(w, dir, path, sizeof(path));
    int devnull = open("/dev/null", O_WRONLY);
    assert_true(devnull >= 0);
    assert_int_equal(dup2(devnull, fd), fd); /* the next background fdatasync fails (EINVAL) */
    close(devnull);
    for (int i = 0; i < 100 && wal_writable(w); i++) usleep(20000);
    assert_false(wal_writable(w));
    assert_int_equal(put(w, 3, 30, false), MS_OK); /* recovered: new segment */
    assert_true(wal_open_segment_idx(w) > seg0);
    assert_true(wal_writable(w));
    wal_close(w);
    replay(dir, &g, &st);
    int want[] = {1, 2, 3};
    expect_ids(&g, want, 3);
    tu_rm_rf(dir);
}

/* ---- concurrent group commit across an fsync failure ---- */

typedef struct ids {
    size_t n;
    uint32_t v[4096];
} ids_t;

static int collect32(void *arg, int pass, uint8_t type, const uint8_t *p, size_t n, int64_t *maxt)
{
    ids_t *g = arg;
    (void)type;
    (void)maxt;
    if (pass == 1 && n >= 4 && g->n < 4096) g->v[g->n++] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return MS_OK;
}

typedef struct cargs {
    wal_t *w;
    uint32_t tid;
    uint32_t acked[600];
    size_t nacked, refused;
    int bad_rc;
} cargs_t;

static void *cworker(void *arg)
{
    cargs_t *a = arg;
    for (uint32_t i = 0; i < 600; i++) {
        uint32_t id = a->tid * 100000 + i;
        buf_t b = BUF_INIT;
        size_t h = record_begin(&b, REC_SAMPLES);
        buf_put_u32le(&b, id);
        for (int k = 0; k < 20; k++) buf_putc(&b, (char)k);
        record_end(&b, h);
        uint64_t end = 0;
        int rc = wal_write(a->w, b.data, b.len, 1, &end);
        if (rc == MS_OK) rc = wal_sync(a->w, end);
        buf_free(&b);
        if (rc == MS_OK) a->acked[a->nacked++] = id;
        else if (rc == MS_EIO || rc == MS_ENOSPC) a->refused++;
        else a->bad_rc = rc;
    }
    return NULL;
}

static int u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* Four threads commit with fsync=always while the segment's descriptor is swapped for /dev/null
 * (writes vanish, fdatasync fails with EINVAL; the truncate during recovery fails too, so only
 * the cut header keeps the already written but unsynced records out). Replay must give exactly
 * the acknowledged records: none lost, none of the refused ones. */
static void test_concurrent_fsync_failure(void **state)
{
    (void)state;
    char dir[64], path[PATH_MAX];
    mkdir_tmp(dir);
    wal_t *w = open_wal(dir, WAL_FSYNC_ALWAYS, 64 << 20);
    cargs_t args[4];
    pthread_t th[4];
    for (uint32_t i = 0; i < 4; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        args[i].w = w;
        args[i].tid = i + 1;
        pthread_create(&th[i], NULL, cworker, &args[i]);
    }
    usleep(20000);
    int fd = segment_fd(w, dir, path, sizeof(path));
    int devnull = open("/dev/null", O_WRONLY);
    assert_true(devnull >= 0);
    assert_int_equal(dup2(devnull, fd), fd); /* the recovery closes it again */
    close(devnull);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    wal_close(w);
    ids_t *want = calloc(1, sizeof(ids_t)), *got = calloc(1, sizeof(ids_t));
    size_t refused = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(args[i].bad_rc, 0);
        for (size_t k = 0; k < args[i].nacked; k++) want->v[want->n++] = args[i].acked[k];
        refused += args[i].refused;
    }
    assert_true(refused > 0);
    assert_true(want->n > 0);
    wal_t *r;
    char err[128];
    wal_opts_t o = {WAL_FSYNC_NEVER, 0, 1 << 20};
    assert_int_equal(wal_open(dir, &o, &r, err, sizeof(err)), MS_OK);
    wal_replay_stats_t st;
    assert_int_equal(wal_replay(r, collect32, got, &st), MS_OK);
    wal_close(r);
    qsort(want->v, want->n, sizeof(uint32_t), u32_cmp);
    qsort(got->v, got->n, sizeof(uint32_t), u32_cmp);
    if (got->n != want->n) fprintf(stderr, "replayed %zu, acknowledged %zu, refused %zu\n", got->n, want->n, refused);
    assert_int_equal(got->n, want->n);
    assert_memory_equal(got->v, want->v, want->n * sizeof(uint32_t));
    assert_int_equal(st.corrupt, 0);
    free(want);
    free(got);
    tu_rm_rf(dir);
}

/* util/fio, the seam the WAL and block writers use: errno mapping and the failure contract. */
static void test_fio_contract(void **state)
{
    (void)state;
    assert_int_equal(fio_errno_status(0), MS_OK);
    assert_int_equal(fio_errno_status(ENOSPC), MS_ENOSPC);
    assert_int_equal(fio_errno_status(EDQUOT), MS_ENOSPC);
    assert_int_equal(fio_errno_status(EIO), MS_EIO);
    assert_int_equal(fio_errno_status(EROFS), MS_EIO);
    assert_int_equal(fio_errno_status(ENOENT), MS_ENOENT);
    int fd;
    assert_int_equal(fio_open("/dev/full", O_WRONLY, 0, &fd), MS_OK);
    size_t done = 99;
    errno = 0;
    assert_int_equal(fio_write_all(fd, "abc", 3, &done), MS_ENOSPC);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(done, 0);
    assert_int_equal(fio_close(fd), MS_OK);
    assert_int_equal(fio_open("/nonexistent/x", O_RDONLY, 0, &fd), MS_ENOENT);
    assert_int_equal(fd, -1);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fio_fdatasync(p[1]), MS_EIO); /* EINVAL on a pipe: an I/O failure */
    assert_int_equal(fio_pwrite_all(p[1], "x", 1, 0, &done), MS_EIO); /* ESPIPE */
    assert_int_equal(fio_write_all(p[1], "hello", 5, &done), MS_OK);
    assert_int_equal(done, 5);
    char b[8];
    assert_int_equal(read(p[0], b, sizeof(b)), 5);
    close(p[0]);
    assert_int_equal(fio_write_all(p[1], "x", 1, &done), MS_EIO); /* EPIPE (SIGPIPE ignored) */
    assert_int_equal(errno, EPIPE);
    close(p[1]);
    char dir[64], path[PATH_MAX];
    mkdir_tmp(dir);
    snprintf(path, sizeof(path), "%s/f", dir);
    assert_int_equal(fio_open(path, O_RDWR | O_CREAT, 0644, &fd), MS_OK);
    assert_int_equal(fio_pwrite_all(fd, "0123456789", 10, 5, &done), MS_OK);
    assert_int_equal(fio_fsync(fd), MS_OK);
    assert_int_equal(fio_ftruncate(fd, 7), MS_OK);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_size, 7);
    assert_int_equal(fio_close(fd), MS_OK);
    char to[PATH_MAX];
    snprintf(to, sizeof(to), "%s/g", dir);
    assert_int_equal(fio_rename(path, to), MS_OK);
    assert_int_equal(fio_rename(path, to), MS_ENOENT);
    assert_int_equal(fio_fsync_dir(dir), MS_OK);
    assert_int_equal(fio_fsync_dir(path), MS_ENOENT);
    tu_rm_rf(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fio_contract),
        cmocka_unit_test(test_fsync_failure_cuts_segment),
        cmocka_unit_test(test_enospc_write_then_recover),
        cmocka_unit_test(test_eio_write_never_mode),
        cmocka_unit_test(test_cut_header_replay),
        cmocka_unit_test(test_tmpfs_enospc),
        cmocka_unit_test(test_concurrent_fsync_failure),
        cmocka_unit_test(test_interval_sync_failure_keeps_acked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
