/* rw_encode.h owns writing remote_write requests: a protobuf prompb.WriteRequest writer into a
 * buf_t and the snappy block compression of the result. Used by the example client, tests and
 * the benchmark load generator; the server never encodes.
 *
 * A WriteRequest is a concatenation of its repeated fields, so callers append one series or one
 * metadata entry at a time to the same buffer. Labels are written in the order given (the
 * server sorts them). */
#ifndef MS_INGEST_RW_ENCODE_H
#define MS_INGEST_RW_ENCODE_H
#include "model/labels.h"
#include "storage/storage.h"
#include "util/buf.h"
#include <stddef.h>
#include <stdint.h>

/* Appends WriteRequest field 1 (one TimeSeries with these labels and samples). */
void rw_encode_series(buf_t *b, const label_t *labels, size_t n_labels, const sample_t *samples, size_t n_samples);
/* Appends WriteRequest field 3 (one MetricMetadata); type is the prompb enum value (1 counter,
 * 2 gauge, ...); NULL strings are written as absent. */
void rw_encode_metadata(buf_t *b, uint32_t type, const char *metric, const char *help, const char *unit);
/* Replaces out's contents with the snappy block compression of in[0..n). */
int rw_snappy_compress(const void *in, size_t n, buf_t *out);

#endif
