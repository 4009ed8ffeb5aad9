/* wal.h owns the write-ahead log: numbered segment files under <data_dir>/wal/ holding framed,
 * CRC32C-checked records (docs/format/wal.md), written in one write() per commit batch, with
 * group commit for fdatasync, and replay that tolerates a torn tail and skips corrupt records.
 * Threading: wal_write and wal_sync may be called from many threads. */
#ifndef MS_STORAGE_WAL_H
#define MS_STORAGE_WAL_H
#include "storage/storage.h"
#include "util/metrics.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wal wal_t;

typedef struct wal_opts {
    wal_fsync_t fsync;
    int64_t fsync_interval_ms;
    int64_t segment_bytes;
} wal_opts_t;

#define WAL_SEG_HEADER_LEN 8

/* Opens dir (creating it); no segment is opened until wal_replay. */
int wal_open(const char *dir, const wal_opts_t *o, wal_t **out, char *err, size_t err_len);
/* Latency histogram of the WAL's fdatasync calls; borrowed until wal_close. */
const metrics_histogram_t *wal_fsync_histogram(const wal_t *w);

typedef struct wal_replay_stats {
    uint64_t records, corrupt, torn;
} wal_replay_stats_t;
/* Called per intact record; return MS_ECORRUPT if the payload cannot be decoded (counted).
 * *maxt may be raised to the newest sample time of the record. */
typedef int (*wal_record_fn)(void *arg, int pass, uint8_t type, const uint8_t *p, size_t n, int64_t *maxt);
/* Replays every segment in order, in two passes: pass 0 reads each segment once (mapped),
 * checks framing and CRCs, truncates a torn tail, counts corruption and hands series and
 * metadata records to fn; pass 1 hands it the intact samples records, so series records
 * re-logged into a later segment are known before any samples are applied. Then starts a fresh
 * segment for appends; if that fails (disk full or failing) it still returns MS_OK with the WAL
 * in the fault state: writes fail until one manages to create the segment. Call once. */
int wal_replay(wal_t *w, wal_record_fn fn, void *arg, wal_replay_stats_t *st);

/* A segment as a head snapshot records it (head_snapshot.c): number, newest sample time
 * written to it (INT64_MIN: none or unknown), size in bytes. */
typedef struct wal_seg_state {
    uint32_t idx;
    int64_t maxt;
    uint64_t size;
    uint32_t crc; /* CRC32C of the whole file, when wal_list_dir was asked for it */
} wal_seg_state_t;
/* Instead of wal_replay, when a head snapshot stood in for it: registers segs (the segments
 * the snapshot covers, ascending, as wal_list_dir found them) and starts a fresh segment for
 * appends exactly as wal_replay ends. Call once. */
int wal_resume(wal_t *w, const wal_seg_state_t *segs, size_t n);
/* The live segments, oldest first, with the newest sample time of each and the bytes this
 * process knows are in it (its header and every record written); *out malloc'd. */
size_t wal_seg_states(wal_t *w, wal_seg_state_t **out);
/* The segment files in dir, ascending, with their sizes (maxt INT64_MIN) and, with_crc, the
 * CRC32C of each whole file (which reads them); *out malloc'd even on error (MS_EIO when one
 * cannot be stat'ed or read). */
int wal_list_dir(const char *dir, bool with_crc, wal_seg_state_t **out, size_t *n);
/* No write or sync has failed and a segment is open: the files end where acknowledged records
 * end, so a snapshot taken now describes them. */
bool wal_clean(const wal_t *w);

/* Writes framed records (one or more) in one write(); *end is the logical end offset to pass
 * to wal_sync. maxt: the newest sample time in the batch (for segment retention). On failure
 * MS_ENOSPC or MS_EIO is returned and nothing of the batch counts as written: an ENOSPC partial
 * write is truncated away; any other fault cuts the segment back to its last good length at
 * once and starts a new segment whose header records that length (replay ignores the rest). If
 * that fails, every later wal_write/wal_cut retries it first, so writes succeed again on their
 * own once the disk does; until then they fail. */
int wal_write(wal_t *w, const void *p, size_t n, int64_t maxt, uint64_t *end);
/* Group commit: returns once everything up to end is fdatasynced. MS_EIO if fsync failed or a
 * recovery cut the bytes up to end away: the caller must not acknowledge them. A failed fsync is
 * never retried on the same segment (Linux may have dropped the dirty pages): before returning
 * the failure, the unsynced tail is cut off and a new segment started (as in wal_write). */
int wal_sync(wal_t *w, uint64_t end);
uint64_t wal_size(wal_t *w); /* bytes in all live segments */
/* Deletes whole segments whose newest sample is older than cutoff, except the open one and any
 * segment followed by a segment that is not deletable; the caller must first have re-logged
 * (via wal_write) every live series and metadata so no still-needed series record is lost. */
int wal_delete_before(wal_t *w, int64_t cutoff, uint64_t *deleted);
/* Starts a new segment now (used before re-logging live series ahead of deletion), unless the
 * open segment holds no record yet: then it already is the new segment and nothing changes. */
int wal_cut(wal_t *w);
/* Number of segments that wal_delete_before would delete. */
size_t wal_deletable(wal_t *w, int64_t cutoff);
/* Before wal_replay: new segments get numbers >= idx even if the directory holds fewer (a WAL
 * deleted by hand must not restart below a block cut's mark, docs/format/block.md). */
void wal_set_segment_floor(wal_t *w, uint32_t idx);
/* During wal_replay (inside the callback): the number of the segment being replayed. */
uint32_t wal_replaying_segment(const wal_t *w);
/* The number of the open segment (records written from now on land in it or later ones). */
uint32_t wal_open_segment_idx(wal_t *w);
/* Deletes the prefix of closed segments numbered below `below` whose newest sample is older
 * than cutoff (same re-logging precondition as wal_delete_before). */
int wal_delete_upto(wal_t *w, uint32_t below, int64_t cutoff, uint64_t *deleted);
/* Failed WAL writes, fsyncs and segment creations since open (for /metrics). */
uint64_t wal_write_failures(const wal_t *w);
/* False from a failed write/fsync until a write is persisted again (readiness for writes). */
bool wal_writable(const wal_t *w);
void wal_close(wal_t *w); /* syncs unless fsync mode is NEVER; accepts NULL */

#endif
