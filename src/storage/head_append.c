/* head_append.c owns adding samples to a series' chunks: the O(1) in-order path on the open
 * chunk's encoder state, and the out-of-order path (decode the covering chunk, merge,
 * re-encode, split past CHUNK_MAX_SAMPLES). Also drops chunks for retention and block cuts.
 *
 * Memory: chunk data is most of the head, so the in-order path sizes the open chunk's buffer
 * itself instead of letting the encoder double it: a new chunk starts with room for what its
 * predecessor in the same series took (+1/8), grows by a quarter when short, and is trimmed to
 * its exact size as soon as it is full. Doubling left ~40 % unused bytes in every open chunk
 * and the freed halves fragmented the heap. */
#include "storage/head.h"
#include "util/alloc.h"
#include <stdlib.h>
#include <string.h>

typedef struct raw {
    int64_t t;
    uint64_t v;
} raw_t;

static xor_chunk_t *insert_chunk_at(series_t *s, uint32_t i, _Atomic int64_t *mem, _Atomic int64_t *nchunks)
{
    if (s->nchunks == s->capchunks) {
        uint32_t nc = s->capchunks ? s->capchunks * 2 : 1;
        s->chunks = xrealloc(s->chunks, nc * sizeof(xor_chunk_t));
        atomic_fetch_add(mem, (int64_t)((nc - s->capchunks) * sizeof(xor_chunk_t)));
        s->capchunks = nc;
    }
    memmove(&s->chunks[i + 1], &s->chunks[i], (s->nchunks - i) * sizeof(xor_chunk_t));
    s->nchunks++;
    atomic_fetch_add(nchunks, 1);
    chunk_init(&s->chunks[i]);
    return &s->chunks[i];
}

/* Worst case bytes one chunk_append may add, as chunk_append reserves them (160 bits + rounding). */
#define APPEND_ROOM 21

/* Resizes c's buffer to cap bytes (>= its encoded bytes), zeroing new bytes as the bit writer
 * requires. */
static void chunk_resize(xor_chunk_t *c, size_t cap, _Atomic int64_t *mem)
{
    c->b = xrealloc(c->b, cap);
    if (cap > c->cap) memset(c->b + c->cap, 0, cap - c->cap);
    atomic_fetch_add(mem, (int64_t)cap - (int64_t)c->cap);
    c->cap = (uint32_t)cap;
}

/* In-order append to the open chunk with our own growth policy (see the top of the file). */
static void append_open(series_t *s, xor_chunk_t *c, int64_t t, uint64_t vbits, _Atomic int64_t *mem)
{
    size_t used = chunk_bytes(c);
    if (used + APPEND_ROOM > c->cap) {
        size_t want;
        if (c->cap == 0 && s->nchunks >= 2) /* predecessor's size, a good guess for this series */
            want = chunk_bytes(&s->chunks[s->nchunks - 2]) + APPEND_ROOM;
        else
            want = c->cap + (c->cap / 16 > 32 ? c->cap / 16 : 32);
        if (want < used + APPEND_ROOM) want = used + APPEND_ROOM;
        if (want < 48) want = 48;
        chunk_resize(c, (want + 15) & ~(size_t)15, mem);
    }
    chunk_append(c, t, vbits);
    if (c->n >= CHUNK_TARGET_SAMPLES) {
        /* full: the next in-order sample opens a new chunk, so give back the slack now */
        int64_t freed = chunk_shrink(c);
        atomic_fetch_sub(mem, freed);
    }
}

static void append_tracked(xor_chunk_t *c, int64_t t, uint64_t v, _Atomic int64_t *mem)
{
    uint32_t before = c->cap;
    chunk_append(c, t, v);
    if (c->cap != before) atomic_fetch_add(mem, (int64_t)c->cap - (int64_t)before);
}

static size_t decode_all(const xor_chunk_t *c, raw_t *out)
{
    chunk_iter_t it;
    size_t n = 0;
    chunk_iter_init(&it, c->b, c->nbits, c->n);
    while (chunk_iter_next(&it)) out[n++] = (raw_t){it.t, it.vbits};
    return n;
}

/* Re-encodes chunk i from samples r[0..n), splitting in two if n exceeds the maximum. */
static void rewrite_chunk(series_t *s, uint32_t i, const raw_t *r, size_t n, _Atomic int64_t *mem,
                          _Atomic int64_t *nchunks)
{
    xor_chunk_t *c = &s->chunks[i];
    atomic_fetch_sub(mem, (int64_t)c->cap);
    chunk_free(c);
    size_t first = n > CHUNK_MAX_SAMPLES ? n / 2 : n;
    for (size_t k = 0; k < first; k++) chunk_append(c, r[k].t, r[k].v);
    atomic_fetch_add(mem, (int64_t)c->cap);
    if (first < n) {
        xor_chunk_t *d = insert_chunk_at(s, i + 1, mem, nchunks);
        for (size_t k = first; k < n; k++) chunk_append(d, r[k].t, r[k].v);
        atomic_fetch_add(mem, (int64_t)d->cap);
    }
}

append_kind_t series_append(series_t *s, int64_t t, uint64_t vbits, _Atomic int64_t *mem, _Atomic int64_t *nchunks)
{
    /* fast path: after every sample */
    if (s->nchunks == 0 || t > s->chunks[s->nchunks - 1].maxt) {
        xor_chunk_t *last = s->nchunks ? &s->chunks[s->nchunks - 1] : NULL;
        if (last && last->n >= CHUNK_TARGET_SAMPLES) last = NULL; /* full (already trimmed): cut */
        if (!last) last = insert_chunk_at(s, s->nchunks, mem, nchunks);
        append_open(s, last, t, vbits, mem);
        return APPEND_NEW;
    }
    /* first chunk whose maxt >= t (exists: the last chunk qualifies) */
    uint32_t lo = 0, hi = s->nchunks - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (s->chunks[mid].maxt >= t) hi = mid;
        else lo = mid + 1;
    }
    uint32_t i = lo;
    xor_chunk_t *c = &s->chunks[i];
    if (t < c->mint && i > 0 && s->chunks[i - 1].n < CHUNK_MAX_SAMPLES) {
        /* in the gap after chunk i-1: an in-order append there */
        append_tracked(&s->chunks[i - 1], t, vbits, mem);
        return APPEND_NEW;
    }
    raw_t r[CHUNK_MAX_SAMPLES + 2];
    size_t n = decode_all(c, r);
    size_t pos = 0;
    while (pos < n && r[pos].t < t) pos++;
    append_kind_t kind;
    if (pos < n && r[pos].t == t) {
        if (r[pos].v == vbits) return APPEND_DUP;
        r[pos].v = vbits;
        kind = APPEND_REPLACED;
    } else {
        memmove(&r[pos + 1], &r[pos], (n - pos) * sizeof(raw_t));
        r[pos] = (raw_t){t, vbits};
        n++;
        kind = APPEND_NEW;
    }
    rewrite_chunk(s, i, r, n, mem, nchunks);
    return kind;
}

uint32_t series_drop_before(series_t *s, int64_t cutoff, _Atomic int64_t *mem, _Atomic int64_t *nchunks)
{
    uint32_t k = 0;
    while (k < s->nchunks && s->chunks[k].maxt < cutoff) {
        atomic_fetch_sub(mem, (int64_t)s->chunks[k].cap);
        chunk_free(&s->chunks[k]);
        k++;
    }
    if (k) {
        memmove(&s->chunks[0], &s->chunks[k], (s->nchunks - k) * sizeof(xor_chunk_t));
        s->nchunks -= k;
        atomic_fetch_sub(nchunks, (int64_t)k);
        /* A backfill can grow the descriptor array to hundreds of slots; after a cut most are
         * empty. Give them back once three quarters are unused, so the head follows the data it
         * holds (56 B a slot: 256 slots x 10k series was 143 MB kept after a 7-day backfill). */
        if (s->capchunks > 8 && s->nchunks < s->capchunks / 4) {
            uint32_t nc = s->nchunks * 2 > 4 ? s->nchunks * 2 : 4;
            s->chunks = xrealloc(s->chunks, nc * sizeof(xor_chunk_t));
            atomic_fetch_sub(mem, (int64_t)((s->capchunks - nc) * sizeof(xor_chunk_t)));
            s->capchunks = nc;
        }
    }
    return s->nchunks;
}

uint32_t series_truncate_before(series_t *s, int64_t cutoff, _Atomic int64_t *mem, _Atomic int64_t *nchunks)
{
    series_drop_before(s, cutoff, mem, nchunks);
    if (s->nchunks == 0 || s->chunks[0].mint >= cutoff) return s->nchunks;
    /* the first chunk straddles the cutoff: keep its samples >= cutoff */
    raw_t r[CHUNK_MAX_SAMPLES + 2];
    size_t n = decode_all(&s->chunks[0], r), k = 0;
    while (k < n && r[k].t < cutoff) k++;
    xor_chunk_t *c = &s->chunks[0];
    atomic_fetch_sub(mem, (int64_t)c->cap);
    chunk_free(c);
    for (size_t i = k; i < n; i++) chunk_append(c, r[i].t, r[i].v);
    atomic_fetch_add(mem, (int64_t)c->cap);
    return s->nchunks;
}
