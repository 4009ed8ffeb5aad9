/* head_snapshot.h owns the head snapshot taken at a clean close and loaded at the next open in
 * place of WAL replay (docs/format/snapshot.md). Internal to src/storage. */
#ifndef MS_STORAGE_HEAD_SNAPSHOT_H
#define MS_STORAGE_HEAD_SNAPSHOT_H
#include "storage/db_internal.h"
#include "storage/wal.h"

/* Writes <data_dir>/head.snapshot (tmp + fsync + rename) describing the head, the metadata and
 * the WAL as segs (every segment, ascending, with its size after the WAL was closed and its
 * newest sample time). Nothing may append meanwhile. A failure is logged; nothing is left. */
int head_snapshot_write(db_t *db, const wal_seg_state_t *segs, size_t nsegs);
/* Loads <data_dir>/head.snapshot into the (empty) head and metadata when the WAL directory wdir
 * holds exactly the segments it lists, and returns those (*segs malloc'd, for wal_resume).
 * MS_ENOENT: no snapshot. Any other failure (damage, a WAL that changed) is logged, leaves the
 * head and metadata empty, and returns MS_ECORRUPT: the caller replays the WAL. The file is
 * deleted in every case but MS_ENOENT. */
int head_snapshot_load(db_t *db, const char *wdir, wal_seg_state_t **segs, size_t *nsegs);

#endif
