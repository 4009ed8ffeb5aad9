/* chunk.h owns the Gorilla XOR chunk: an append-only bit stream of strictly time-increasing
 * samples (delta-of-delta timestamps, XOR'd float bits), laid out as in docs/format/chunk.md.
 * Ownership: a chunk owns its byte buffer; chunk_free releases it. Not thread-safe: the series
 * lock guards a head chunk. Decoding is bounds-checked, so bytes from disk are safe to read. */
#ifndef MS_STORAGE_CHUNK_H
#define MS_STORAGE_CHUNK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "storage/storage.h"

#define CHUNK_TARGET_SAMPLES 120
#define CHUNK_MAX_SAMPLES (2 * CHUNK_TARGET_SAMPLES)

/* A chunk with its encoder state, so an in-order append is O(1) without decoding. */
typedef struct xor_chunk {
    uint8_t *b;        /* bit stream, bytes zeroed beyond nbits */
    uint32_t nbits;    /* bits written */
    uint32_t cap;      /* bytes allocated */
    uint16_t n;        /* samples */
    uint8_t leading, trailing; /* of the last XOR window written */
    int64_t mint, maxt;        /* first and last timestamp (valid when n > 0) */
    uint64_t tdelta;           /* last timestamp delta (mod 2^64) */
    uint64_t vbits;            /* last value's bit pattern */
} xor_chunk_t;

void chunk_init(xor_chunk_t *c);
void chunk_free(xor_chunk_t *c);
/* Appends a sample; the caller guarantees t > c->maxt when c->n > 0. */
void chunk_append(xor_chunk_t *c, int64_t t, uint64_t vbits);
/* Releases unused buffer capacity; returns the bytes given back. Appending later still works. */
int64_t chunk_shrink(xor_chunk_t *c);
/* Bytes of the encoded stream (ceil(nbits/8)). */
static inline size_t chunk_bytes(const xor_chunk_t *c) { return (c->nbits + 7) / 8; }

/* Iterator over an encoded stream of n samples. Sticky error on overrun or bad encoding. */
typedef struct chunk_iter {
    const uint8_t *b;
    uint32_t nbits, pos;
    uint16_t n, i;
    uint8_t leading, trailing;
    bool err;
    int64_t t;
    uint64_t tdelta, vbits;
} chunk_iter_t;

void chunk_iter_init(chunk_iter_t *it, const uint8_t *b, uint32_t nbits, uint16_t n);
/* Advances; returns false at the end or on error (check it->err). */
bool chunk_iter_next(chunk_iter_t *it);
/* Decodes the rest of the stream into out (room for it->n - it->i samples), keeping only the
 * samples with mint <= t <= maxt and stopping after the first one past maxt; returns how many
 * were written. Same results and sticky error as calling chunk_iter_next in a loop, faster. */
size_t chunk_iter_read(chunk_iter_t *it, int64_t mint, int64_t maxt, sample_t *out);

/* Serialised form (docs/format/chunk.md): u16le count, u32le bit length, the bit stream.
 */
struct buf;
void chunk_serialize(const xor_chunk_t *c, struct buf *out);

#endif
