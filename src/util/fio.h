/* fio.h owns the small file-I/O layer every file writer goes through (WAL, blocks, tombstones,
 * compaction): wrappers over open/write/pwrite/fsync/fdatasync/ftruncate/rename that loop over
 * short writes and EINTR and map failures to one MS_* status.
 *
 * Mapping: ENOSPC and EDQUOT -> MS_ENOSPC; ENOENT -> MS_ENOENT; EEXIST -> MS_EEXIST; anything
 * else (EIO, EBADF, EROFS, ...) -> MS_EIO. errno is left as the failing call set it, so callers
 * may log strerror(errno) right after a failed fio_* call. A write that returns 0 bytes (no
 * progress, no errno) is reported as MS_ENOSPC with errno set to ENOSPC.
 *
 * Fault injection is done from outside the process (tests/fault/libfaultfs.c, an LD_PRELOAD
 * shim over the libc calls these wrappers make), so there are no test hooks in here.
 *
 * Linux fsync semantics callers must respect: after fio_fsync/fio_fdatasync fails, the kernel
 * may have dropped the dirty pages and cleared the error, so a retry can "succeed" without the
 * data being on disk. Never retry a failed sync on the same file and then trust its unsynced
 * tail: rewrite that data into a new file instead.
 * Threading: all functions are reentrant; they touch no shared state. */
#ifndef MS_UTIL_FIO_H
#define MS_UTIL_FIO_H
#include <stddef.h>
#include <sys/types.h>

/* Maps an errno value to an MS_* status (0 -> MS_OK). */
int fio_errno_status(int err);

/* open(2) with O_CLOEXEC added; *fd_out gets the descriptor. mode is used with O_CREAT. */
int fio_open(const char *path, int flags, mode_t mode, int *fd_out);
/* Writes all n bytes at the current offset, looping over short writes and EINTR. On failure
 * *written (if not NULL) holds how many bytes did reach the file before the error. */
int fio_write_all(int fd, const void *p, size_t n, size_t *written);
/* Writes all n bytes at offset off (pwrite loop); same failure contract as fio_write_all. */
int fio_pwrite_all(int fd, const void *p, size_t n, off_t off, size_t *written);
int fio_fsync(int fd);
int fio_fdatasync(int fd);
int fio_ftruncate(int fd, off_t len);
/* rename(2); does not sync either directory (see fio_fsync_dir). */
int fio_rename(const char *from, const char *to);
/* Opens the directory read-only, fsyncs it, closes it. */
int fio_fsync_dir(const char *dir);
/* close(2) that keeps errno from being clobbered by a successful close: returns MS_OK or MS_EIO
 * (NFS and some filesystems report delayed write errors only here). Accepts fd < 0. */
int fio_close(int fd);

#endif
