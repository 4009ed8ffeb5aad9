/* bchunk.c owns encoding and decoding block chunk records (docs/format/block.md, "chunks", and
 * docs/format/bchunk.md): columns first, then zstd over the whole column payload when it saves
 * bytes. Two column layouts exist, told apart by the record's encoding byte: version 1 (varint
 * deltas, read only) and version 2 (written now), whose timestamp delta-of-deltas and decimal
 * value deltas are bit-packed at one width per record with the few outliers (counter resets,
 * gaps) stored apart, because the deltas of real series are near-uniform in a narrow range
 * that varints and zstd waste about a third on. */
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

/* ---- bit-packed integer runs (version 2): docs/format/bchunk.md, "packed run" ---- */

#define PACK_MAX_EXC 8 /* at most this many outliers are stored apart */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static unsigned bits_for(uint64_t range) { return range ? 64u - (unsigned)__builtin_clzll(range) : 0u; }

static size_t varint_len(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

/* LSB-first bit writer into a buf_t. */
typedef struct bitw {
    buf_t *out;
    uint64_t acc;
    unsigned nacc;
} bitw_t;

static void bitw_put32(bitw_t *w, uint64_t v, unsigned nb) /* nb <= 32 */
{
    if (nb == 0) return;
    w->acc |= (v & ((1ull << nb) - 1)) << w->nacc;
    w->nacc += nb;
    while (w->nacc >= 8) {
        buf_putc(w->out, (char)(uint8_t)w->acc);
        w->acc >>= 8;
        w->nacc -= 8;
    }
}

static void bitw_put(bitw_t *w, uint64_t v, unsigned nb) /* nb <= 64 */
{
    if (nb > 32) {
        bitw_put32(w, v, 32);
        bitw_put32(w, v >> 32, nb - 32);
    } else {
        bitw_put32(w, v, nb);
    }
}

static void bitw_flush(bitw_t *w)
{
    if (w->nacc) buf_putc(w->out, (char)(uint8_t)w->acc);
    w->acc = 0;
    w->nacc = 0;
}

/* LSB-first bit reader over n bytes; err set on reading past the end. */
typedef struct bitr {
    const uint8_t *p;
    size_t n, pos; /* pos in bits */
    bool err;
} bitr_t;

static uint64_t bitr_get32(bitr_t *r, unsigned nb) /* nb <= 32 */
{
    if (nb == 0) return 0;
    if (r->pos + nb > r->n * 8) {
        r->err = true;
        return 0;
    }
    size_t byte = r->pos >> 3;
    unsigned sh = (unsigned)(r->pos & 7);
    uint64_t v;
    if (byte + 8 <= r->n) {
        memcpy(&v, r->p + byte, 8);
        v >>= sh;
    } else {
        v = 0;
        for (size_t k = 0; byte + k < r->n && k < 8; k++) v |= (uint64_t)r->p[byte + k] << (8 * k);
        v >>= sh;
    }
    r->pos += nb;
    return v & ((1ull << nb) - 1);
}

static uint64_t bitr_get(bitr_t *r, unsigned nb) /* nb <= 64 */
{
    if (nb > 32) {
        uint64_t lo = bitr_get32(r, 32);
        return lo | (bitr_get32(r, nb - 32) << 32);
    }
    return bitr_get32(r, nb);
}

/* Truncated binary code for v in [0, range] (range + 1 values): b or b + 1 bits, where
 * b = floor(log2(range + 1)); the first u = 2^(b+1) - (range + 1) values take b bits. When
 * range + 1 is a power of two every value takes b bits (plain fixed width). */
typedef struct tbin {
    unsigned b;
    uint64_t u; /* 0: fixed width b */
} tbin_t;

static tbin_t tbin_for(uint64_t range)
{
    tbin_t t;
    if ((range & (range + 1)) == 0) { /* range + 1 is a power of two (or range is all ones) */
        t.b = bits_for(range);
        t.u = 0;
        return t;
    }
    t.b = bits_for(range + 1) - 1;
    t.u = (t.b + 1 == 64 ? 0 : (1ull << (t.b + 1))) - (range + 1); /* mod 2^64 */
    return t;
}

static void tbin_put(bitw_t *w, const tbin_t *t, uint64_t v)
{
    if (t->u == 0 || v < t->u) {
        bitw_put(w, v, t->b);
        return;
    }
    uint64_t c = v + t->u; /* < 2^(b+1) */
    bitw_put(w, c >> 1, t->b);
    bitw_put32(w, c & 1, 1);
}

static uint64_t tbin_get(bitr_t *r, const tbin_t *t)
{
    uint64_t x = bitr_get(r, t->b);
    if (t->u == 0 || x < t->u) return x;
    return ((x << 1) | bitr_get32(r, 1)) - t->u;
}

/* Writes x[0..m) as a packed run: varint base, uvarint range, uvarint nexc, nexc x (uvarint
 * gap, varint value), then each value's x - base in the truncated binary code for [0, range],
 * LSB-first, padded to a byte. Outliers (outside [base, base + range]) are stored apart and
 * coded as 0. base and range are chosen to minimise the size with up to PACK_MAX_EXC outliers
 * (the smallest and largest values). */
static void put_packed(buf_t *out, const int64_t *x, size_t m, int64_t *sorted)
{
    memcpy(sorted, x, m * sizeof(int64_t));
    qsort(sorted, m, sizeof(int64_t), cmp_i64);
    size_t kmax = m / 8 < PACK_MAX_EXC ? m / 8 : PACK_MAX_EXC;
    size_t best_bits = SIZE_MAX, best_lo = 0, best_hi = 0;
    for (size_t lo = 0; lo <= kmax; lo++) {
        size_t lo_cost = 0;
        for (size_t i = 0; i < lo; i++) lo_cost += 8 * (1 + varint_len(sorted[i]));
        for (size_t hi = 0; lo + hi <= kmax; hi++) {
            size_t hi_cost = 0;
            for (size_t i = 0; i < hi; i++) hi_cost += 8 * (1 + varint_len(sorted[m - 1 - i]));
            unsigned w = bits_for((uint64_t)sorted[m - 1 - hi] - (uint64_t)sorted[lo]);
            size_t bits = m * w + lo_cost + hi_cost;
            if (bits < best_bits) {
                best_bits = bits;
                best_lo = lo;
                best_hi = hi;
            }
        }
    }
    int64_t base = sorted[best_lo];
    uint64_t range = (uint64_t)sorted[m - 1 - best_hi] - (uint64_t)base;
    size_t nexc = 0;
    for (size_t i = 0; i < m; i++)
        if ((uint64_t)x[i] - (uint64_t)base > range) nexc++;
    buf_put_varint(out, base);
    buf_put_uvarint(out, range);
    buf_put_uvarint(out, nexc);
    size_t prev = 0;
    for (size_t i = 0; i < m; i++) {
        if ((uint64_t)x[i] - (uint64_t)base <= range) continue;
        buf_put_uvarint(out, i - prev);
        buf_put_varint(out, x[i]);
        prev = i + 1;
    }
    tbin_t t = tbin_for(range);
    bitw_t w = {out, 0, 0};
    for (size_t i = 0; i < m; i++) {
        uint64_t v = (uint64_t)x[i] - (uint64_t)base;
        tbin_put(&w, &t, v > range ? 0 : v);
    }
    bitw_flush(&w);
}

/* Reads a packed run of m values into x. Sticky cursor error on any malformed byte. */
static void get_packed(cursor_t *c, int64_t *x, size_t m)
{
    int64_t base = cursor_varint(c);
    uint64_t range = cursor_uvarint(c);
    uint64_t nexc = cursor_uvarint(c);
    if (!cursor_ok(c) || nexc > m || nexc > PACK_MAX_EXC) {
        cursor_fail(c);
        return;
    }
    int64_t exc_v[PACK_MAX_EXC];
    size_t exc_i[PACK_MAX_EXC];
    size_t idx = 0;
    for (uint64_t k = 0; k < nexc; k++) {
        uint64_t gap = cursor_uvarint(c);
        if (!cursor_ok(c) || gap >= m - idx) {
            cursor_fail(c);
            return;
        }
        idx += (size_t)gap;
        exc_i[k] = idx;
        exc_v[k] = cursor_varint(c);
        idx++;
    }
    if (!cursor_ok(c)) return;
    tbin_t t = tbin_for(range);
    bitr_t r = {c->p, cursor_left(c), 0, false};
    for (size_t i = 0; i < m; i++) {
        uint64_t v = tbin_get(&r, &t);
        if (v > range) r.err = true; /* a code the writer cannot have made */
        x[i] = (int64_t)((uint64_t)base + v);
    }
    if (r.err) {
        cursor_fail(c);
        return;
    }
    cursor_skip(c, (r.pos + 7) / 8);
    for (uint64_t k = 0; k < nexc; k++) {
        /* an outlier's slot codes 0, else the stream is not ours */
        if (x[exc_i[k]] != base) {
            cursor_fail(c);
            return;
        }
        x[exc_i[k]] = exc_v[k];
    }
}

/* The XOR value column, the same in both versions: u8 kind 1, then n x u64le bits[k] XOR
 * bits[k-1] (bits[-1] = 0). */
static void put_xor_values(const sample_t *s, size_t n, buf_t *out)
{
    buf_putc(out, 1);
    uint64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t b = dbits(s[i].v);
        buf_put_u64le(out, b ^ prev);
        prev = b;
    }
}

/* Version 2 columns (docs/format/bchunk.md). tmp: room for 2n int64. */
static void columns_v2(const sample_t *s, size_t n, buf_t *out, int64_t *tmp)
{
    int64_t *x = tmp, *sorted = tmp + n;
    buf_put_uvarint(out, n);
    buf_put_varint(out, s[0].t);
    if (n >= 2) buf_put_varint(out, (int64_t)((uint64_t)s[1].t - (uint64_t)s[0].t));
    if (n >= 3) {
        for (size_t i = 2; i < n; i++) {
            uint64_t d1 = (uint64_t)s[i].t - (uint64_t)s[i - 1].t, d0 = (uint64_t)s[i - 1].t - (uint64_t)s[i - 2].t;
            x[i - 2] = (int64_t)(d1 - d0);
        }
        put_packed(out, x, n - 2, sorted);
    }
    int e = decimal_exp(s, n);
    if (e >= 0) {
        buf_putc(out, 0);
        buf_putc(out, (char)e);
        uint64_t prev = (uint64_t)(int64_t)nearbyint(s[0].v * P10[e]);
        buf_put_varint(out, (int64_t)prev);
        for (size_t i = 1; i < n; i++) {
            uint64_t cur = (uint64_t)(int64_t)nearbyint(s[i].v * P10[e]);
            x[i - 1] = (int64_t)(cur - prev);
            prev = cur;
        }
        if (n >= 2) put_packed(out, x, n - 1, sorted);
    } else {
        put_xor_values(s, n, out);
    }
}

/* Version 1 columns (read by decode_columns_v1; written only on request, for tests). */
static void columns_v1(const sample_t *s, size_t n, buf_t *out)
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
        put_xor_values(s, n, out);
    }
}

void bchunk_columns_version(const sample_t *s, size_t n, int version, buf_t *out)
{
    if (version == 1) {
        columns_v1(s, n, out);
        return;
    }
    int64_t *tmp = xmalloc(2 * n * sizeof(int64_t));
    columns_v2(s, n, out, tmp);
    free(tmp);
}

void bchunk_columns(const sample_t *s, size_t n, buf_t *out) { bchunk_columns_version(s, n, BCHUNK_VERSION, out); }

void bchunk_encode_version(const sample_t *s, size_t n, int zlevel, int version, buf_t *out)
{
    buf_t raw = BUF_INIT;
    bchunk_columns_version(s, n, version, &raw);
    const uint8_t *stored = raw.data;
    size_t stored_len = raw.len;
    uint8_t enc = version == 1 ? BCHUNK_RAW : BCHUNK_RAW_V2;
    void *z = NULL;
    if (zlevel > 0) {
        size_t bound = ZSTD_compressBound(raw.len);
        z = xmalloc(bound);
        size_t zl = ZSTD_compress(z, bound, raw.data, raw.len, zlevel);
        if (!ZSTD_isError(zl) && zl < raw.len) {
            stored = z;
            stored_len = zl;
            enc = version == 1 ? BCHUNK_ZSTD : BCHUNK_ZSTD_V2;
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

void bchunk_encode(const sample_t *s, size_t n, int zlevel, buf_t *out)
{
    bchunk_encode_version(s, n, zlevel, BCHUNK_VERSION, out);
}

struct bchunk_dec {
    ZSTD_DCtx *z;
    uint8_t *raw;
    size_t rawcap;
    int64_t *ts; /* tscap timestamps, then tscap + 1 value deltas (version 2) */
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

static int decode_columns(bchunk_dec_t *d, int version, const uint8_t *p, size_t len, int64_t mint, int64_t maxt,
                          sample_vec_t *out)
{
    cursor_t c;
    cursor_init(&c, p, len);
    uint64_t n = cursor_uvarint(&c);
    /* version 1 spends at least a byte per sample; version 2 may spend less (bounded by
     * BCHUNK_MAX_SAMPLES alone, so a lying count costs at most ~1 MiB of scratch) */
    if (!cursor_ok(&c) || n == 0 || n > BCHUNK_MAX_SAMPLES || (version == 1 && n > len)) return MS_ECORRUPT;
    if (n > d->tscap) {
        free(d->ts);
        d->ts = xmalloc((2 * n + 1) * sizeof(int64_t));
        d->tscap = n;
    }
    int64_t *ts = d->ts, *xs = d->ts + d->tscap;
    uint64_t t = (uint64_t)cursor_varint(&c), dt = 0;
    ts[0] = (int64_t)t;
    if (version == 1) {
        for (uint64_t i = 1; i < n; i++) {
            if (i == 1) dt = (uint64_t)cursor_varint(&c);
            else dt += (uint64_t)cursor_varint(&c);
            t += dt;
            ts[i] = (int64_t)t;
            if (ts[i] <= ts[i - 1]) cursor_fail(&c);
        }
    } else {
        if (n >= 2) {
            dt = (uint64_t)cursor_varint(&c);
            t += dt;
            ts[1] = (int64_t)t;
            if (ts[1] <= ts[0]) cursor_fail(&c);
        }
        if (n >= 3) get_packed(&c, xs, (size_t)n - 2);
        for (uint64_t i = 2; i < n && cursor_ok(&c); i++) {
            dt += (uint64_t)xs[i - 2];
            t += dt;
            ts[i] = (int64_t)t;
            if (ts[i] <= ts[i - 1]) cursor_fail(&c);
        }
    }
    uint8_t kind = cursor_u8(&c);
    size_t start = out->n;
    if (out->n + n > out->cap) XGROW(out->v, out->cap, out->n + n);
    if (kind == 0) {
        uint8_t e = cursor_u8(&c);
        if (e > MAX_DEC_EXP) cursor_fail(&c);
        uint64_t cur = 0;
        if (version == 1) {
            for (uint64_t i = 0; i < n && cursor_ok(&c); i++) {
                cur += (uint64_t)cursor_varint(&c);
                if (ts[i] < mint || ts[i] > maxt) continue;
                out->v[out->n++] = (sample_t){ts[i], (double)(int64_t)cur / P10[e]};
            }
        } else {
            cur = (uint64_t)cursor_varint(&c);
            if (n >= 2) get_packed(&c, xs, (size_t)n - 1);
            for (uint64_t i = 0; i < n && cursor_ok(&c); i++) {
                if (i > 0) cur += (uint64_t)xs[i - 1];
                if (ts[i] < mint || ts[i] > maxt) continue;
                out->v[out->n++] = (sample_t){ts[i], (double)(int64_t)cur / P10[e]};
            }
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
    int version = enc == BCHUNK_RAW || enc == BCHUNK_ZSTD ? 1 : 2;
    if (enc == BCHUNK_RAW || enc == BCHUNK_RAW_V2) {
        if (stored_len != raw_len) return MS_ECORRUPT;
        return decode_columns(d, version, stored, (size_t)raw_len, mint, maxt, out);
    }
    if (enc != BCHUNK_ZSTD && enc != BCHUNK_ZSTD_V2) return MS_ECORRUPT; /* incl. later versions */
    if (raw_len > d->rawcap) {
        free(d->raw);
        d->raw = xmalloc((size_t)raw_len);
        d->rawcap = (size_t)raw_len;
    }
    size_t got = ZSTD_decompressDCtx(d->z, d->raw, (size_t)raw_len, stored, (size_t)stored_len);
    if (ZSTD_isError(got) || got != raw_len) return MS_ECORRUPT;
    return decode_columns(d, version, d->raw, (size_t)raw_len, mint, maxt, out);
}
