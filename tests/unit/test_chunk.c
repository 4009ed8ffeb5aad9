/* test_chunk.c tests the Gorilla XOR chunk: bit-exact round trips of random and edge values
 * (NaN payloads, stale marker, infinities, -0.0, extremes), irregular, regular and negative
 * timestamps, large timestamp jumps, single samples, and truncated streams failing cleanly; the
 * batch reader (chunk_iter_read) against the one-sample iterator, also on random bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "storage/chunk.h"
#include "util/buf.h"
#include "testutil.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) { return tu_xorshift(&rng); }

/* chunk_iter_read over [mint, maxt] yields exactly the samples (and the error) of a
 * chunk_iter_next loop filtered the same way. */
static void check_read_matches(const uint8_t *b, uint32_t nbits, uint16_t n, int64_t mint, int64_t maxt)
{
    sample_t *want = calloc(n + 1u, sizeof *want), *got = calloc(n + 1u, sizeof *got);
    chunk_iter_t it;
    chunk_iter_init(&it, b, nbits, n);
    size_t nw = 0;
    while (chunk_iter_next(&it)) {
        if (it.t < mint) continue;
        if (it.t > maxt) break;
        want[nw].t = it.t;
        memcpy(&want[nw].v, &it.vbits, 8);
        nw++;
    }
    bool stopped_early = it.i < n && !it.err; /* broke off past maxt */
    chunk_iter_t jt;
    chunk_iter_init(&jt, b, nbits, n);
    size_t ng = chunk_iter_read(&jt, mint, maxt, got);
    assert_int_equal(ng, nw);
    assert_memory_equal(got, want, nw * sizeof *got);
    if (!stopped_early) assert_int_equal(jt.err, it.err);
    free(want);
    free(got);
}

static void roundtrip(const int64_t *t, const uint64_t *v, size_t n)
{
    xor_chunk_t c;
    chunk_init(&c);
    for (size_t i = 0; i < n; i++) chunk_append(&c, t[i], v[i]);
    assert_int_equal(c.n, n);
    assert_true(c.mint == t[0]);
    assert_true(c.maxt == t[n - 1]);
    chunk_iter_t it;
    chunk_iter_init(&it, c.b, c.nbits, c.n);
    size_t i = 0;
    while (chunk_iter_next(&it)) {
        assert_true(i < n);
        assert_true(it.t == t[i]);
        assert_true(it.vbits == v[i]); /* compare bits, not values */
        i++;
    }
    assert_false(it.err);
    assert_int_equal(i, n);
    /* every truncation of the stream fails cleanly (error or fewer samples), never overruns */
    for (uint32_t cut = 0; cut < c.nbits; cut += 7) {
        chunk_iter_t jt;
        chunk_iter_init(&jt, c.b, cut, c.n);
        size_t k = 0;
        while (chunk_iter_next(&jt)) k++;
        assert_true(k < n || !jt.err);
        if (k < n) assert_true(jt.err);
        check_read_matches(c.b, cut, c.n, INT64_MIN, INT64_MAX);
    }
    /* the batch reader: whole stream, and time-filtered the way the head reads a range */
    check_read_matches(c.b, c.nbits, c.n, INT64_MIN, INT64_MAX);
    check_read_matches(c.b, c.nbits, c.n, t[n / 3], t[(2 * n) / 3]);
    check_read_matches(c.b, c.nbits, c.n, t[n - 1], t[n - 1]);
    check_read_matches(c.b, c.nbits, c.n, t[0] + 1, t[n - 1] - 1);
    chunk_free(&c);
}

static void test_specials(void **state)
{
    (void)state;
    uint64_t v[] = {
        0x7ff0000000000002ull, /* staleness marker */
        tu_bits(NAN),
        0x7ff8000000000001ull, /* NaN with payload */
        0xfff8000000000000ull, /* negative NaN */
        tu_bits(INFINITY),
        tu_bits(-INFINITY),
        tu_bits(-0.0),
        tu_bits(0.0),
        tu_bits(1.7976931348623157e308),
        tu_bits(4.9e-324),
        tu_bits(-2.2250738585072014e-308),
        tu_bits(1.0),
        tu_bits(1.0),
        0x7ff0000000000002ull,
        0,
        UINT64_MAX,
    };
    size_t n = sizeof(v) / sizeof(v[0]);
    int64_t t[sizeof(v) / sizeof(v[0])];
    for (size_t i = 0; i < n; i++) t[i] = 1000 + (int64_t)i * 15000;
    roundtrip(t, v, n);
}

static void test_random(void **state)
{
    (void)state;
    enum { N = 240 };
    int64_t t[N];
    uint64_t v[N];
    for (int round = 0; round < 200; round++) {
        int64_t cur = (int64_t)(next_rand() % 2000000000000ull) - 1000000000000ll;
        for (int i = 0; i < N; i++) {
            switch (round % 5) {
            case 0: cur += 15000; break;                                      /* regular */
            case 1: cur += 1 + (int64_t)(next_rand() % 30000); break;          /* irregular */
            case 2: cur += 1 + (int64_t)(next_rand() % 10); break;             /* tiny steps */
            case 3: cur += 1 + (int64_t)(next_rand() % 4000000000ull); break;  /* huge jumps */
            default: cur += (i % 7 == 0) ? 1000000 : 15000; break;            /* jitter buckets */
            }
            t[i] = cur;
            switch (round % 4) {
            case 0: v[i] = next_rand(); break;                               /* random bits */
            case 1: v[i] = tu_bits((double)(i / 10)); break;                 /* slow counter */
            case 2: v[i] = tu_bits((double)(next_rand() % 1000) / 7.0); break;
            default: v[i] = tu_bits(i % 3 ? 1e300 * (double)i : -1e-300); break;
            }
        }
        roundtrip(t, v, 1 + (size_t)(next_rand() % N));
    }
}

static void test_single_and_negative(void **state)
{
    (void)state;
    int64_t t1[] = {-5};
    uint64_t v1[] = {tu_bits(3.25)};
    roundtrip(t1, v1, 1);
    int64_t t2[] = {INT64_MIN, -1000000, -1, 0, 1, INT64_MAX};
    uint64_t v2[] = {1, 2, 3, 4, 5, 6};
    roundtrip(t2, v2, 6);
    int64_t t3[] = {INT64_MIN, INT64_MAX};
    roundtrip(t3, v2, 2);
}

static void test_dod_boundaries(void **state)
{
    (void)state;
    /* deltas that put delta-of-delta exactly on each bucket edge */
    int64_t dods[] = {0, 1, -1, 8191, -8192, 8192, -8193, 65535, -65536, 65536, -65537,
                      524287, -524288, 524288, -524289, 1ll << 40, -(1ll << 40)};
    size_t nd = sizeof(dods) / sizeof(dods[0]);
    for (size_t k = 0; k < nd; k++) {
        int64_t t[4], base_delta = 10000000;
        uint64_t v[4] = {1, 2, 3, 4};
        t[0] = 0;
        t[1] = base_delta;
        t[2] = t[1] + base_delta + dods[k];
        t[3] = t[2] + base_delta + dods[k] + 1;
        if (t[2] <= t[1] || t[3] <= t[2]) continue;
        roundtrip(t, v, 4);
    }
}

/* Random bytes as a stream: both readers agree sample for sample and fail the same way. */
static void test_garbage(void **state)
{
    (void)state;
    uint8_t b[96];
    for (int round = 0; round < 3000; round++) {
        for (size_t i = 0; i < sizeof b; i++) b[i] = (uint8_t)next_rand();
        if (round % 3 == 0) /* mostly small dods and window reuse, so streams run longer */
            for (size_t i = 10; i < sizeof b; i++) b[i] &= (uint8_t)(round % 2 ? 0x5b : 0x3f);
        uint32_t nbits = (uint32_t)(next_rand() % (sizeof b * 8 + 1));
        check_read_matches(b, nbits, (uint16_t)(1 + next_rand() % 200), INT64_MIN, INT64_MAX);
    }
}

static void test_chunk_size(void **state)
{
    (void)state;
    /* a regular counter compresses well below 2 bytes per sample */
    xor_chunk_t c;
    chunk_init(&c);
    for (int i = 0; i < CHUNK_TARGET_SAMPLES; i++) chunk_append(&c, 1700000000000ll + i * 15000ll, tu_bits(i * 2.0));
    assert_true(chunk_bytes(&c) < 2 * CHUNK_TARGET_SAMPLES);
    buf_t b = BUF_INIT;
    chunk_serialize(&c, &b);
    assert_int_equal(b.len, 6 + chunk_bytes(&c));
    assert_int_equal(b.data[0] | (b.data[1] << 8), CHUNK_TARGET_SAMPLES);
    buf_free(&b);
    /* shrinking releases slack and appending afterwards still round-trips */
    uint32_t cap = c.cap;
    int64_t freed = chunk_shrink(&c);
    assert_int_equal(c.cap, chunk_bytes(&c));
    assert_int_equal(freed, (int64_t)cap - (int64_t)c.cap);
    for (int i = CHUNK_TARGET_SAMPLES; i < CHUNK_MAX_SAMPLES; i++) chunk_append(&c, 1700000000000ll + i * 15000ll, tu_bits(-i * 0.5));
    chunk_iter_t it;
    chunk_iter_init(&it, c.b, c.nbits, c.n);
    int k = 0;
    while (chunk_iter_next(&it)) {
        assert_true(it.t == 1700000000000ll + k * 15000ll);
        assert_true(it.vbits == tu_bits(k < CHUNK_TARGET_SAMPLES ? k * 2.0 : -k * 0.5));
        k++;
    }
    assert_int_equal(k, CHUNK_MAX_SAMPLES);
    assert_false(it.err);
    chunk_free(&c);
    chunk_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specials),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_single_and_negative),
        cmocka_unit_test(test_dod_boundaries),
        cmocka_unit_test(test_chunk_size),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
