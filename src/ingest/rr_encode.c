/* rr_encode.c owns writing remote_read responses: TimeSeries/QueryResult messages for SAMPLES and
 * the CRC-framed ChunkedReadResponse stream for STREAMED_XOR_CHUNKS. Field order and the omission
 * of zero values follow Go's proto3 marshalling so our bytes match Prometheus's for equal data. */
#include "ingest/rr_codec.h"
#include "ingest/pb_write.h"
#include "util/alloc.h"
#include "util/crc32c.h"
#include <stdlib.h>
#include <string.h>

static uint64_t f64_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return u;
}

static size_t sample_size(const sample_t *s)
{
    return (f64_bits(s->v) ? 9 : 0) + (s->t ? 1 + pb_varint_len((uint64_t)s->t) : 0);
}

void rr_encode_timeseries(buf_t *qr, const label_t *labels, size_t n_labels, const sample_t *s, size_t n)
{
    size_t sz = pb_labels_size(labels, n_labels);
    for (size_t i = 0; i < n; i++) sz += pb_len_field_size(sample_size(&s[i]));
    pb_put_key(qr, 1, 2);
    buf_put_uvarint(qr, sz);
    pb_put_labels(qr, 1, labels, n_labels);
    for (size_t i = 0; i < n; i++) {
        pb_put_key(qr, 2, 2);
        buf_put_uvarint(qr, sample_size(&s[i]));
        if (f64_bits(s[i].v)) {
            pb_put_key(qr, 1, 1);
            buf_put_u64le(qr, f64_bits(s[i].v));
        }
        if (s[i].t) {
            pb_put_key(qr, 2, 0);
            buf_put_uvarint(qr, (uint64_t)s[i].t);
        }
    }
}

void rr_encode_query_result(buf_t *resp, const buf_t *qr) { pb_put_len_field(resp, 1, qr->data, qr->len); }

/* ---- streamed chunks ---- */

typedef struct chunk_ref {
    int64_t mint, maxt;
    size_t off, len; /* into the scratch chunk-bytes buffer */
} chunk_ref_t;

static size_t chunk_msg_size(const chunk_ref_t *c)
{
    return (c->mint ? 1 + pb_varint_len((uint64_t)c->mint) : 0) + (c->maxt ? 1 + pb_varint_len((uint64_t)c->maxt) : 0) +
           2 /* type XOR */ + (c->len ? pb_len_field_size(c->len) : 0);
}

/* Writes one frame: ChunkedReadResponse{chunked_series: [{labels, chunks}], query_index}. */
static void put_frame(buf_t *out, int64_t query_index, const label_t *labels, size_t n_labels, const chunk_ref_t *cs,
                      size_t nc, const uint8_t *bytes)
{
    size_t series_sz = pb_labels_size(labels, n_labels);
    for (size_t i = 0; i < nc; i++) series_sz += pb_len_field_size(chunk_msg_size(&cs[i]));
    size_t msg_sz = pb_len_field_size(series_sz) + (query_index ? 1 + pb_varint_len((uint64_t)query_index) : 0);

    buf_put_uvarint(out, msg_sz);
    size_t crc_at = out->len;
    buf_append(out, "\0\0\0\0", 4);
    size_t msg_at = out->len;
    pb_put_key(out, 1, 2);
    buf_put_uvarint(out, series_sz);
    pb_put_labels(out, 1, labels, n_labels);
    for (size_t i = 0; i < nc; i++) {
        const chunk_ref_t *c = &cs[i];
        pb_put_key(out, 2, 2);
        buf_put_uvarint(out, chunk_msg_size(c));
        if (c->mint) {
            pb_put_key(out, 1, 0);
            buf_put_uvarint(out, (uint64_t)c->mint);
        }
        if (c->maxt) {
            pb_put_key(out, 2, 0);
            buf_put_uvarint(out, (uint64_t)c->maxt);
        }
        pb_put_key(out, 3, 0);
        buf_put_uvarint(out, 1); /* Chunk.Encoding XOR */
        if (c->len) pb_put_len_field(out, 4, bytes + c->off, c->len);
    }
    if (query_index) {
        pb_put_key(out, 2, 0);
        buf_put_uvarint(out, (uint64_t)query_index);
    }
    uint32_t crc = crc32c(0, out->data + msg_at, out->len - msg_at);
    out->data[crc_at] = (uint8_t)(crc >> 24);
    out->data[crc_at + 1] = (uint8_t)(crc >> 16);
    out->data[crc_at + 2] = (uint8_t)(crc >> 8);
    out->data[crc_at + 3] = (uint8_t)crc;
}

void rr_encode_chunked_series(buf_t *out, int64_t query_index, const label_t *labels, size_t n_labels,
                              const sample_t *s, size_t n, size_t max_frame_bytes)
{
    if (n == 0) return;
    size_t n_chunks = (n + RR_XOR_MAX_SAMPLES - 1) / RR_XOR_MAX_SAMPLES;
    chunk_ref_t *refs = xmalloc(n_chunks * sizeof *refs);
    buf_t bytes = BUF_INIT, chunk = BUF_INIT;
    /* Like Prometheus: start each frame with the labels' size as spent, add chunks until the
     * budget is gone (a frame may overshoot by one chunk), then cut the frame. */
    long long left = (long long)max_frame_bytes - (long long)pb_labels_size(labels, n_labels);
    size_t first = 0, nc = 0;
    for (size_t i = 0; i < n_chunks; i++) {
        size_t lo = i * RR_XOR_MAX_SAMPLES, cnt = n - lo < RR_XOR_MAX_SAMPLES ? n - lo : RR_XOR_MAX_SAMPLES;
        rr_xor_encode(&chunk, s + lo, cnt);
        chunk_ref_t *c = &refs[i];
        c->mint = s[lo].t;
        c->maxt = s[lo + cnt - 1].t;
        c->off = bytes.len;
        c->len = chunk.len;
        buf_append(&bytes, chunk.data, chunk.len);
        nc++;
        left -= (long long)pb_len_field_size(chunk_msg_size(c));
        if (left > 0 && i + 1 < n_chunks) continue;
        put_frame(out, query_index, labels, n_labels, &refs[first], nc, bytes.data);
        first = i + 1;
        nc = 0;
        left = (long long)max_frame_bytes - (long long)pb_labels_size(labels, n_labels);
    }
    buf_free(&bytes);
    buf_free(&chunk);
    free(refs);
}
