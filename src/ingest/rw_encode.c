/* rw_encode.c owns the protobuf WriteRequest writer and the snappy compress helper. Nested
 * messages are length-prefixed, so each size is computed before its bytes are written. */
#include "ingest/rw_encode.h"
#include "util/status.h"
#include "ingest/pb_write.h"
#include <snappy-c.h>
#include <string.h>

static size_t sample_msg_len(const sample_t *s)
{
    /* value (fixed64) and timestamp are always written, even when zero: harmless and simple. */
    return 1 + 8 + 1 + pb_varint_len((uint64_t)s->t);
}

void rw_encode_series(buf_t *b, const label_t *labels, size_t n_labels, const sample_t *samples, size_t n_samples)
{
    size_t body = 0;
    body += pb_labels_size(labels, n_labels);
    for (size_t i = 0; i < n_samples; i++) {
        size_t l = sample_msg_len(&samples[i]);
        body += 1 + pb_varint_len(l) + l;
    }
    buf_reserve(b, 1 + pb_varint_len(body) + body);
    pb_put_key(b, 1, 2);
    buf_put_uvarint(b, body);
    pb_put_labels(b, 1, labels, n_labels);
    for (size_t i = 0; i < n_samples; i++) {
        pb_put_key(b, 2, 2);
        buf_put_uvarint(b, sample_msg_len(&samples[i]));
        uint64_t bits;
        memcpy(&bits, &samples[i].v, sizeof bits);
        pb_put_key(b, 1, 1);
        buf_put_u64le(b, bits);
        pb_put_key(b, 2, 0);
        buf_put_uvarint(b, (uint64_t)samples[i].t);
    }
}

void rw_encode_metadata(buf_t *b, uint32_t type, const char *metric, const char *help, const char *unit)
{
    size_t body = 0;
    if (type) body += 1 + pb_varint_len(type);
    if (metric) body += pb_len_field_size(strlen(metric));
    if (help) body += pb_len_field_size(strlen(help));
    if (unit) body += pb_len_field_size(strlen(unit));
    pb_put_key(b, 3, 2);
    buf_put_uvarint(b, body);
    if (type) {
        pb_put_key(b, 1, 0);
        buf_put_uvarint(b, type);
    }
    if (metric) pb_put_len_field(b, 2, metric, strlen(metric));
    if (help) pb_put_len_field(b, 4, help, strlen(help));
    if (unit) pb_put_len_field(b, 5, unit, strlen(unit));
}

int rw_snappy_compress(const void *in, size_t n, buf_t *out)
{
    buf_reset(out);
    size_t cap = snappy_max_compressed_length(n);
    buf_reserve(out, cap);
    size_t got = cap;
    if (snappy_compress((const char *)in, n, (char *)out->data, &got) != SNAPPY_OK) return MS_EINVAL;
    out->len = got;
    return MS_OK;
}
