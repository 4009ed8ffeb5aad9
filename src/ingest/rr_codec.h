/* rr_codec.h owns the remote_read wire format: decoding a snappy-compressed prompb.ReadRequest
 * into queries with compiled matchers, and encoding both response types (SAMPLES: a snappy
 * prompb.ReadResponse; STREAMED_XOR_CHUNKS: frames of ChunkedReadResponse carrying Prometheus
 * XOR chunks). It never touches storage, so it can be tested and fuzzed with no db.
 *
 * Wire facts (prompb remote.proto / types.proto):
 *   ReadRequest   { repeated Query queries = 1; repeated ResponseType accepted_response_types = 2; }
 *   Query         { int64 start_timestamp_ms = 1; int64 end_timestamp_ms = 2;
 *                   repeated LabelMatcher matchers = 3; ReadHints hints = 4; }
 *   LabelMatcher  { Type type = 1 (EQ 0, NEQ 1, RE 2, NRE 3); string name = 2; string value = 3; }
 *   ReadResponse  { repeated QueryResult results = 1; }   QueryResult { repeated TimeSeries timeseries = 1; }
 *   TimeSeries    { repeated Label labels = 1; repeated Sample samples = 2; }
 *   Sample        { double value = 1; int64 timestamp = 2; }   Label { string name = 1; string value = 2; }
 *   ChunkedReadResponse { repeated ChunkedSeries chunked_series = 1; int64 query_index = 2; }
 *   ChunkedSeries { repeated Label labels = 1; repeated Chunk chunks = 2; }
 *   Chunk         { int64 min_time_ms = 1; int64 max_time_ms = 2; Encoding type = 3 (XOR 1); bytes data = 4; }
 * A streamed frame is uvarint(len(msg)) ++ CRC32-Castagnoli(msg) as big-endian uint32 ++ msg.
 * Like Go's proto3 marshalling, zero-valued scalars and empty strings are omitted, except that a
 * sample value of -0.0 is kept (its bits are not zero). */
#ifndef MS_INGEST_RR_CODEC_H
#define MS_INGEST_RR_CODEC_H
#include "model/labels.h"
#include "model/matcher.h"
#include "storage/storage.h"
#include "util/buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { RR_SAMPLES = 0, RR_STREAMED_XOR_CHUNKS = 1 } rr_response_type_t;

#define RR_CONTENT_TYPE_SAMPLES "application/x-protobuf"
#define RR_CONTENT_TYPE_STREAMED "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
#define RR_XOR_MAX_SAMPLES 120          /* samples per re-encoded chunk, as Prometheus's head cuts */
#define RR_MAX_FRAME_BYTES (1u << 20)   /* Prometheus's --storage.remote.read-max-bytes-in-frame */

typedef struct rr_query {
    int64_t start_ms, end_ms;           /* inclusive */
    matcher_t **matchers;               /* owned; n_matchers entries */
    size_t n_matchers;
} rr_query_t;

typedef struct rr_request {
    rr_query_t *queries;                /* owned */
    size_t n_queries;
    rr_response_type_t response_type;   /* negotiated: first accepted type we support, else SAMPLES */
} rr_request_t;

typedef enum {
    RR_OK = 0,
    RR_BAD_REQUEST,   /* malformed, bad regex, no supported response type: 400 */
    RR_TOO_LARGE,     /* decompressed size over the limit: 413 */
} rr_outcome_t;

/* Decompresses (snappy block format, Content-Encoding "snappy" or absent) within
 * max_decompressed bytes and decodes the ReadRequest. On anything but RR_OK, msg says why and
 * *out is left empty; rr_request_free is harmless either way. */
rr_outcome_t rr_decode_request(const void *body, size_t body_len, const char *content_encoding,
                               size_t max_decompressed, rr_request_t *out, char *msg, size_t msg_len);
/* Decodes an uncompressed ReadRequest (untrusted bytes). */
rr_outcome_t rr_decode_request_proto(const void *pb, size_t pb_len, rr_request_t *out, char *msg, size_t msg_len);
void rr_request_free(rr_request_t *r); /* accepts NULL and zeroed requests */

/* ---- SAMPLES responses ----
 * Build one QueryResult per query into a scratch buf (rr_encode_timeseries for each series), then
 * rr_encode_query_result appends it to the ReadResponse buf; compress with rw_snappy_compress. */
void rr_encode_timeseries(buf_t *qr, const label_t *labels, size_t n_labels, const sample_t *s, size_t n);
void rr_encode_query_result(buf_t *resp, const buf_t *qr);

/* ---- STREAMED_XOR_CHUNKS responses ----
 * Appends the frames for one series: its samples re-encoded into XOR chunks of at most
 * RR_XOR_MAX_SAMPLES samples, one series per frame, split over several frames (labels repeated)
 * once a frame passes max_frame_bytes, as Prometheus's server does. n may be 0 (nothing written). */
void rr_encode_chunked_series(buf_t *out, int64_t query_index, const label_t *labels, size_t n_labels,
                              const sample_t *s, size_t n, size_t max_frame_bytes);

/* Replaces chunk's contents with Prometheus's XOR chunk encoding of n (1..65535) samples in
 * strictly increasing time order: a big-endian uint16 sample count, then the Gorilla bit stream
 * (first timestamp as zig-zag varint, first value as 64 raw bits, second timestamp delta as
 * uvarint, then delta-of-delta buckets 0/14/17/20/64 bits and XOR'd values with leading-zero
 * counts clamped to 31). */
void rr_xor_encode(buf_t *chunk, const sample_t *s, size_t n);
/* Decodes a Prometheus XOR chunk into out (appending). Returns 0 or MS_ECORRUPT. */
int rr_xor_decode(const void *chunk, size_t len, sample_vec_t *out);

#endif
