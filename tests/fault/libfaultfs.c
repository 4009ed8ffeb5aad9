/* libfaultfs.c owns file-I/O fault injection for the end-to-end fault tests: an LD_PRELOAD shim
 * that wraps write/pwrite/pwrite64/writev/fsync/fdatasync and, for descriptors whose file lies
 * under $FAULTFS_PATH, fails or shortens them as the first line of the file $FAULTFS_CONTROL
 * says. The control file is re-read on every wrapped call, so a test flips faults on and off
 * while the server runs:
 *   off            pass everything through (also when the file is missing or unknown)
 *   fail fsync     fsync/fdatasync return -1 EIO (the data is not synced)
 *   fail write     write/pwrite/writev return -1 EIO, nothing written
 *   enospc         write/pwrite/writev return -1 ENOSPC, nothing written
 *   short write    each write stores only the first half of its bytes and returns that count;
 *                  a write of one byte fails with ENOSPC (a torn write on a filling disk)
 *   partial write  each write stores only the first half (at least one byte) and returns that
 *                  count: a correct caller loops and succeeds
 * An optional second line "only SUBSTR" limits the faults to files whose path contains SUBSTR
 * (e.g. "only .tmp/" hits block files being written and spares the WAL).
 * Every wrapped call that was faulted bumps a counter in $FAULTFS_CONTROL.count (one byte per
 * fault appended), so a test can prove the faults really happened.
 * Build: cc -shared -fPIC -O1 -o libfaultfs.so tests/fault/libfaultfs.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum mode { M_OFF, M_FAIL_FSYNC, M_FAIL_WRITE, M_ENOSPC, M_SHORT, M_PARTIAL };

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef int (*sync_fn)(int);

static write_fn real_write;
static pwrite_fn real_pwrite;
static pwrite64_fn real_pwrite64;
static writev_fn real_writev;
static sync_fn real_fsync, real_fdatasync;

__attribute__((constructor)) static void resolve(void)
{
    if (real_write) return;
    real_pwrite = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = (pwrite64_fn)dlsym(RTLD_NEXT, "pwrite64");
    real_writev = (writev_fn)dlsym(RTLD_NEXT, "writev");
    real_fsync = (sync_fn)dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
    real_write = (write_fn)dlsym(RTLD_NEXT, "write");
}

/* The mode from the control file (M_OFF when unset or unreadable) and its "only" filter
 * (only[0] == 0: every file under the path). */
static enum mode current_mode(char *only, size_t only_len)
{
    only[0] = 0;
    const char *ctl = getenv("FAULTFS_CONTROL");
    if (!ctl) return M_OFF;
    int fd = open(ctl, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return M_OFF;
    char b[256];
    ssize_t n = read(fd, b, sizeof(b) - 1);
    close(fd);
    if (n <= 0) return M_OFF;
    b[n] = 0;
    const char *o = strstr(b, "\nonly ");
    if (o) {
        o += 6;
        size_t k = strcspn(o, "\n");
        if (k >= only_len) k = only_len - 1;
        memcpy(only, o, k);
        only[k] = 0;
    }
    if (!strncmp(b, "fail fsync", 10)) return M_FAIL_FSYNC;
    if (!strncmp(b, "fail write", 10)) return M_FAIL_WRITE;
    if (!strncmp(b, "enospc", 6)) return M_ENOSPC;
    if (!strncmp(b, "short write", 11)) return M_SHORT;
    if (!strncmp(b, "partial write", 13)) return M_PARTIAL;
    return M_OFF;
}

/* Whether fd names a file under $FAULTFS_PATH (whose path contains only, if set). */
static int fd_matches(int fd, const char *only)
{
    const char *pre = getenv("FAULTFS_PATH");
    if (!pre || !*pre) return 0;
    char lp[64], target[PATH_MAX];
    snprintf(lp, sizeof(lp), "/proc/self/fd/%d", fd);
    ssize_t k = readlink(lp, target, sizeof(target) - 1);
    if (k <= 0) return 0;
    target[k] = 0;
    size_t pl = strlen(pre);
    if (strncmp(target, pre, pl) != 0 || (target[pl] != '/' && target[pl] != 0)) return 0;
    return !only[0] || strstr(target, only) != NULL;
}

static void count_fault(void)
{
    const char *ctl = getenv("FAULTFS_CONTROL");
    if (!ctl) return;
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s.count", ctl);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    real_write(fd, "x", 1);
    close(fd);
}

/* The write-side decision: -1 (errno set) to fail, else how many of n bytes to pass through. */
static ssize_t write_plan(int fd, size_t n)
{
    resolve();
    char only[128];
    enum mode m = current_mode(only, sizeof(only));
    if (m == M_OFF || m == M_FAIL_FSYNC || n == 0 || !fd_matches(fd, only)) return (ssize_t)n;
    count_fault();
    switch (m) {
    case M_FAIL_WRITE: errno = EIO; return -1;
    case M_ENOSPC: errno = ENOSPC; return -1;
    case M_SHORT:
        if (n < 2) {
            errno = ENOSPC;
            return -1;
        }
        return (ssize_t)(n / 2);
    case M_PARTIAL: return (ssize_t)(n < 2 ? n : n / 2);
    default: return (ssize_t)n;
    }
}

ssize_t write(int fd, const void *p, size_t n)
{
    ssize_t k = write_plan(fd, n);
    return k < 0 ? -1 : real_write(fd, p, (size_t)k);
}

ssize_t pwrite(int fd, const void *p, size_t n, off_t off)
{
    ssize_t k = write_plan(fd, n);
    return k < 0 ? -1 : real_pwrite(fd, p, (size_t)k, off);
}

ssize_t pwrite64(int fd, const void *p, size_t n, off64_t off)
{
    ssize_t k = write_plan(fd, n);
    return k < 0 ? -1 : real_pwrite64(fd, p, (size_t)k, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    size_t n = 0;
    for (int i = 0; i < cnt; i++) n += iov[i].iov_len;
    ssize_t k = write_plan(fd, n);
    if (k < 0) return -1;
    if ((size_t)k == n) return real_writev(fd, iov, cnt);
    /* shortened: write the first k bytes of the vector */
    ssize_t done = 0;
    for (int i = 0; i < cnt && done < k; i++) {
        size_t want = iov[i].iov_len < (size_t)(k - done) ? iov[i].iov_len : (size_t)(k - done);
        ssize_t r = real_write(fd, iov[i].iov_base, want);
        if (r < 0) return done ? done : -1;
        done += r;
        if ((size_t)r < want) break;
    }
    return done;
}

static int sync_plan(int fd)
{
    resolve();
    char only[128];
    if (current_mode(only, sizeof(only)) != M_FAIL_FSYNC || !fd_matches(fd, only)) return 0;
    count_fault();
    errno = EIO;
    return -1;
}

int fsync(int fd) { return sync_plan(fd) ? -1 : real_fsync(fd); }

int fdatasync(int fd) { return sync_plan(fd) ? -1 : real_fdatasync(fd); }
