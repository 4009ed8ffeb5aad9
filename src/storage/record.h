/* record.h owns the WAL record payloads (series, samples, metadata) and their framing, laid
 * out in docs/format/wal.md. Encoders append to a buf_t; decoders read through cursor_t and
 * return MS_ECORRUPT on malformed bytes, never asserting. */
#ifndef MS_STORAGE_RECORD_H
#define MS_STORAGE_RECORD_H
#include "model/labels.h"
#include "util/buf.h"
#include <stddef.h>
#include <stdint.h>

enum { REC_SERIES = 1, REC_SAMPLES = 2, REC_METADATA = 3 };
#define REC_HEADER_LEN 9 /* type u8, payload length u32le, CRC32C(payload) u32le */

/* Framing: record_begin reserves the header and returns its offset; record_end fills it. */
size_t record_begin(buf_t *b, uint8_t type);
void record_end(buf_t *b, size_t hdr_off);

void record_put_series(buf_t *b, uint64_t ref, const label_t *ls, size_t n);
/* One group of samples of one series: n >= 1 timestamps/values read with the given byte stride.
 * *base carries the previous group's first timestamp within the record (start each record
 * at 0), so a batch of groups sampled at the same instant costs ~1 byte per timestamp. */
void record_put_samples(buf_t *b, int64_t *base, uint64_t ref, const int64_t *t, const double *v, size_t n,
                        size_t stride);
void record_put_metadata(buf_t *b, const char *metric, size_t ml, const char *type, size_t tl, const char *help,
                         size_t hl, const char *unit, size_t ul);

/* Decoded forms; strings borrowed from the payload. */
typedef struct rec_series {
    uint64_t ref;
    size_t first, n; /* labels [first, first+n) of the scratch label array */
} rec_series_t;
typedef struct rec_sample {
    uint64_t ref;
    int64_t t;
    uint64_t vbits;
} rec_sample_t;
typedef struct rec_meta {
    const char *s[4]; /* metric, type, help, unit (not NUL-terminated) */
    size_t len[4];
} rec_meta_t;

/* Scratch arrays reused across records (grow as needed, free with record_scratch_free). */
typedef struct rec_scratch {
    rec_series_t *series;
    size_t nseries, capseries;
    label_t *labels;
    size_t nlabels, caplabels;
    rec_sample_t *samples;
    size_t nsamples, capsamples;
    rec_meta_t *meta;
    size_t nmeta, capmeta;
} rec_scratch_t;
void record_scratch_free(rec_scratch_t *s);

int record_decode_series(const uint8_t *p, size_t n, rec_scratch_t *s);
int record_decode_samples(const uint8_t *p, size_t n, rec_scratch_t *s);
int record_decode_metadata(const uint8_t *p, size_t n, rec_scratch_t *s);

#endif
