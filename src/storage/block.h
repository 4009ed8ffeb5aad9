/* block.h owns immutable on-disk blocks (docs/format/block.md): a writer that builds one block
 * directory from series handed over in label order (tmp dir, fsync, rename), and a reader that
 * maps a finished block and serves it through the reader interface (reader.h).
 * Ownership: block_open returns a block the caller frees with block_close. Lifetime of what a
 * block hands out (labels, symbol strings) is the block's, i.e. until block_close; the db only
 * closes blocks under its gc write lock, so no querier can still be reading one.
 * Threading: a block_t is read-only after open and may be read from many threads. */
#ifndef MS_STORAGE_BLOCK_H
#define MS_STORAGE_BLOCK_H
#include "model/labels.h"
#include "storage/reader.h"
#include "storage/storage.h"
#include <stdbool.h>
#include <stdint.h>

#define BLOCK_META_LEN 64

typedef struct block_meta {
    int64_t mint, maxt; /* inclusive */
    uint64_t nseries, nsamples, nchunks, index_size;
} block_meta_t;

/* ---- writing ---- */
typedef struct block_writer block_writer_t;

/* Starts <parent>/<seq>.tmp/ (removing any leftover of that name). zlevel: zstd level, 0 = none.
 * sync false skips every fsync (the db passes it when the WAL fsync policy is "never": the
 * tmp + rename order still makes a process crash safe, only an OS crash is not). */
int block_writer_open(const char *parent, uint32_t seq, int zlevel, bool sync, block_writer_t **out);
/* Adds one series; calls must come in strictly increasing labels_cmp order. samples strictly
 * increasing in t, n >= 1. Copies what it keeps. */
int block_writer_add(block_writer_t *w, const label_t *ls, size_t nl, const sample_t *s, size_t n);
/* Writes index and meta, fsyncs, renames <seq>.tmp to <seq>, fsyncs parent; frees w. On error
 * removes the tmp dir. With no series added, removes the tmp dir and returns MS_ENOENT. */
int block_writer_finish(block_writer_t *w, block_meta_t *meta_out);
void block_writer_abort(block_writer_t *w); /* removes the tmp dir and frees; accepts NULL */
uint32_t block_writer_seq(const block_writer_t *w);
const char *block_writer_final_dir(const block_writer_t *w); /* <parent>/<seq> */

/* ---- reading ---- */
typedef struct block block_t;

/* Opens <dir> (checks meta and the index CRC, maps index and chunks). */
int block_open(const char *dir, uint32_t seq, block_t **out, char *err, size_t err_len);
void block_close(block_t *b); /* unmaps; accepts NULL */
const block_meta_t *block_meta(const block_t *b);
uint32_t block_seq(const block_t *b);
const char *block_dir(const block_t *b);
uint64_t block_disk_bytes(const block_t *b); /* chunks + index + meta */

/* A per-querier view of a block, serving reader_ops (self = the view). Label arrays it hands
 * out live until block_view_free. */
typedef struct block_view block_view_t;
extern const reader_ops_t block_reader_ops;
block_view_t *block_view_new(block_t *b);
void block_view_free(block_view_t *v);
/* Number of corrupt chunks/entries met by this view (they read as empty). */
uint64_t block_view_errors(const block_view_t *v);
/* Corrupt chunks/entries met by every view of this block since block_open (status endpoint). */
uint64_t block_read_errors(const block_t *b);

/* Removes a directory tree made of plain files (a block or a tmp block). */
int block_rmdir(const char *dir);

#endif
