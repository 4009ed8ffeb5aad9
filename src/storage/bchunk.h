/* bchunk.h owns the on-disk block chunk encoding: one series' samples as a timestamp column
 * (delta-of-deltas) and a value column (scaled decimal integers with deltas, or XOR'd bit
 * patterns), zstd-compressed when that is smaller; byte layout in docs/format/block.md and
 * docs/format/bchunk.md. Version 2 (written) bit-packs the deltas; version 1 is still read.
 * Decoding reads only through cursor_t and bounds every length, so damaged files are safe. */
#ifndef MS_STORAGE_BCHUNK_H
#define MS_STORAGE_BCHUNK_H
#include "storage/storage.h"
#include "util/buf.h"
#include <stddef.h>
#include <stdint.h>

#define BCHUNK_MAX_SAMPLES 65536
#define BCHUNK_MAX_RAW (16u << 20)

/* The record's encoding byte names the column layout version and the compression. A reader
 * refuses (MS_ECORRUPT) any other value, e.g. a later version's. */
enum { BCHUNK_RAW = 0, BCHUNK_ZSTD = 1, BCHUNK_RAW_V2 = 2, BCHUNK_ZSTD_V2 = 3 };
#define BCHUNK_VERSION 2 /* what bchunk_encode writes */

/* Appends one chunk record for samples s[0..n) (1 <= n <= BCHUNK_MAX_SAMPLES, strictly
 * increasing t). zlevel <= 0 stores raw columns; otherwise the smaller of raw and zstd. */
void bchunk_encode(const sample_t *s, size_t n, int zlevel, buf_t *out);
/* Just the columns (uncompressed), for measurement and tests. */
void bchunk_columns(const sample_t *s, size_t n, buf_t *out);
/* The same for an explicit column layout version (1 or 2): tests of the old reader, and
 * measurements comparing the two. */
void bchunk_columns_version(const sample_t *s, size_t n, int version, buf_t *out);
void bchunk_encode_version(const sample_t *s, size_t n, int zlevel, int version, buf_t *out);

/* Reusable decoding state (a zstd context and scratch buffers), so reading many chunks does not
 * allocate per chunk. One per thread at a time; bchunk_dec_free accepts NULL. */
typedef struct bchunk_dec bchunk_dec_t;
bchunk_dec_t *bchunk_dec_new(void);
void bchunk_dec_free(bchunk_dec_t *d);

/* Decodes the record starting at p (avail bytes readable) and appends samples with
 * mint <= t <= maxt to out. MS_ECORRUPT on any malformed byte (out is left as it was).
 * d may be NULL (a temporary state is used). */
int bchunk_decode(bchunk_dec_t *d, const uint8_t *p, size_t avail, int64_t mint, int64_t maxt, sample_vec_t *out);

#endif
