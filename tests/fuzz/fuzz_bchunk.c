/* fuzz_bchunk.c is the libFuzzer target for block chunk records (bchunk.c, docs/format/block.md
 * "chunks"): the input is decoded as a record read from disk (any bytes: raw or zstd payload,
 * lengths, CRC), which must fail cleanly or yield samples in the asked range and in strictly
 * increasing time order; and it is also read as a list of samples that are encoded (raw and
 * zstd) and must decode to exactly the same timestamps and value bits.
 *
 * Input: byte 0 picks the query range (bit 0: the whole range, else the next 16 bytes are mint
 * and maxt), byte 1 bit 0 recomputes the record's CRC so mutations reach the column decoder. The
 * rest is the record. For the round trip the same bytes are read as (u16 time step, u64 value
 * bits or a small integer) pairs. Seeds: FUZZ_BCHUNK_SEEDS=<dir> makes the first run write
 * records made by bchunk_encode. */
#include "storage/bchunk.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* Recomputes the trailing CRC of a record whose header parses (encoding, raw_len, stored_len). */
static void fix_crc(uint8_t *p, size_t n)
{
    cursor_t c;
    cursor_init(&c, p, n);
    cursor_u8(&c);
    cursor_uvarint(&c);
    uint64_t stored = cursor_uvarint(&c);
    if (!cursor_ok(&c) || stored > cursor_left(&c) || cursor_left(&c) - stored < 4) return;
    size_t at = (size_t)(c.p - p);
    uint32_t crc = crc32c(0, p + at, (size_t)stored);
    for (int i = 0; i < 4; i++) p[at + stored + (size_t)i] = (uint8_t)(crc >> (8 * i));
}

static void decode_untrusted(bchunk_dec_t *d, const uint8_t *data, size_t size)
{
    if (size < 2) return;
    int64_t mint = INT64_MIN, maxt = INT64_MAX;
    uint8_t m0 = data[0], m1 = data[1];
    data += 2, size -= 2;
    if (!(m0 & 1) && size >= 16) {
        cursor_t c;
        cursor_init(&c, data, 16);
        mint = (int64_t)cursor_u64le(&c);
        maxt = (int64_t)cursor_u64le(&c);
        data += 16, size -= 16;
    }
    uint8_t *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    if (m1 & 1) fix_crc(p, size);
    sample_vec_t out = {0};
    if (bchunk_decode(d, p, size, mint, maxt, &out) == 0) {
        for (size_t i = 0; i < out.n; i++) {
            if (out.v[i].t < mint || out.v[i].t > maxt) abort();
            if (i && out.v[i].t <= out.v[i - 1].t) abort();
        }
    } else if (out.n != 0) {
        abort(); /* on error out is left as it was */
    }
    sample_vec_free(&out);
    free(p);
}

static void round_trip(bchunk_dec_t *d, const uint8_t *data, size_t size)
{
    size_t n = size / 10;
    if (n == 0) return;
    if (n > 4096) n = 4096;
    sample_t *s = malloc(n * sizeof(sample_t));
    int64_t t = (int64_t)1700000000000LL;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *q = data + 10 * i;
        uint16_t step = (uint16_t)(q[0] | q[1] << 8);
        t += 1 + (step & 0x7fff) * ((step & 0x8000) ? 1000 : 1);
        uint64_t vb = 0;
        for (int k = 0; k < 8; k++) vb |= (uint64_t)q[2 + k] << (8 * k);
        double v;
        if (q[2] & 1) v = (double)(int32_t)(vb >> 8) / ((q[3] & 3) ? 100.0 : 1.0); /* decimal-friendly */
        else memcpy(&v, &vb, sizeof v);
        s[i] = (sample_t){t, v};
    }
    for (int z = 0; z <= 1; z++) {
        buf_t rec = BUF_INIT;
        bchunk_encode(s, n, z ? 3 : 0, &rec);
        sample_vec_t out = {0};
        if (bchunk_decode(d, (const uint8_t *)rec.data, rec.len, INT64_MIN, INT64_MAX, &out) != 0) abort();
        if (out.n != n) abort();
        for (size_t i = 0; i < n; i++)
            if (out.v[i].t != s[i].t || bits(out.v[i].v) != bits(s[i].v)) abort();
        /* a sub-range returns exactly the samples inside it */
        int64_t lo = s[n / 3].t, hi = s[(2 * n) / 3].t;
        out.n = 0;
        if (bchunk_decode(d, (const uint8_t *)rec.data, rec.len, lo, hi, &out) != 0) abort();
        if (out.n != (2 * n) / 3 - n / 3 + 1 || out.v[0].t != lo) abort();
        sample_vec_free(&out);
        buf_free(&rec);
    }
    free(s);
}

static void write_seeds(const char *dir)
{
    const int ns[] = {1, 2, 120, 1000};
    for (int k = 0; k < 4; k++)
        for (int z = 0; z <= 1; z++) {
            int n = ns[k];
            sample_t *s = malloc((size_t)n * sizeof(sample_t));
            for (int i = 0; i < n; i++)
                s[i] = (sample_t){1700000000000LL + i * 15000 + (i % 7 == 3), k % 2 ? i * 0.25 : 1.0 / (i + 3)};
            buf_t rec = BUF_INIT;
            buf_putc(&rec, 1); /* whole range */
            buf_putc(&rec, 0);
            bchunk_encode(s, (size_t)n, z ? 3 : 0, &rec);
            char path[512];
            snprintf(path, sizeof path, "%s/gen_%d_%s", dir, n, z ? "zstd" : "raw");
            FILE *f = fopen(path, "wb");
            if (!f) abort();
            fwrite(rec.data, 1, rec.len, f);
            fclose(f);
            buf_free(&rec);
            free(s);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bchunk_dec_t *d;
    if (!d) {
        d = bchunk_dec_new();
        const char *seeds = getenv("FUZZ_BCHUNK_SEEDS");
        if (seeds) write_seeds(seeds);
    }
    if (size > 1 << 20) return 0;
    decode_untrusted(d, data, size);
    decode_untrusted(NULL, data, size);
    round_trip(d, data, size);
    return 0;
}
