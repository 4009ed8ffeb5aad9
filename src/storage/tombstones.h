/* tombstones.h owns the db's tombstones: for each deleted series its label set and a sorted,
 * merged list of deleted [mint, maxt] intervals, persisted in <data_dir>/tombstones
 * (docs/format/tombstones.md) and honoured by every querier opened after a delete, by
 * compaction (tomb_filter) and by db_clean_tombstones, which rewrites blocks without them.
 * Internal to src/storage.
 *
 * Readers work on snapshots: an immutable, reference-counted copy of every entry, swapped in
 * whole by each change (copy-on-write), so a querier takes one snapshot at open and then reads
 * it from any number of threads without locks. With no tombstones at all, tomb_any is one
 * atomic load and tomb_snap_get returns NULL, so the read path costs nothing.
 *
 * Threading: all functions may be called from many threads. Changes (tomb_add, tomb_replace)
 * are serialised by the caller (db_delete_series / db_clean_tombstones hold db->cut_mu).
 * Ownership: a snapshot stays valid until tomb_snap_put; entries and the labels they hand out
 * live as long as the snapshot they came from. */
#ifndef MS_STORAGE_TOMBSTONES_H
#define MS_STORAGE_TOMBSTONES_H
#include "model/labels.h"
#include "storage/storage.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tombstones tombstones_t;
typedef struct tomb_snap tomb_snap_t;

/* One deleted interval, inclusive. wal_mark: 0, or the number of the WAL segment that was open
 * when head data inside the interval was last seen; the interval is kept while WAL segments
 * numbered <= wal_mark exist, so WAL replay can never bring its samples back. */
typedef struct tomb_iv {
    int64_t mint, maxt;
    uint32_t wal_mark;
} tomb_iv_t;

/* One deleted series: its labels (owned by the entry) and its intervals, sorted by mint,
 * non-overlapping and non-adjacent. */
typedef struct tomb_ent {
    uint64_t hash; /* labels_hash(labels) */
    labels_t labels;
    tomb_iv_t *iv;
    size_t niv;
} tomb_ent_t;

/* Loads <data_dir>/tombstones if present (removing a leftover tombstones.tmp). A damaged or
 * unknown-version file is an error (MS_ECORRUPT with a message naming the file): starting
 * without it would silently bring deleted data back. sync false skips fsyncs (WAL fsync
 * policy "never"). */
int tomb_open(const char *data_dir, bool sync, tombstones_t **out, char *err, size_t err_len);
void tomb_close(tombstones_t *t); /* accepts NULL */

/* Is there any tombstone? One atomic load; accepts NULL (false). */
bool tomb_any(const tombstones_t *t);
/* Number of series and of intervals in the current set. */
void tomb_counts(tombstones_t *t, uint64_t *nseries, uint64_t *nintervals);

/* The current snapshot with a reference taken, or NULL when there are no tombstones (or t is
 * NULL). Release with tomb_snap_put. */
tomb_snap_t *tomb_snap_get(tombstones_t *t);
void tomb_snap_put(tomb_snap_t *s); /* accepts NULL */
size_t tomb_snap_len(const tomb_snap_t *s);
const tomb_ent_t *tomb_snap_at(const tomb_snap_t *s, size_t i); /* in no particular order */
/* The entry of a series, or NULL. hash must be labels_hash(ls, n). */
const tomb_ent_t *tomb_snap_find(const tomb_snap_t *s, const label_t *ls, size_t n, uint64_t hash);

/* Does some deleted interval of e intersect [mint, maxt]? */
bool tomb_ent_overlaps(const tomb_ent_t *e, int64_t mint, int64_t maxt);
/* Is all of [mint, maxt] deleted? */
bool tomb_ent_covers(const tomb_ent_t *e, int64_t mint, int64_t maxt);
/* Removes from sv->v[from..] (time-sorted) the samples inside e's intervals, keeping order;
 * returns how many were removed. */
size_t tomb_ent_filter(const tomb_ent_t *e, sample_vec_t *sv, size_t from);

/* For compaction and block rewrites: removes from sv (time-sorted samples of the series ls)
 * the samples inside its deleted intervals. A no-op (one atomic load) without tombstones;
 * accepts t NULL. For many series in a row, take a snapshot and use tomb_snap_filter. */
void tomb_filter(tombstones_t *t, const label_t *ls, size_t n, sample_vec_t *sv);
void tomb_snap_filter(const tomb_snap_t *s, const label_t *ls, size_t n, sample_vec_t *sv);

/* The file's bytes (docs/format/tombstones.md): tomb_encode appends the whole set s (NULL:
 * empty) to b; tomb_decode checks and decodes a whole file into a new snapshot (release with
 * tomb_snap_put), or returns MS_ECORRUPT with a reason in why. */
struct buf;
void tomb_encode(const tomb_snap_t *s, struct buf *b);
int tomb_decode(const void *p, size_t n, tomb_snap_t **out, char *why, size_t why_len);

/* ---- changes (caller serialises them; see above) ---- */

/* Adds intervals to series (merging with what is there), persists the whole set (tmp, fsync,
 * rename, fsync dir) and then publishes it. On failure nothing changes. add[i]'s labels are
 * copied. */
typedef struct tomb_add {
    const label_t *ls;
    size_t n;
    uint64_t hash;
    int64_t mint, maxt;
    uint32_t wal_mark;
} tomb_add_t;
int tomb_add(tombstones_t *t, const tomb_add_t *add, size_t nadd);

/* Replaces the whole set with ents (labels and intervals copied; entries with no interval
 * dropped), persists, publishes. */
int tomb_replace(tombstones_t *t, const tomb_ent_t *ents, size_t n);

#endif
