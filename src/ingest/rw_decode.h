/* rw_decode.h owns turning a remote_write body into validated, sorted, hashed series without
 * touching storage, so the decoder can be tested and fuzzed with no db.
 *
 * Memory: rw_decode allocates the decompressed buffer, ONE label_t array, ONE sample_t array,
 * one series array and one metadata array per request (never per label or sample). Every
 * string in the result points into the decompressed buffer (or into the caller's buffer for
 * rw_decode_proto) and lives until rw_request_free. */
#ifndef MS_INGEST_RW_DECODE_H
#define MS_INGEST_RW_DECODE_H
#include "ingest/remote_write.h"
#include <stddef.h>
#include <stdint.h>

typedef struct rw_series {
    label_t *labels;     /* sorted, validated, empty values dropped; slice of rw_request.labels */
    size_t n_labels;
    sample_t *samples;   /* in wire order; slice of rw_request.samples */
    size_t n_samples;
    uint64_t hash;       /* labels_hash(labels, n_labels) */
} rw_series_t;

typedef struct rw_metadata {
    uint32_t type;       /* prompb MetricMetadata.MetricType value */
    const char *name, *help, *unit;
    size_t name_len, help_len, unit_len;
} rw_metadata_t;

typedef struct rw_request {
    uint8_t *raw;        /* decompressed protobuf (owned; NULL for rw_decode_proto) */
    size_t raw_len;
    rw_series_t *series;
    size_t n_series;
    label_t *labels;
    size_t n_labels;
    sample_t *samples;
    size_t n_samples;
    rw_metadata_t *metadata;
    size_t n_metadata;
    uint64_t exemplars_ignored;
} rw_request_t;

/* Checks Content-Encoding (must be "snappy", case-insensitive, spaces trimmed; NULL = missing),
 * decompresses (snappy block format) within lim->max_decompressed_bytes and decodes+validates.
 * On anything but RW_OK, msg holds the reason and *out is left empty (nothing to free, though
 * rw_request_free is harmless). */
rw_outcome_t rw_decode(const rw_limits_t *lim, const char *content_encoding, const void *body, size_t body_len,
                       rw_request_t *out, char *msg, size_t msg_len);
/* Decodes+validates an uncompressed prompb.WriteRequest; strings borrow from pb. */
rw_outcome_t rw_decode_proto(const rw_limits_t *lim, const void *pb, size_t pb_len, rw_request_t *out, char *msg,
                             size_t msg_len);
void rw_request_free(rw_request_t *r); /* accepts NULL and zeroed requests */

/* Lowercase Prometheus name of a MetricMetadata type ("counter", ...); "unknown" if out of range. */
const char *rw_metric_type_str(uint32_t type);

#endif
