/* rr_encode.c owns writing remote_read responses: TimeSeries/QueryResult messages for SAMPLES and
 * the CRC-framed ChunkedReadResponse stream for STREAMED_XOR_CHUNKS. Field order and the omission
 * of zero values follow Go's proto3 marshalling so our bytes match Prometheus's for equal data. */
#include "ingest/rr_codec.h"
#include "util/alloc.h"
#include "util/crc32c.h"
#include <stdlib.h>
#include <string.h>

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_key(buf_t *b, uint32_t field, uint32_t wt) { buf_put_uvarint(b, (uint64_t)field << 3 | wt); }

static void put_len_field(buf_t *b, uint32_t field, const void *p, size_t n)
{
    put_key(b, field, 2);
    buf_put_uvarint(b, n);
    buf_append(b, p, n);
}

static size_t len_field_size(size_t n) { return 1 + varint_len(n) + n; }

static size_t label_size(const label_t *l)
{
    return (l->name_len ? len_field_size(l->name_len) : 0) + (l->value_len ? len_field_size(l->value_len) : 0);
}

static void put_labels(buf_t *b, const label_t *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const label_t *l = &labels[i];
        put_key(b, 1, 2);
        buf_put_uvarint(b, label_size(l));
        if (l->name_len) put_len_field(b, 1, l->name, l->name_len);
        if (l->value_len) put_len_field(b, 2, l->value, l->value_len);
    }
}

static size_t labels_size(const label_t *labels, size_t n)
{
    size_t sz = 0;
    for (size_t i = 0; i < n; i++) sz += len_field_size(label_size(&labels[i]));
    return sz;
}

static uint64_t f64_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return u;
}

static size_t sample_size(const sample_t *s)
{
    return (f64_bits(s->v) ? 9 : 0) + (s->t ? 1 + varint_len((uint64_t)s->t) : 0);
}

void rr_encode_timeseries(buf_t *qr, const label_t *labels, size_t n_labels, const sample_t *s, size_t n)
{
    size_t sz = labels_size(labels, n_labels);
    for (size_t i = 0; i < n; i++) sz += len_field_size(sample_size(&s[i]));
    put_key(qr, 1, 2);
    buf_put_uvarint(qr, sz);
    put_labels(qr, labels, n_labels);
    for (size_t i = 0; i < n; i++) {
        put_key(qr, 2, 2);
        buf_put_uvarint(qr, sample_size(&s[i]));
        if (f64_bits(s[i].v)) {
            put_key(qr, 1, 1);
            buf_put_u64le(qr, f64_bits(s[i].v));
        }
        if (s[i].t) {
            put_key(qr, 2, 0);
            buf_put_uvarint(qr, (uint64_t)s[i].t);
        }
    }
}

void rr_encode_query_result(buf_t *resp, const buf_t *qr) { put_len_field(resp, 1, qr->data, qr->len); }

/* ---- streamed chunks ---- */

typedef struct chunk_ref {
    int64_t mint, maxt;
    size_t off, len; /* into the scratch chunk-bytes buffer */
} chunk_ref_t;

static size_t chunk_msg_size(const chunk_ref_t *c)
{
    return (c->mint ? 1 + varint_len((uint64_t)c->mint) : 0) + (c->maxt ? 1 + varint_len((uint64_t)c->maxt) : 0) +
           2 /* type XOR */ + (c->len ? len_field_size(c->len) : 0);
}

/* Writes one frame: ChunkedReadResponse{chunked_series: [{labels, chunks}], query_index}. */
static void put_frame(buf_t *out, int64_t query_index, const label_t *labels, size_t n_labels, const chunk_ref_t *cs,
                      size_t nc, const uint8_t *bytes)
{
    size_t series_sz = labels_size(labels, n_labels);
    for (size_t i = 0; i < nc; i++) series_sz += len_field_size(chunk_msg_size(&cs[i]));
    size_t msg_sz = len_field_size(series_sz) + (query_index ? 1 + varint_len((uint64_t)query_index) : 0);

    buf_put_uvarint(out, msg_sz);
    size_t crc_at = out->len;
    buf_append(out, "\0\0\0\0", 4);
    size_t msg_at = out->len;
    put_key(out, 1, 2);
    buf_put_uvarint(out, series_sz);
    put_labels(out, labels, n_labels);
    for (size_t i = 0; i < nc; i++) {
        const chunk_ref_t *c = &cs[i];
        put_key(out, 2, 2);
        buf_put_uvarint(out, chunk_msg_size(c));
        if (c->mint) {
            put_key(out, 1, 0);
            buf_put_uvarint(out, (uint64_t)c->mint);
        }
        if (c->maxt) {
            put_key(out, 2, 0);
            buf_put_uvarint(out, (uint64_t)c->maxt);
        }
        put_key(out, 3, 0);
        buf_put_uvarint(out, 1); /* Chunk.Encoding XOR */
        if (c->len) put_len_field(out, 4, bytes + c->off, c->len);
    }
    if (query_index) {
        put_key(out, 2, 0);
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
    long long left = (long long)max_frame_bytes - (long long)labels_size(labels, n_labels);
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
        left -= (long long)len_field_size(chunk_msg_size(c));
        if (left > 0 && i + 1 < n_chunks) continue;
        put_frame(out, query_index, labels, n_labels, &refs[first], nc, bytes.data);
        first = i + 1;
        nc = 0;
        left = (long long)max_frame_bytes - (long long)labels_size(labels, n_labels);
    }
    buf_free(&bytes);
    buf_free(&chunk);
    free(refs);
}
