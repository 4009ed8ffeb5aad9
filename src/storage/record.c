/* record.c owns encoding and decoding of WAL record payloads (docs/format/wal.md): series
 * (ref + labels), samples (ref, delta-encoded timestamps, raw float bits) and metadata. */
#include "storage/record.h"
#include "util/alloc.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/status.h"
#include <stdlib.h>
#include <string.h>

size_t record_begin(buf_t *b, uint8_t type)
{
    size_t off = b->len;
    buf_reserve(b, REC_HEADER_LEN);
    memset(b->data + off, 0, REC_HEADER_LEN);
    b->data[off] = type;
    b->len += REC_HEADER_LEN;
    return off;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

void record_end(buf_t *b, size_t off)
{
    size_t plen = b->len - off - REC_HEADER_LEN;
    put32(b->data + off + 1, (uint32_t)plen);
    put32(b->data + off + 5, crc32c(0, b->data + off + REC_HEADER_LEN, plen));
}

static void put_str(buf_t *b, const char *s, size_t n)
{
    buf_put_uvarint(b, n);
    buf_append(b, s, n);
}

void record_put_series(buf_t *b, uint64_t ref, const label_t *ls, size_t n)
{
    buf_put_uvarint(b, ref);
    buf_put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        put_str(b, ls[i].name, ls[i].name_len);
        put_str(b, ls[i].value, ls[i].value_len);
    }
}

void record_put_samples(buf_t *b, int64_t *base, uint64_t ref, const int64_t *t, const double *v, size_t n,
                        size_t stride)
{
    buf_reserve(b, 20 + n * 19);
    buf_put_uvarint(b, ref);
    buf_put_uvarint(b, n);
    int64_t prev = *base;
    *base = *t;
    for (size_t i = 0; i < n; i++) {
        int64_t ti = *(const int64_t *)(const void *)((const char *)t + i * stride);
        double vi = *(const double *)(const void *)((const char *)v + i * stride);
        buf_put_varint(b, (int64_t)((uint64_t)ti - (uint64_t)prev));
        prev = ti;
        uint64_t bits;
        memcpy(&bits, &vi, 8);
        buf_put_u64le(b, bits);
    }
}

void record_put_metadata(buf_t *b, const char *metric, size_t ml, const char *type, size_t tl, const char *help,
                         size_t hl, const char *unit, size_t ul)
{
    put_str(b, metric, ml);
    put_str(b, type, tl);
    put_str(b, help, hl);
    put_str(b, unit, ul);
}

void record_scratch_free(rec_scratch_t *s)
{
    free(s->series);
    free(s->labels);
    free(s->samples);
    free(s->meta);
    memset(s, 0, sizeof(*s));
}

static const char *get_str(cursor_t *c, size_t *len)
{
    uint64_t n = cursor_uvarint(c);
    if (n > cursor_left(c)) {
        cursor_fail(c);
        return NULL;
    }
    *len = (size_t)n;
    return (const char *)cursor_bytes(c, (size_t)n);
}

int record_decode_series(const uint8_t *p, size_t n, rec_scratch_t *s)
{
    cursor_t c;
    cursor_init(&c, p, n);
    s->nseries = s->nlabels = 0;
    while (!cursor_done(&c)) {
        uint64_t ref = cursor_uvarint(&c);
        uint64_t nl = cursor_uvarint(&c);
        if (!cursor_ok(&c) || ref == 0 || nl == 0 || nl > cursor_left(&c) / 2) return MS_ECORRUPT;
        if (s->nseries == s->capseries) XGROW(s->series, s->capseries, s->nseries + 1);
        if (s->nlabels + nl > s->caplabels) XGROW(s->labels, s->caplabels, s->nlabels + nl);
        s->series[s->nseries++] = (rec_series_t){ref, s->nlabels, (size_t)nl};
        for (uint64_t i = 0; i < nl; i++) {
            size_t a = 0, bl = 0;
            const char *name = get_str(&c, &a);
            const char *value = get_str(&c, &bl);
            if (!cursor_ok(&c) || a > UINT32_MAX || bl > UINT32_MAX) return MS_ECORRUPT;
            s->labels[s->nlabels++] = (label_t){name, value, (uint32_t)a, (uint32_t)bl};
        }
        if (labels_validate(&s->labels[s->series[s->nseries - 1].first], (size_t)nl) != LABELS_OK) return MS_ECORRUPT;
    }
    return cursor_ok(&c) ? MS_OK : MS_ECORRUPT;
}

int record_decode_samples(const uint8_t *p, size_t n, rec_scratch_t *s)
{
    cursor_t c;
    cursor_init(&c, p, n);
    s->nsamples = 0;
    int64_t base = 0;
    while (!cursor_done(&c)) {
        uint64_t ref = cursor_uvarint(&c);
        uint64_t ns = cursor_uvarint(&c);
        if (!cursor_ok(&c) || ns == 0 || ns > cursor_left(&c) / 9) return MS_ECORRUPT;
        if (s->nsamples + ns > s->capsamples) XGROW(s->samples, s->capsamples, s->nsamples + ns);
        int64_t t = base;
        for (uint64_t i = 0; i < ns; i++) {
            t = (int64_t)((uint64_t)t + (uint64_t)cursor_varint(&c));
            if (i == 0) base = t;
            uint64_t bits = cursor_u64le(&c);
            s->samples[s->nsamples++] = (rec_sample_t){ref, t, bits};
        }
        if (!cursor_ok(&c)) return MS_ECORRUPT;
    }
    return cursor_ok(&c) ? MS_OK : MS_ECORRUPT;
}

int record_decode_metadata(const uint8_t *p, size_t n, rec_scratch_t *s)
{
    cursor_t c;
    cursor_init(&c, p, n);
    s->nmeta = 0;
    while (!cursor_done(&c)) {
        rec_meta_t m;
        for (int i = 0; i < 4; i++) m.s[i] = get_str(&c, &m.len[i]);
        if (!cursor_ok(&c) || m.len[0] == 0) return MS_ECORRUPT;
        if (s->nmeta == s->capmeta) XGROW(s->meta, s->capmeta, s->nmeta + 1);
        s->meta[s->nmeta++] = m;
    }
    return cursor_ok(&c) ? MS_OK : MS_ECORRUPT;
}
