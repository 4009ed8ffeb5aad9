/* rr_xor.c owns Prometheus's XOR chunk format (chunkenc.XORChunk) as remote_read sends it: our
 * head keeps its own Gorilla-style chunks, so samples read through storage.h are re-encoded here
 * bit for bit as Prometheus would write them, plus a bounds-checked decoder for tests and fuzzing.
 *
 * Layout: u16 big-endian sample count, then a bit stream written most significant bit first:
 *   sample 0: t as zig-zag varint, v as 64 raw bits
 *   sample 1: t - t0 as uvarint, then v XOR'd against v0 (below)
 *   sample i: dod = (t_i - t_{i-1}) - (t_{i-1} - t_{i-2}):
 *             0 -> '0'; in [-8191, 8192] -> '10' + 14 bits; [-65535, 65536] -> '110' + 17 bits;
 *             [-524287, 524288] -> '1110' + 20 bits; else '1111' + 64 bits (two's complement)
 *   value:    x = bits(v) ^ bits(prev); 0 -> '0'; else '1' then either '0' + the meaningful bits
 *             inside the previous leading/trailing window (when x fits it), or '1' + 5 bits of
 *             leading zeros (clamped to 31) + 6 bits of significant-bit count (64 written as 0)
 *             + those bits. The window starts "unset", so the first XOR always writes '1'. */
#include "ingest/rr_codec.h"
#include "util/alloc.h"
#include "util/status.h"
#include <string.h>

typedef struct bitw {
    buf_t *b;
    unsigned free; /* unused low bits in the last byte */
} bitw_t;

static void put_bits(bitw_t *w, uint64_t v, unsigned nbits)
{
    while (nbits) {
        if (w->free == 0) {
            buf_putc(w->b, 0);
            w->free = 8;
        }
        unsigned take = nbits < w->free ? nbits : w->free;
        uint64_t part = (v >> (nbits - take)) & ((1u << take) - 1);
        w->b->data[w->b->len - 1] |= (uint8_t)(part << (w->free - take));
        w->free -= take;
        nbits -= take;
    }
}

static void put_bytes_aligned(bitw_t *w, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) put_bits(w, p[i], 8);
}

static void put_uvarint_bits(bitw_t *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    put_bytes_aligned(w, tmp, n);
}

static uint64_t f64_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return u;
}

static bool in_bits(int64_t x, unsigned nbits)
{
    int64_t hi = (int64_t)1 << (nbits - 1);
    return -(hi - 1) <= x && x <= hi;
}

static void put_xor(bitw_t *w, uint64_t cur, uint64_t prev, uint8_t *leading, uint8_t *trailing)
{
    uint64_t x = cur ^ prev;
    if (x == 0) {
        put_bits(w, 0, 1);
        return;
    }
    put_bits(w, 1, 1);
    uint8_t lead = (uint8_t)__builtin_clzll(x), trail = (uint8_t)__builtin_ctzll(x);
    if (lead >= 32) lead = 31;
    if (*leading != 0xff && lead >= *leading && trail >= *trailing) {
        put_bits(w, 0, 1);
        put_bits(w, x >> *trailing, 64u - *leading - *trailing);
        return;
    }
    *leading = lead;
    *trailing = trail;
    unsigned sig = 64u - lead - trail;
    put_bits(w, 1, 1);
    put_bits(w, lead, 5);
    put_bits(w, sig & 63u, 6);
    put_bits(w, x >> trail, sig);
}

void rr_xor_encode(buf_t *chunk, const sample_t *s, size_t n)
{
    buf_reset(chunk);
    buf_putc(chunk, (char)((n >> 8) & 0xff));
    buf_putc(chunk, (char)(n & 0xff));
    bitw_t w = {chunk, 0};
    uint8_t leading = 0xff, trailing = 0;
    int64_t tdelta = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0) {
            uint64_t zz = ((uint64_t)s[0].t << 1) ^ (uint64_t)(s[0].t >> 63);
            put_uvarint_bits(&w, zz);
            put_bits(&w, f64_bits(s[0].v), 64);
            continue;
        }
        int64_t d = (int64_t)((uint64_t)s[i].t - (uint64_t)s[i - 1].t);
        if (i == 1) {
            put_uvarint_bits(&w, (uint64_t)d);
        } else {
            int64_t dod = (int64_t)((uint64_t)d - (uint64_t)tdelta);
            if (dod == 0) {
                put_bits(&w, 0, 1);
            } else if (in_bits(dod, 14)) {
                put_bits(&w, 2, 2);
                put_bits(&w, (uint64_t)dod, 14);
            } else if (in_bits(dod, 17)) {
                put_bits(&w, 6, 3);
                put_bits(&w, (uint64_t)dod, 17);
            } else if (in_bits(dod, 20)) {
                put_bits(&w, 14, 4);
                put_bits(&w, (uint64_t)dod, 20);
            } else {
                put_bits(&w, 15, 4);
                put_bits(&w, (uint64_t)dod, 64);
            }
        }
        tdelta = d;
        put_xor(&w, f64_bits(s[i].v), f64_bits(s[i - 1].v), &leading, &trailing);
    }
}

/* ---- decoding (bounds-checked; errors are sticky) ---- */

typedef struct bitr {
    const uint8_t *p;
    size_t len, pos; /* pos in bits */
    bool err;
} bitr_t;

static uint64_t get_bits(bitr_t *r, unsigned nbits)
{
    if (r->err || nbits > 64 || r->pos + nbits > r->len * 8) {
        r->err = true;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < nbits; i++, r->pos++) v = v << 1 | ((r->p[r->pos >> 3] >> (7 - (r->pos & 7))) & 1u);
    return v;
}

static uint64_t get_uvarint(bitr_t *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint64_t b = get_bits(r, 8);
        if (r->err) return 0;
        if (shift == 63 && b > 1) break;
        v |= (b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    r->err = true;
    return 0;
}

static int64_t sign_extend(uint64_t v, unsigned nbits)
{
    if (nbits == 64) return (int64_t)v;
    if (v > ((uint64_t)1 << (nbits - 1))) return (int64_t)v - ((int64_t)1 << nbits);
    return (int64_t)v;
}

int rr_xor_decode(const void *chunk, size_t len, sample_vec_t *out)
{
    if (len < 2) return MS_ECORRUPT;
    const uint8_t *p = chunk;
    size_t n = (size_t)p[0] << 8 | p[1];
    bitr_t r = {p + 2, len - 2, 0, false};
    int64_t t = 0, tdelta = 0;
    uint64_t v = 0;
    uint8_t leading = 0, trailing = 0;
    for (size_t i = 0; i < n && !r.err; i++) {
        if (i == 0) {
            uint64_t zz = get_uvarint(&r);
            t = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
            v = get_bits(&r, 64);
        } else {
            if (i == 1) {
                tdelta = (int64_t)get_uvarint(&r);
            } else {
                unsigned prefix = 0;
                while (prefix < 4 && get_bits(&r, 1)) prefix++;
                static const unsigned widths[5] = {0, 14, 17, 20, 64};
                if (prefix) tdelta += sign_extend(get_bits(&r, widths[prefix]), widths[prefix]);
            }
            t = (int64_t)((uint64_t)t + (uint64_t)tdelta);
            if (get_bits(&r, 1)) {
                if (get_bits(&r, 1)) {
                    leading = (uint8_t)get_bits(&r, 5);
                    unsigned sig = (unsigned)get_bits(&r, 6);
                    if (sig == 0) sig = 64;
                    if (leading + sig > 64) r.err = true;
                    else trailing = (uint8_t)(64 - leading - sig);
                } else if (i == 1) {
                    r.err = true; /* no window yet */
                }
                if (!r.err) v ^= get_bits(&r, 64u - leading - trailing) << trailing;
            }
        }
        if (r.err) break;
        double d;
        memcpy(&d, &v, 8);
        XGROW(out->v, out->cap, out->n + 1);
        out->v[out->n++] = (sample_t){t, d};
    }
    return r.err ? MS_ECORRUPT : 0;
}
