/* rw_encode.c owns the protobuf WriteRequest writer and the snappy compress helper. Nested
 * messages are length-prefixed, so each size is computed before its bytes are written. */
#include "ingest/rw_encode.h"
#include "util/status.h"
#include <snappy-c.h>
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

static void put_bytes_field(buf_t *b, uint32_t field, const void *p, size_t n)
{
    put_key(b, field, 2);
    buf_put_uvarint(b, n);
    buf_append(b, p, n);
}

static size_t bytes_field_len(size_t n) { return 1 + varint_len(n) + n; }

static size_t label_msg_len(const label_t *l)
{
    return bytes_field_len(l->name_len) + bytes_field_len(l->value_len);
}

static size_t sample_msg_len(const sample_t *s)
{
    /* value (fixed64) and timestamp are always written, even when zero: harmless and simple. */
    return 1 + 8 + 1 + varint_len((uint64_t)s->t);
}

void rw_encode_series(buf_t *b, const label_t *labels, size_t n_labels, const sample_t *samples, size_t n_samples)
{
    size_t body = 0;
    for (size_t i = 0; i < n_labels; i++) {
        size_t l = label_msg_len(&labels[i]);
        body += 1 + varint_len(l) + l;
    }
    for (size_t i = 0; i < n_samples; i++) {
        size_t l = sample_msg_len(&samples[i]);
        body += 1 + varint_len(l) + l;
    }
    buf_reserve(b, 1 + varint_len(body) + body);
    put_key(b, 1, 2);
    buf_put_uvarint(b, body);
    for (size_t i = 0; i < n_labels; i++) {
        put_key(b, 1, 2);
        buf_put_uvarint(b, label_msg_len(&labels[i]));
        put_bytes_field(b, 1, labels[i].name, labels[i].name_len);
        put_bytes_field(b, 2, labels[i].value, labels[i].value_len);
    }
    for (size_t i = 0; i < n_samples; i++) {
        put_key(b, 2, 2);
        buf_put_uvarint(b, sample_msg_len(&samples[i]));
        uint64_t bits;
        memcpy(&bits, &samples[i].v, sizeof bits);
        put_key(b, 1, 1);
        buf_put_u64le(b, bits);
        put_key(b, 2, 0);
        buf_put_uvarint(b, (uint64_t)samples[i].t);
    }
}

void rw_encode_metadata(buf_t *b, uint32_t type, const char *metric, const char *help, const char *unit)
{
    size_t body = 0;
    if (type) body += 1 + varint_len(type);
    if (metric) body += bytes_field_len(strlen(metric));
    if (help) body += bytes_field_len(strlen(help));
    if (unit) body += bytes_field_len(strlen(unit));
    put_key(b, 3, 2);
    buf_put_uvarint(b, body);
    if (type) {
        put_key(b, 1, 0);
        buf_put_uvarint(b, type);
    }
    if (metric) put_bytes_field(b, 2, metric, strlen(metric));
    if (help) put_bytes_field(b, 4, help, strlen(help));
    if (unit) put_bytes_field(b, 5, unit, strlen(unit));
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
