/* fuzz_chunk.c is the libFuzzer target for Gorilla XOR chunk decoding (src/storage/chunk.h): the
 * input is a serialised chunk (u16le count, u32le bit length, bit stream) read as if from disk, and
 * also a sample list that is encoded and must decode to exactly the same samples. */
#include "storage/chunk.h"
#include "util/buf.h"
#include "util/cursor.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void decode_untrusted(const uint8_t *data, size_t size)
{
    cursor_t c;
    cursor_init(&c, data, size);
    uint16_t n = cursor_u8(&c);
    n |= (uint16_t)(cursor_u8(&c) << 8);
    uint32_t nbits = cursor_u32le(&c);
    if (!cursor_ok(&c)) return;
    size_t left = cursor_left(&c);
    /* The stream's byte length bounds nbits, as a reader of a file must check. */
    if (nbits > left * 8) nbits = (uint32_t)(left * 8);
    uint8_t *b = malloc(left ? left : 1);
    memcpy(b, cursor_bytes(&c, left), left);
    chunk_iter_t it;
    chunk_iter_init(&it, b, nbits, n);
    uint32_t got = 0;
    while (chunk_iter_next(&it))
        if (++got > n) abort();
    if (!it.err && got != n) abort(); /* clean end only after n samples */
    free(b);
}

static void roundtrip(const uint8_t *data, size_t size)
{
    xor_chunk_t ch;
    chunk_init(&ch);
    int64_t ts[CHUNK_MAX_SAMPLES];
    uint64_t vs[CHUNK_MAX_SAMPLES];
    size_t n = 0;
    cursor_t c;
    cursor_init(&c, data, size);
    int64_t t = 0;
    while (n < CHUNK_MAX_SAMPLES && cursor_left(&c) >= 9) {
        uint64_t d = cursor_uvarint(&c);
        uint64_t v = cursor_u64le(&c);
        if (!cursor_ok(&c)) break;
        if (d == 0) d = 1;
        if (n == 0) {
            t = (int64_t)(d & 0xffffffffffffULL) - (int64_t)(1ULL << 46); /* may be negative */
        } else {
            if (d > (uint64_t)INT64_MAX - (uint64_t)t) break; /* keep strictly increasing, no overflow */
            t += (int64_t)d;
        }
        ts[n] = t;
        vs[n] = v;
        chunk_append(&ch, t, v);
        n++;
    }
    chunk_iter_t it;
    chunk_iter_init(&it, ch.b, ch.nbits, ch.n);
    size_t i = 0;
    while (chunk_iter_next(&it)) {
        if (i >= n || it.t != ts[i] || it.vbits != vs[i]) abort();
        i++;
    }
    if (it.err || i != n) abort();
    buf_t b = BUF_INIT;
    chunk_serialize(&ch, &b);
    if (b.len != 6 + chunk_bytes(&ch)) abort();
    buf_free(&b);
    chunk_free(&ch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0;
    decode_untrusted(data, size);
    roundtrip(data, size);
    return 0;
}
