/* chunk_xor.c owns the Gorilla XOR chunk encoding: delta-of-delta timestamps and XOR'd float
 * bit patterns in one bit stream (spec: docs/format/chunk.md). Values are handled as raw bits,
 * so NaN payloads (including the staleness marker), infinities and -0.0 round-trip exactly. */
#include "storage/chunk.h"
#include "util/alloc.h"
#include "util/buf.h"
#include <stdlib.h>
#include <string.h>

void chunk_init(xor_chunk_t *c) { memset(c, 0, sizeof(*c)); }

void chunk_free(xor_chunk_t *c)
{
    if (!c) return;
    free(c->b);
    memset(c, 0, sizeof(*c));
}

static void ensure_bits(xor_chunk_t *c, uint32_t more)
{
    size_t need = ((size_t)c->nbits + more + 7) / 8;
    if (need <= c->cap) return;
    size_t nc = c->cap ? (size_t)c->cap * 2 : 32;
    while (nc < need) nc *= 2;
    c->b = xrealloc(c->b, nc);
    memset(c->b + c->cap, 0, nc - c->cap);
    c->cap = (uint32_t)nc;
}

int64_t chunk_shrink(xor_chunk_t *c)
{
    size_t need = chunk_bytes(c);
    if (need == 0 || need >= c->cap) return 0;
    int64_t freed = (int64_t)c->cap - (int64_t)need;
    c->b = xrealloc(c->b, need);
    c->cap = (uint32_t)need;
    return freed;
}

/* Writes the low nb bits of v, most significant first. Capacity must already be ensured. */
static void put_bits(xor_chunk_t *c, uint64_t v, unsigned nb)
{
    while (nb > 0) {
        unsigned free_bits = 8 - (c->nbits & 7);
        unsigned take = nb < free_bits ? nb : free_bits;
        uint64_t bits = (v >> (nb - take)) & ((1u << take) - 1);
        c->b[c->nbits >> 3] |= (uint8_t)(bits << (free_bits - take));
        c->nbits += take;
        nb -= take;
    }
}

static void put_uvarint_bits(xor_chunk_t *c, uint64_t v)
{
    while (v >= 0x80) {
        put_bits(c, (v & 0x7f) | 0x80, 8);
        v >>= 7;
    }
    put_bits(c, v, 8);
}

static void put_value(xor_chunk_t *c, uint64_t vbits)
{
    uint64_t x = vbits ^ c->vbits;
    if (x == 0) {
        put_bits(c, 0, 1);
        return;
    }
    unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
    if (lead > 31) lead = 31; /* 5-bit field */
    if (c->n > 1 && lead >= c->leading && trail >= c->trailing) {
        /* reuse the previous window */
        put_bits(c, 2, 2);
        unsigned sig = 64 - c->leading - c->trailing;
        put_bits(c, x >> c->trailing, sig);
        return;
    }
    unsigned sig = 64 - lead - trail;
    put_bits(c, 3, 2);
    put_bits(c, lead, 5);
    put_bits(c, sig == 64 ? 0 : sig, 6);
    put_bits(c, x >> trail, sig);
    c->leading = (uint8_t)lead;
    c->trailing = (uint8_t)trail;
}

void chunk_append(xor_chunk_t *c, int64_t t, uint64_t vbits)
{
    ensure_bits(c, 160);
    if (c->n == 0) {
        uint64_t zz = ((uint64_t)t << 1) ^ (uint64_t)(t >> 63);
        put_uvarint_bits(c, zz);
        put_bits(c, vbits, 64);
        c->mint = t;
        c->leading = c->trailing = 0;
    } else if (c->n == 1) {
        uint64_t d = (uint64_t)t - (uint64_t)c->maxt;
        put_uvarint_bits(c, d);
        c->tdelta = d;
        put_value(c, vbits);
    } else {
        uint64_t d = (uint64_t)t - (uint64_t)c->maxt;
        int64_t dod = (int64_t)(d - c->tdelta);
        if (dod == 0) {
            put_bits(c, 0, 1);
        } else if (dod >= -8192 && dod <= 8191) {
            put_bits(c, 2, 2);
            put_bits(c, (uint64_t)dod, 14);
        } else if (dod >= -65536 && dod <= 65535) {
            put_bits(c, 6, 3);
            put_bits(c, (uint64_t)dod, 17);
        } else if (dod >= -524288 && dod <= 524287) {
            put_bits(c, 14, 4);
            put_bits(c, (uint64_t)dod, 20);
        } else {
            put_bits(c, 15, 4);
            put_bits(c, (uint64_t)dod, 64);
        }
        c->tdelta = d;
        put_value(c, vbits);
    }
    c->vbits = vbits;
    c->maxt = t;
    c->n++;
}

void chunk_serialize(const xor_chunk_t *c, buf_t *out)
{
    buf_reserve(out, 6 + chunk_bytes(c));
    out->data[out->len++] = (uint8_t)(c->n & 0xff);
    out->data[out->len++] = (uint8_t)(c->n >> 8);
    buf_put_u32le(out, c->nbits);
    buf_append(out, c->b, chunk_bytes(c));
}

/* ---- decoding ---- */

void chunk_iter_init(chunk_iter_t *it, const uint8_t *b, uint32_t nbits, uint16_t n)
{
    memset(it, 0, sizeof(*it));
    it->b = b;
    it->nbits = nbits;
    it->n = n;
}

static uint64_t get_bits(chunk_iter_t *it, unsigned nb)
{
    if (it->err || nb > it->nbits - it->pos) {
        it->err = true;
        return 0;
    }
    size_t at = it->pos >> 3;
    if (nb <= 56 && at + 8 <= ((size_t)it->nbits + 7) >> 3) {
        /* fast path: one unaligned big-endian 64-bit load covers off + nb <= 63 bits */
        uint64_t w;
        memcpy(&w, it->b + at, 8);
        w = __builtin_bswap64(w);
        unsigned off = it->pos & 7;
        it->pos += nb;
        return nb ? (w << off) >> (64 - nb) : 0;
    }
    uint64_t v = 0;
    while (nb > 0) {
        unsigned off = it->pos & 7;
        unsigned avail = 8 - off;
        unsigned take = nb < avail ? nb : avail;
        uint8_t byte = it->b[it->pos >> 3];
        uint64_t bits = (uint64_t)(byte >> (avail - take)) & ((1u << take) - 1);
        v = (v << take) | bits;
        it->pos += take;
        nb -= take;
    }
    return v;
}

static uint64_t get_uvarint_bits(chunk_iter_t *it)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint64_t byte = get_bits(it, 8);
        if (it->err) return 0;
        if (shift == 63 && byte > 1) break;
        v |= (byte & 0x7f) << shift;
        if (!(byte & 0x80)) return v;
    }
    it->err = true;
    return 0;
}

static int64_t sign_extend(uint64_t v, unsigned nb)
{
    if (nb == 64) return (int64_t)v;
    uint64_t m = 1ull << (nb - 1);
    return (int64_t)((v ^ m) - m);
}

static void get_value(chunk_iter_t *it)
{
    if (get_bits(it, 1) == 0) return;
    if (get_bits(it, 1) == 0) {
        unsigned sig = 64u - it->leading - it->trailing;
        if (it->leading + it->trailing >= 64) {
            it->err = true;
            return;
        }
        it->vbits ^= get_bits(it, sig) << it->trailing;
        return;
    }
    unsigned lead = (unsigned)get_bits(it, 5);
    unsigned sig = (unsigned)get_bits(it, 6);
    if (sig == 0) sig = 64;
    if (lead + sig > 64) {
        it->err = true;
        return;
    }
    it->leading = (uint8_t)lead;
    it->trailing = (uint8_t)(64 - lead - sig);
    it->vbits ^= get_bits(it, sig) << it->trailing;
}

bool chunk_iter_next(chunk_iter_t *it)
{
    if (it->err || it->i >= it->n) return false;
    if (it->i == 0) {
        uint64_t zz = get_uvarint_bits(it);
        it->t = (int64_t)((zz >> 1) ^ (0 - (zz & 1)));
        it->vbits = get_bits(it, 64);
    } else if (it->i == 1) {
        it->tdelta = get_uvarint_bits(it);
        it->t = (int64_t)((uint64_t)it->t + it->tdelta);
        get_value(it);
    } else {
        int64_t dod;
        if (get_bits(it, 1) == 0) dod = 0;
        else if (get_bits(it, 1) == 0) dod = sign_extend(get_bits(it, 14), 14);
        else if (get_bits(it, 1) == 0) dod = sign_extend(get_bits(it, 17), 17);
        else if (get_bits(it, 1) == 0) dod = sign_extend(get_bits(it, 20), 20);
        else dod = (int64_t)get_bits(it, 64);
        it->tdelta += (uint64_t)dod;
        it->t = (int64_t)((uint64_t)it->t + it->tdelta);
        get_value(it);
    }
    if (it->err) return false;
    it->i++;
    return true;
}
