/* bchunk.c owns encoding and decoding block chunk records (docs/format/block.md, "chunks"):
 * columns first, then zstd over the whole column payload when it saves bytes. */
#include "storage/bchunk.h"
#include "util/alloc.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/status.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define MAX_DEC_EXP 9
static const double P10[MAX_DEC_EXP + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

/* Smallest e such that every value is exactly i / 10^e with |i| < 2^53; -1 if none. */
static int decimal_exp(const sample_t *s, size_t n)
{
    for (int e = 0; e <= MAX_DEC_EXP; e++) {
        size_t k = 0;
        for (; k < n; k++) {
            double x = s[k].v * P10[e];
            if (!(fabs(x) < 9007199254740992.0)) break; /* also rejects NaN/inf */
            double r = nearbyint(x);
            int64_t i = (int64_t)r;
            if (dbits((double)i / P10[e]) != dbits(s[k].v)) break;
        }
        if (k == n) return e;
    }
    return -1;
}

void bchunk_columns(const sample_t *s, size_t n, buf_t *out)
{
    buf_put_uvarint(out, n);
    buf_put_varint(out, s[0].t);
    if (n >= 2) buf_put_varint(out, (int64_t)((uint64_t)s[1].t - (uint64_t)s[0].t));
    for (size_t i = 2; i < n; i++) {
        uint64_t d1 = (uint64_t)s[i].t - (uint64_t)s[i - 1].t, d0 = (uint64_t)s[i - 1].t - (uint64_t)s[i - 2].t;
        buf_put_varint(out, (int64_t)(d1 - d0));
    }
    int e = decimal_exp(s, n);
    if (e >= 0) {
        buf_putc(out, 0);
        buf_putc(out, (char)e);
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t cur = (uint64_t)(int64_t)nearbyint(s[i].v * P10[e]);
            buf_put_varint(out, (int64_t)(cur - prev));
            prev = cur;
        }
    } else {
        buf_putc(out, 1);
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t b = dbits(s[i].v);
            buf_put_u64le(out, b ^ prev);
            prev = b;
        }
    }
}

void bchunk_encode(const sample_t *s, size_t n, int zlevel, buf_t *out)
{
    buf_t raw = BUF_INIT;
    bchunk_columns(s, n, &raw);
    const uint8_t *stored = raw.data;
    size_t stored_len = raw.len;
    uint8_t enc = BCHUNK_RAW;
    void *z = NULL;
    if (zlevel > 0) {
        size_t bound = ZSTD_compressBound(raw.len);
        z = xmalloc(bound);
        size_t zl = ZSTD_compress(z, bound, raw.data, raw.len, zlevel);
        if (!ZSTD_isError(zl) && zl < raw.len) {
            stored = z;
            stored_len = zl;
            enc = BCHUNK_ZSTD;
        }
    }
    buf_putc(out, (char)enc);
    buf_put_uvarint(out, raw.len);
    buf_put_uvarint(out, stored_len);
    buf_append(out, stored, stored_len);
    buf_put_u32le(out, crc32c(0, stored, stored_len));
    free(z);
    buf_free(&raw);
}

struct bchunk_dec {
    ZSTD_DCtx *z;
    uint8_t *raw;
    size_t rawcap;
    int64_t *ts;
    size_t tscap;
};

bchunk_dec_t *bchunk_dec_new(void)
{
    bchunk_dec_t *d = xcalloc(1, sizeof(*d));
    d->z = ZSTD_createDCtx();
    if (!d->z) abort(); /* out of memory: our policy is to abort */
    return d;
}

void bchunk_dec_free(bchunk_dec_t *d)
{
    if (!d) return;
    ZSTD_freeDCtx(d->z);
    free(d->raw);
    free(d->ts);
    free(d);
}

static int decode_columns(bchunk_dec_t *d, const uint8_t *p, size_t len, int64_t mint, int64_t maxt,
                          sample_vec_t *out)
{
    cursor_t c;
    cursor_init(&c, p, len);
    uint64_t n = cursor_uvarint(&c);
    if (!cursor_ok(&c) || n == 0 || n > BCHUNK_MAX_SAMPLES || n > len) return MS_ECORRUPT;
    if (n > d->tscap) {
        free(d->ts);
        d->ts = xmalloc(n * sizeof(int64_t));
        d->tscap = n;
    }
    int64_t *ts = d->ts;
    uint64_t t = (uint64_t)cursor_varint(&c), dt = 0;
    ts[0] = (int64_t)t;
    for (uint64_t i = 1; i < n; i++) {
        if (i == 1) dt = (uint64_t)cursor_varint(&c);
        else dt += (uint64_t)cursor_varint(&c);
        t += dt;
        ts[i] = (int64_t)t;
        if (ts[i] <= ts[i - 1]) cursor_fail(&c);
    }
    uint8_t kind = cursor_u8(&c);
    size_t start = out->n;
    if (out->n + n > out->cap) XGROW(out->v, out->cap, out->n + n);
    if (kind == 0) {
        uint8_t e = cursor_u8(&c);
        if (e > MAX_DEC_EXP) cursor_fail(&c);
        uint64_t cur = 0;
        for (uint64_t i = 0; i < n && cursor_ok(&c); i++) {
            cur += (uint64_t)cursor_varint(&c);
            if (ts[i] < mint || ts[i] > maxt) continue;
            out->v[out->n++] = (sample_t){ts[i], (double)(int64_t)cur / P10[e]};
        }
    } else if (kind == 1) {
        uint64_t prev = 0;
        for (uint64_t i = 0; i < n && cursor_ok(&c); i++) {
            prev ^= cursor_u64le(&c);
            if (ts[i] < mint || ts[i] > maxt) continue;
            double v;
            memcpy(&v, &prev, sizeof(v));
            out->v[out->n++] = (sample_t){ts[i], v};
        }
    } else {
        cursor_fail(&c);
    }
    if (!cursor_ok(&c) || !cursor_done(&c)) {
        out->n = start;
        return MS_ECORRUPT;
    }
    return MS_OK;
}

static int decode_with(bchunk_dec_t *d, const uint8_t *p, size_t avail, int64_t mint, int64_t maxt,
                       sample_vec_t *out);

int bchunk_decode(bchunk_dec_t *d, const uint8_t *p, size_t avail, int64_t mint, int64_t maxt, sample_vec_t *out)
{
    if (d) return decode_with(d, p, avail, mint, maxt, out);
    bchunk_dec_t *tmp = bchunk_dec_new();
    int rc = decode_with(tmp, p, avail, mint, maxt, out);
    bchunk_dec_free(tmp);
    return rc;
}

static int decode_with(bchunk_dec_t *d, const uint8_t *p, size_t avail, int64_t mint, int64_t maxt,
                       sample_vec_t *out)
{
    cursor_t c;
    cursor_init(&c, p, avail);
    uint8_t enc = cursor_u8(&c);
    uint64_t raw_len = cursor_uvarint(&c);
    uint64_t stored_len = cursor_uvarint(&c);
    if (!cursor_ok(&c) || raw_len == 0 || raw_len > BCHUNK_MAX_RAW || stored_len > cursor_left(&c)) return MS_ECORRUPT;
    const uint8_t *stored = cursor_bytes(&c, (size_t)stored_len);
    uint32_t crc = cursor_u32le(&c);
    if (!cursor_ok(&c) || crc32c(0, stored, (size_t)stored_len) != crc) return MS_ECORRUPT;
    if (enc == BCHUNK_RAW) {
        if (stored_len != raw_len) return MS_ECORRUPT;
        return decode_columns(d, stored, (size_t)raw_len, mint, maxt, out);
    }
    if (enc != BCHUNK_ZSTD) return MS_ECORRUPT;
    if (raw_len > d->rawcap) {
        free(d->raw);
        d->raw = xmalloc((size_t)raw_len);
        d->rawcap = (size_t)raw_len;
    }
    size_t got = ZSTD_decompressDCtx(d->z, d->raw, (size_t)raw_len, stored, (size_t)stored_len);
    if (ZSTD_isError(got) || got != raw_len) return MS_ECORRUPT;
    return decode_columns(d, d->raw, (size_t)raw_len, mint, maxt, out);
}
