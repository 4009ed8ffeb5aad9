/* quarantine.c owns moving damaged block directories into <data_dir>/quarantine/ (never
 * deleting them: an operator may want to inspect or repair them) and listing what is there.
 * The move is a rename within one file system; a .reason file records why, for the status
 * endpoint and for whoever looks at the directory later. */
#include "storage/quarantine.h"
#include "storage/db_internal.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/status.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static void write_reason(const char *path, const char *reason)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    size_t len = strlen(reason);
    ssize_t w = write(fd, reason, len);
    ssize_t nl = write(fd, "\n", 1);
    (void)w;
    (void)nl;
    (void)fsync(fd);
    close(fd);
}

int quarantine_block(const char *data_dir, const char *dir, int rc, const char *reason)
{
    if (rc != MS_ECORRUPT) {
        log_error("blocks: skipping unreadable block (left in place, %s): %s", ms_strerror(rc), reason);
        return rc;
    }
    char qdir[PATH_MAX];
    snprintf(qdir, sizeof(qdir), "%s/quarantine", data_dir);
    if (mkdir(qdir, 0755) != 0 && errno != EEXIST) {
        log_error("blocks: corrupt block %s left in place (mkdir %s: %s): %s", dir, qdir, strerror(errno), reason);
        return MS_EIO;
    }
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;
    long long now = (long long)time(NULL);
    char dst[PATH_MAX + 64];
    int moved = -1;
    for (int k = 0; k < 100 && moved != 0; k++) {
        if (k == 0) snprintf(dst, sizeof(dst), "%s/%s-%lld", qdir, base, now);
        else snprintf(dst, sizeof(dst), "%s/%s-%lld.%d", qdir, base, now, k);
        struct stat sb;
        if (lstat(dst, &sb) == 0) continue; /* never overwrite an earlier quarantined copy */
        moved = rename(dir, dst);
        if (moved != 0) break;
    }
    if (moved != 0) {
        log_error("blocks: corrupt block %s left in place (rename failed: %s): %s", dir, strerror(errno), reason);
        return MS_EIO;
    }
    char rpath[PATH_MAX + 80];
    snprintf(rpath, sizeof(rpath), "%s.reason", dst);
    write_reason(rpath, reason);
    fsync_dir(qdir);
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%.*s", (int)(base - dir > 0 ? base - dir - 1 : 0), dir);
    if (parent[0]) fsync_dir(parent);
    log_error("blocks: corrupt block quarantined to %s: %s", dst, reason);
    return MS_OK;
}

static uint64_t dir_bytes(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[2 * PATH_MAX];
        if (snprintf(p, sizeof(p), "%s/%s", path, e->d_name) >= (int)sizeof(p)) continue;
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode)) total += (uint64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const db_quarantined_t *)a)->name, ((const db_quarantined_t *)b)->name);
}

int quarantine_list(const char *data_dir, db_quarantined_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char qdir[PATH_MAX];
    snprintf(qdir, sizeof(qdir), "%s/quarantine", data_dir);
    DIR *d = opendir(qdir);
    if (!d) return errno == ENOENT ? MS_OK : MS_EIO;
    db_quarantined_t *v = NULL;
    size_t nv = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[PATH_MAX + 512];
        snprintf(p, sizeof(p), "%s/%s", qdir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
        db_quarantined_t q = {xstrdup(e->d_name), NULL, 0, dir_bytes(p)};
        const char *dash = strrchr(e->d_name, '-');
        if (dash) q.time_s = strtoll(dash + 1, NULL, 10);
        char rpath[PATH_MAX + 600];
        snprintf(rpath, sizeof(rpath), "%s.reason", p);
        char line[1024] = "";
        FILE *f = fopen(rpath, "r");
        if (f) {
            if (!fgets(line, sizeof(line), f)) line[0] = 0;
            fclose(f);
            line[strcspn(line, "\n")] = 0;
        }
        q.reason = xstrdup(line);
        if (nv == cap) XGROW(v, cap, nv + 1);
        v[nv++] = q;
    }
    closedir(d);
    if (nv > 1) qsort(v, nv, sizeof(*v), entry_cmp);
    *out = v;
    *n = nv;
    return MS_OK;
}

void db_quarantined_free(db_quarantined_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].reason);
    }
    free(v);
}

int db_quarantined(db_t *db, db_quarantined_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!db) return MS_EINVAL;
    return quarantine_list(db->data_dir, out, n);
}

uint64_t db_block_corrupt_reads(db_t *db)
{
    if (!db) return 0;
    uint64_t total = 0;
    gclock_read_lock(&db->gc_lock);
    for (size_t i = 0; i < db->nblocks; i++) total += block_read_errors(db->blocks[i]);
    gclock_read_unlock(&db->gc_lock);
    return total;
}
