/* db_internal.h owns struct db, shared by db.c (open/close, retention, metadata, stats),
 * appender.c, querier.c and head_replay.c. Internal to src/storage.
 * Locking: gc_lock is read-held by every live appender and querier, write-held by garbage
 * collection (retention) and by the short phases of a block cut, so series pointers and blocks
 * they hold stay valid; the block list changes only under its write side. meta_mu guards
 * metadata; cut_mu serialises block cuts and retention's block deletion. */
#ifndef MS_STORAGE_DB_INTERNAL_H
#define MS_STORAGE_DB_INTERNAL_H
#include "storage/block.h"
#include "storage/gclock.h"
#include "storage/head.h"
#include "storage/storage.h"
#include "storage/wal.h"
#include "util/buf.h"
#include <pthread.h>

typedef struct meta_entry {
    char *metric, *type, *help, *unit;
} meta_entry_t;

struct db {
    db_options_t opts;
    char *data_dir;
    int lock_fd; /* flock'd <data_dir>/lock: one process per data dir */
    head_t head;
    wal_t *wal;
    gclock_t gc_lock;
    struct tombstones *tomb; /* tombstones.h: deleted series and intervals (db_delete_series) */

    pthread_mutex_t meta_mu;
    strmap_t meta; /* metric -> meta_entry_t* */

    _Atomic uint64_t samples_appended;
    uint64_t replay_records, replay_corrupt, replay_ms;
    bool snapshot_loaded; /* the head came from head.snapshot, not WAL replay */
    bool open_done;       /* db_open finished: the head is whole (a snapshot may be taken) */

    pthread_mutex_t pool_mu; /* recycled appenders, so steady-state commits reuse buffers */
    appender_t *pool;
    size_t npool;

    /* on-disk blocks (blocks.c) */
    char *blocks_dir;
    block_t **blocks; /* sorted by seq (oldest first); changed under the gc write lock */
    size_t nblocks, capblocks;
    uint32_t next_block_seq;
    pthread_mutex_t cut_mu;
    _Atomic int64_t head_maxt;       /* newest sample time applied to the head; INT64_MIN: none */
    _Atomic int64_t head_mint_hint;  /* <= oldest sample that may need cutting; INT64_MAX: none */
    _Atomic int64_t cut_dirty_below; /* boundary of the cut in progress, else INT64_MIN */
    uint32_t cut_wal_seg;            /* from <blocks>/cut: replay skips samples t < cut_T in */
    int64_t cut_T;                   /* WAL segments numbered below cut_wal_seg */
    _Atomic uint64_t cuts, cut_failures;
    int64_t compact_upto; /* (cut_mu) highest boundary any cut used: windows ending at or
                             below it are complete and may be compacted (compact.c) */
    _Atomic uint64_t compactions, compaction_failures, compaction_blocks_in, compaction_ms;
    int64_t compact_retry_at_ms; /* (bg thread) after a failure, background compaction waits */
    _Atomic bool closing;        /* set by db_close: a running merge gives up (MS_ECANCELED) */
    uint32_t *compact_bad;       /* (cut_mu) seqs of blocks a merge found damaged: left out of */
    size_t ncompact_bad;         /* every later group in this process (they read as empty parts) */
    pthread_mutex_t compact_mu;  /* held by a merge from plan to publish, and by tombstone cleanup */
    block_t **merging;           /* (cut_mu) the inputs of the merge in progress: retention */
    size_t nmerging;             /* leaves them alone until it publishes */
    pthread_t compact_thr;       /* background compaction (compact_main in db.c) */
    bool compact_started, compact_stop; /* (bg_mu) */
    pthread_cond_t compact_cond; /* (bg_mu) a cut made blocks, or the db is closing */

    pthread_t bg;
    bool bg_started, bg_stop;
    bool cut_wanted;   /* (bg_mu) an appender held back by backpressure asks for a cut now */
    _Atomic uint64_t cut_gen; /* bumped under bg_mu, with a broadcast on bg_cond, when a cut check ends */
    pthread_mutex_t bg_mu;
    pthread_cond_t bg_cond;

    /* ingest backpressure (appender.c, docs/operations.md "Backfill backpressure"): a commit
     * whose head spans more than db_bp_limit_ms beyond what the cut has removed waits for it */
    _Atomic bool cut_running;       /* (blocks.c) a cut reset head_mint_hint and has not yet */
    _Atomic int64_t cut_floor;      /* truncated the head: the hint it started from (valid then) */
    _Atomic uint64_t bp_waits, bp_rejections;
    _Atomic uint64_t bp_kicked;     /* cut_gen + 1 of the last early wakeup of the cut; 0: none */
    _Atomic bool cut_last_failed;   /* (blocks.c) the last cut failed: no early wakeups, the
                                       background thread's 1 s retry paces the next attempts */
    _Atomic int64_t bp_logged_ms;   /* monotonic ms of the last backpressure log line; 0: none */
};

/* The head span (newest sample minus oldest uncut one) beyond which a commit of samples older
 * than the head window waits for the cut: head_window + block_range + max(both). The cut
 * leaves at most window + range in the head; the extra term is room for one cut to run. */
int64_t db_bp_limit_ms(const db_options_t *o);
/* blocks.c: ends a cut check (with or without a cut): bumps cut_gen and wakes every waiter. */
void db_cut_signal_done(db_t *db);

void db_meta_set(db_t *db, const char *metric, size_t ml, const char *type, size_t tl, const char *help, size_t hl,
                 const char *unit, size_t ul);
void appender_pool_free(db_t *db);
void db_meta_free_all(db_t *db); /* frees every metadata entry and the table */
/* Replays the WAL into the head and metadata (called by db_open). */
int head_replay(db_t *db);
/* Writes every live series and metadata entry into the open WAL segment (caller holds the gc
 * write lock), so older segments can be deleted. */
int db_relog_live(db_t *db);
/* Notes samples applied to the head in [mint, maxt] (for deciding when to cut). */
void db_note_samples(db_t *db, int64_t mint, int64_t maxt);

/* blocks.c: loads <data_dir>/blocks (removing *.tmp, reading the cut marker) at open. */
int blocks_load(db_t *db, char *err, size_t err_len);
void blocks_close_all(db_t *db);
/* Adds a reader for every block overlapping [mint, maxt] to q (caller holds the gc read lock). */
void blocks_add_readers(db_t *db, querier_t *q, int64_t mint, int64_t maxt);
/* Deletes blocks whose newest sample is older than cutoff, then (retention_bytes > 0) the
 * blocks with the oldest data while all blocks take more than retention_bytes; caller holds
 * the gc write lock. */
void blocks_apply_retention(db_t *db, int64_t cutoff);
/* Removes a block directory that is no longer listed: renamed to <dir>.tmp first (so a crash
 * midway leaves a tmp dir that the next load deletes, never a half-deleted block), then
 * deleted. */
int blocks_remove_dir(const char *dir);

/* compact.c (docs/format/block.md, "Compaction"). */
/* At load, after the blocks are open: closes and deletes every block that another loaded block
 * names in its parents file (a compaction interrupted after its output was renamed into
 * place). */
void compact_cleanup_parents(db_t *db);
/* The window sizes groups are formed in, ascending: R, 3R, 12R (R = block_range_ms), those
 * above max_block_range_ms (0: 12R) or retention/10 left out; R always. Returns the count. */
size_t compact_levels(const db_options_t *o, int64_t *levels);
/* Does one merge if a group is ready (takes compact_mu, and cut_mu except while merging);
 * *merged tells whether it did. */
int compact_step(db_t *db, bool *merged);
/* Is b an input of the merge in progress? Caller holds cut_mu. */
bool compact_is_input(const db_t *db, const block_t *b);
/* Tests only (NULL otherwise): called by a merge after it has written its output and before it
 * publishes, without cut_mu, so a test can act while a merge is in its long phase. */
extern void (*compact_test_pause)(void);

#endif
