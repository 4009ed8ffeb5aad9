/* storage.h is the one public face of the storage engine, used by both the write side (ingest,
 * api/write) and the read side (promql, api metadata). Nothing outside src/storage/ includes any
 * other storage header.
 *
 * Model: a db holds series (a sorted label set + samples). Writes go through an appender that
 * is committed as one unit: WAL records are written (and fsynced per policy) before the samples
 * are applied to the head, and commit returns only then, so every committed sample is visible
 * to any querier opened afterwards (read-your-writes) and survives kill -9.
 * Reads go through a querier, a consistent view for one query: series it returns and their label
 * strings stay valid until querier_close.
 *
 * Threading: db, appenders and queriers may be used from many threads; one appender or querier
 * belongs to one thread at a time. */
#ifndef MS_STORAGE_STORAGE_H
#define MS_STORAGE_STORAGE_H
#include "model/labels.h"
#include "model/matcher.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct db db_t;
typedef struct appender appender_t;
typedef struct querier querier_t;
typedef struct series_set series_set_t;

typedef struct sample {
    int64_t t; /* Unix milliseconds */
    double v;
} sample_t;

/* A growable array of samples, owned by whoever declared it; free with sample_vec_free. */
typedef struct sample_vec {
    sample_t *v;
    size_t n, cap;
} sample_vec_t;
void sample_vec_free(sample_vec_t *sv);

typedef enum {
    WAL_FSYNC_ALWAYS = 0, /* commit returns after fdatasync covering its records (group commit) */
    WAL_FSYNC_INTERVAL,   /* write() before commit returns; fdatasync every fsync_interval_ms */
    WAL_FSYNC_NEVER,      /* write() before commit returns; the OS decides when to flush */
} wal_fsync_t;

typedef struct db_options {
    const char *data_dir;
    int64_t retention_ms;       /* 0: keep forever */
    int64_t max_future_ms;      /* samples further ahead of now are dropped; default 10 min */
    wal_fsync_t wal_fsync;
    int64_t wal_fsync_interval_ms;
    int64_t wal_segment_bytes;  /* segment size before a new file is cut; default 128 MiB */
    /* On-disk blocks (docs/format/block.md): samples older than the head's newest minus
     * head_window_ms are cut into immutable blocks of aligned block_range_ms ranges.
     * head_window_ms 0 (the zero value) keeps everything in the head (no blocks are cut). */
    int64_t head_window_ms;     /* default 2h */
    int64_t block_range_ms;     /* default 2h; <= 0 means 2h */
    int block_zstd_level;       /* default 3; <= 0 stores block chunks uncompressed */
    int64_t retention_bytes;    /* 0: no limit; else the oldest blocks are deleted while all
                                   blocks together take more bytes on disk than this */
    bool no_compaction;         /* true: no background compaction (db_compact still works) */
    bool no_head_snapshot;      /* true: no head snapshot at close; every open replays the WAL */
    int64_t max_block_range_ms; /* compaction makes blocks spanning at most this, rounded down
                                   to R, 3R or 12R (R = block_range_ms); 0: 12R. With retention
                                   set, also at most retention_ms / 10 (Prometheus's rule) */
    /* Backpressure (docs/operations.md "Backfill backpressure"): a commit holding samples older
     * than the head window, made while the head spans more than window + range + max(window,
     * range) beyond the last block cut, wakes the cut and waits up to ingest_wait_ms for it to
     * catch up, then fails with MS_EBUSY. Commits of in-window samples never wait. */
    int64_t ingest_wait_ms;     /* 0: 5000; < 0: refuse at once instead of waiting */
} db_options_t;

/* Fills defaults: data_dir "./data", retention 15d, max_future 10m, fsync always, 128 MiB,
 * head window 2h, block range 2h, zstd level 3. */
void db_options_default(db_options_t *o);

/* Opens (creating if needed) the database and replays its WAL. On failure writes a message. */
int db_open(const db_options_t *opts, db_t **out, char *err, size_t err_len);
/* Flushes and closes the WAL and frees everything. Accepts NULL. */
void db_close(db_t *db);

/* ---- writing ---- */

typedef struct append_result {
    uint64_t samples_accepted;   /* stored (including no-op duplicates of identical samples) */
    uint64_t samples_too_old;    /* older than the retention window: dropped */
    uint64_t samples_too_new;    /* further than max_future_ms ahead of now: dropped */
    uint64_t series_created;
} append_result_t;

int db_appender(db_t *db, appender_t **out);
/* Adds samples (any order) for one series. labels must be sorted and valid (labels_validate)
 * and hash == labels_hash(labels, n). The label bytes are borrowed: they must stay valid until
 * appender_commit or appender_rollback returns; storage copies what it keeps. */
int appender_add(appender_t *a, const label_t *labels, size_t n, uint64_t hash, const sample_t *samples,
                 size_t ns);
/* Records metric metadata (type e.g. "counter", help, unit); same borrowing rule. */
int appender_add_metadata(appender_t *a, const char *metric, size_t metric_len, const char *type,
                          size_t type_len, const char *help, size_t help_len, const char *unit, size_t unit_len);
/* Logs everything to the WAL, syncs per policy, applies to the head, frees the appender.
 * On error (MS_EIO, MS_ENOSPC, ...) nothing of the batch is applied or acknowledged.
 * MS_EBUSY: backpressure, ingestion is ahead of the block cut (see ingest_wait_ms); nothing of
 * the batch was logged or applied (no series created); the same batch may be retried later. */
/* Multi-tenancy: the reserved label every series of a named tenant carries (the API refuses it
 * from clients on every ingest path, so no one can write into another tenant). */
#define TENANT_LABEL "__tenant__"
#define TENANT_LABEL_LEN 10
/* Makes every later appender_add of a insert TENANT_LABEL=name (at its sorted place, hash
 * recomputed) into the series it adds; appender_add then refuses (MS_EINVAL) label sets that
 * already carry TENANT_LABEL. name (len > 0) is borrowed until commit or rollback. Without this
 * call (open mode) labels are stored as given. */
int appender_set_tenant(appender_t *a, const char *name, size_t len);
int appender_commit(appender_t *a, append_result_t *res);
void appender_rollback(appender_t *a); /* discards and frees; accepts NULL */

/* ---- reading ---- */

/* Opens a view over samples in [mint, maxt] (ms, inclusive). */
int db_querier(db_t *db, int64_t mint, int64_t maxt, querier_t **out);
void querier_close(querier_t *q); /* accepts NULL */

/* Selects the series matching all matchers (AND) that have at least one sample in the querier's
 * range, sorted by labels_cmp. A matcher that matches "" also matches series lacking its label,
 * as in Prometheus. At least one matcher is required. */
int querier_select(querier_t *q, const matcher_t *const *ms, size_t n, series_set_t **out);
size_t series_set_len(const series_set_t *s);
/* Labels of series i: borrowed until querier_close. */
labels_t series_set_labels(const series_set_t *s, size_t i);
/* Appends series i's samples with mint <= t <= maxt (clamped to the querier's range), in time
 * order, one per timestamp, to out. Safe to call from several threads at once for different i of
 * one set (the PromQL engine loads series in parallel); each thread brings its own out. */
int series_set_samples(const series_set_t *s, size_t i, int64_t mint, int64_t maxt, sample_vec_t *out);
void series_set_free(series_set_t *s); /* accepts NULL */

/* All label names, sorted, unique, of series with data in the querier's range. Strings borrowed
 * until querier_close; *names is malloc'd (caller frees the array). */
int querier_label_names(querier_t *q, const char ***names, size_t **name_lens, size_t *n);
/* All values of one label, sorted, unique, of series with data in range; as above. */
int querier_label_values(querier_t *q, const char *name, size_t name_len, const char ***values,
                         size_t **value_lens, size_t *n);

/* Scopes q to one tenant (name copied, len > 0): querier_select ANDs TENANT_LABEL="name" into
 * every select and returns label sets without TENANT_LABEL (re-sorted, so the set stays in
 * labels_cmp order); querier_label_names/values see only that tenant's series and never
 * TENANT_LABEL. Call right after db_querier, before anything else. Without it (open mode) q
 * sees every series as stored. */
int querier_set_tenant(querier_t *q, const char *name, size_t len);

/* ---- metadata and status ---- */

typedef struct metric_metadata {
    const char *metric, *type, *help, *unit; /* NUL-terminated, borrowed for the callback */
} metric_metadata_t;
/* Calls fn for each stored metadata entry (optionally only for one metric); stops if fn != 0. */
int db_metadata_each(db_t *db, const char *metric, int (*fn)(const metric_metadata_t *, void *), void *arg);

typedef struct db_stats {
    uint64_t series;             /* active series in the head */
    uint64_t samples_appended;   /* since start */
    uint64_t head_chunks;
    int64_t head_mint, head_maxt;
    uint64_t wal_bytes;
    uint64_t wal_replay_records, wal_replay_corrupt, wal_replay_ms;
    bool head_snapshot_loaded; /* the head came from a clean close's snapshot (wal_replay_ms: its load) */
    uint64_t head_bytes;         /* memory held by head structures (series, chunks, index) */
    uint64_t blocks;             /* on-disk blocks */
    uint64_t block_bytes;        /* their size on disk (chunks + index + meta) */
    uint64_t block_samples, block_series; /* summed over blocks (a series in two blocks counts twice) */
    int64_t blocks_mint, blocks_maxt;     /* 0 when there are no blocks */
    uint64_t cuts, cut_failures;          /* block cuts since start */
    uint64_t compactions, compaction_failures; /* block merges since start */
    uint64_t compaction_blocks_in;        /* input blocks merged away since start */
    uint64_t compaction_ms;               /* time spent merging since start */
    const struct metrics_histogram *wal_fsync_seconds; /* WAL fdatasync latency; borrowed until db_close */
    uint64_t wal_write_failures; /* failed WAL writes, fsyncs and segment creations since start */
    bool wal_writable;           /* false from a failed WAL write until one persists again */
    uint64_t ingest_backpressure_waits;      /* commits that waited for the block cut */
    uint64_t ingest_backpressure_rejections; /* of those, refused with MS_EBUSY after the wait */
} db_stats_t;
void db_stats(db_t *db, db_stats_t *out);

/* ---- TSDB status (GET /api/v1/status/tsdb), computed from the head as Prometheus does ---- */

typedef struct db_stat_entry {
    char *name; /* malloc'd: a metric name, a label name, or "name=value" */
    uint64_t value;
} db_stat_entry_t;

typedef struct db_stat_list {
    db_stat_entry_t *v; /* highest value first; equal values by name, bytewise */
    size_t n;
} db_stat_list_t;

typedef struct db_head_status_opts {
    const matcher_t *const *ms; /* only series matching all of these (e.g. one tenant); */
    size_t nms;                 /* nms 0: the whole head */
    const char *hide_name;      /* a label name left out of every list and count (e.g. */
    size_t hide_len;            /* TENANT_LABEL); NULL: none */
    size_t topn;                /* entries per list; 0 means 10 (Prometheus's fixed number) */
} db_head_status_opts_t;

typedef struct db_head_status {
    uint64_t num_series, num_label_pairs, chunk_count;
    int64_t min_time, max_time;       /* of head samples; INT64_MAX / INT64_MIN when empty */
    db_stat_list_t series_by_metric;  /* series per __name__ value */
    db_stat_list_t values_by_label;   /* distinct values per label name */
    db_stat_list_t memory_by_label;   /* bytes of the label's distinct values (as Prometheus 2.42) */
    db_stat_list_t series_by_pair;    /* series per "name=value" */
} db_head_status_t;

/* Fills out from the head's postings index (one pass over label pairs, no per-series copy;
 * with matchers, one select plus a count over the selected series' labels). Holds the index read lock for
 * the pass, so appends creating new series wait for it. Free with db_head_status_free. */
int db_head_status(db_t *db, const db_head_status_opts_t *opts, db_head_status_t *out);
void db_head_status_free(db_head_status_t *st); /* frees the lists; accepts NULL */

/* A block directory moved aside at open because it failed its checks (storage/quarantine.c). */
typedef struct db_quarantined {
    char *name;     /* directory name under <data_dir>/quarantine, "<block>-<unix s>" */
    char *reason;   /* why (the check that failed), "" if unknown */
    int64_t time_s; /* when it was moved, unix seconds */
    uint64_t bytes; /* size of its files */
} db_quarantined_t;
/* Lists <data_dir>/quarantine (also what earlier runs moved), sorted by name; *out malloc'd. */
int db_quarantined(db_t *db, db_quarantined_t **out, size_t *n);
void db_quarantined_free(db_quarantined_t *v, size_t n);
/* Corrupt chunks or index entries met while reading the loaded blocks since they were opened
 * (each read as empty, logged once per query); a block rewritten by compaction starts at 0. */
uint64_t db_block_corrupt_reads(db_t *db);

/* Applies retention now (also runs periodically in the background): head chunks, WAL
 * segments and whole blocks older than the retention window are deleted. */
int db_apply_retention(db_t *db, int64_t now_ms);

/* Cuts head samples older than (newest sample - head_window_ms), aligned down to block_range_ms,
 * into on-disk blocks now, then truncates the head and the WAL (also runs in the background
 * about once a second). MS_OK when there was nothing to cut. */
int db_cut_blocks(db_t *db);

/* Cuts every head sample (not only those older than the head window) into blocks now, then
 * truncates the head and the WAL; used before measuring disk use or taking a backup
 * (POST /api/v1/admin/tsdb/flush). MS_OK when the head was empty. */
int db_flush_head(db_t *db);

/* Runs compaction until nothing is left to merge (also runs in the background): blocks inside
 * one aligned window of the next level (2h -> 6h -> 24h by default) are merged into one block,
 * overlapping blocks are merged, and tombstoned samples are dropped. *merged (may be NULL)
 * gets the number of merges done. */
int db_compact(db_t *db, uint64_t *merged);

/* Deletes (through tombstones, honoured by every querier opened after it returns and made
 * durable before it returns) the samples in [mint, maxt] of every series matching all of ms.
 * *nseries (may be NULL) gets the number of series touched. */
int db_delete_series(db_t *db, const matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt,
                     uint64_t *nseries);
/* Rewrites the blocks holding tombstoned samples without them and forgets the tombstones that
 * no longer cover anything (POST /api/v1/admin/tsdb/clean_tombstones). */
int db_clean_tombstones(db_t *db);

#endif
