/* fio.c owns the libc file-I/O wrappers declared in fio.h: loops over short writes and EINTR,
 * and one errno -> MS_* mapping for every file writer. */
#include "util/fio.h"
#include "util/status.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int fio_errno_status(int err)
{
    switch (err) {
    case 0: return MS_OK;
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return MS_ENOSPC;
    case ENOENT: return MS_ENOENT;
    case EEXIST: return MS_EEXIST;
    default: return MS_EIO;
    }
}

static int fail(void) { return fio_errno_status(errno ? errno : EIO); }

int fio_open(const char *path, int flags, mode_t mode, int *fd_out)
{
    int fd;
    do fd = open(path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        *fd_out = -1;
        return fail();
    }
    *fd_out = fd;
    return MS_OK;
}

/* One loop for write and pwrite: off < 0 means "at the current offset". */
static int write_loop(int fd, const void *p, size_t n, off_t off, size_t *written)
{
    const unsigned char *b = p;
    size_t done = 0;
    int rc = MS_OK;
    while (done < n) {
        ssize_t r = off < 0 ? write(fd, b + done, n - done) : pwrite(fd, b + done, n - done, off + (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = fail();
            break;
        }
        if (r == 0) { /* no progress and no error: treat as a full disk */
            errno = ENOSPC;
            rc = MS_ENOSPC;
            break;
        }
        done += (size_t)r;
    }
    if (written) *written = done;
    return rc;
}

int fio_write_all(int fd, const void *p, size_t n, size_t *written) { return write_loop(fd, p, n, -1, written); }

int fio_pwrite_all(int fd, const void *p, size_t n, off_t off, size_t *written)
{
    if (off < 0) {
        errno = EINVAL;
        if (written) *written = 0;
        return MS_EINVAL;
    }
    return write_loop(fd, p, n, off, written);
}

int fio_fsync(int fd)
{
    int r;
    do r = fsync(fd);
    while (r != 0 && errno == EINTR);
    return r == 0 ? MS_OK : fail();
}

int fio_fdatasync(int fd)
{
    int r;
    do r = fdatasync(fd);
    while (r != 0 && errno == EINTR);
    return r == 0 ? MS_OK : fail();
}

int fio_ftruncate(int fd, off_t len)
{
    int r;
    do r = ftruncate(fd, len);
    while (r != 0 && errno == EINTR);
    return r == 0 ? MS_OK : fail();
}

int fio_rename(const char *from, const char *to) { return rename(from, to) == 0 ? MS_OK : fail(); }

int fio_fsync_dir(const char *dir)
{
    int fd;
    int rc = fio_open(dir, O_RDONLY | O_DIRECTORY, 0, &fd);
    if (rc != MS_OK) return rc;
    rc = fio_fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int fio_close(int fd)
{
    if (fd < 0) return MS_OK;
    int e = errno;
    if (close(fd) != 0 && errno != EINTR) return fail(); /* EINTR: the fd is closed on Linux */
    errno = e;
    return MS_OK;
}
