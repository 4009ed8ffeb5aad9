/* test_bchunk.c tests the block chunk record encoding (bchunk.c): bit-exact round trips of
 * both column layout versions (2 written, 1 still read) over counters with resets, random-walk
 * gauges, constants, jittered and irregular timestamps, extreme deltas (every packing width up
 * to 64 bits, outliers stored apart), XOR values; sub-range reads; damaged, truncated and
 * unknown-version records refused; and that version 2 is smaller on bench-like data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "storage/bchunk.h"
#include "util/status.h"
#include "testutil.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t xr(void) { return tu_xorshift(&rng); }

static double unit(void) { return (double)(xr() >> 11) / 9007199254740992.0; }

static uint64_t bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, 8);
    return d;
}

static double round2(double v) { return round(v * 100.0) / 100.0; }

static void check_decode(const buf_t *b, const sample_t *s, size_t n)
{
    sample_vec_t out = {0};
    assert_int_equal(bchunk_decode(NULL, b->data, b->len, INT64_MIN, INT64_MAX, &out), MS_OK);
    assert_int_equal(out.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(out.v[i].t == s[i].t);
        assert_true(bits(out.v[i].v) == bits(s[i].v));
    }
    if (n > 4) { /* a sub-range, with a reused decoder */
        bchunk_dec_t *d = bchunk_dec_new();
        out.n = 0;
        assert_int_equal(bchunk_decode(d, b->data, b->len, s[1].t, s[n - 2].t, &out), MS_OK);
        assert_int_equal(out.n, n - 2);
        assert_true(out.v[0].t == s[1].t && out.v[n - 3].t == s[n - 2].t);
        bchunk_dec_free(d);
    }
    sample_vec_free(&out);
}

/* Encodes with both versions and both compression choices; every one must read back exactly,
 * and damage must be refused, never crash. */
static void roundtrip(const sample_t *s, size_t n)
{
    for (int version = 1; version <= 2; version++) {
        for (int z = 0; z <= 3; z += 3) {
            buf_t b = BUF_INIT;
            bchunk_encode_version(s, n, z, version, &b);
            assert_true(b.data[0] == (version == 1 ? 0 : 2) || b.data[0] == (version == 1 ? 1 : 3));
            check_decode(&b, s, n);
            sample_vec_t out = {0};
            for (size_t k = 0; k < b.len; k += 1 + b.len / 40) { /* truncation */
                out.n = 0;
                assert_int_equal(bchunk_decode(NULL, b.data, k, INT64_MIN, INT64_MAX, &out), MS_ECORRUPT);
            }
            for (size_t i = 3; i + 4 < b.len; i += 1 + b.len / 64) { /* flips inside the CRC'd bytes */
                b.data[i] ^= 0x10;
                out.n = 0;
                assert_int_equal(bchunk_decode(NULL, b.data, b.len, INT64_MIN, INT64_MAX, &out), MS_ECORRUPT);
                b.data[i] ^= 0x10;
            }
            sample_vec_free(&out);
            buf_free(&b);
        }
    }
}

static void test_counters_gauges_constants(void **state)
{
    (void)state;
    enum { N = 480 };
    sample_t s[N];
    int64_t t0 = 1795759455328;
    /* counter with a large rate and one reset (an outlier stored apart) */
    double v = 123456789.12, rate = 2.0e6;
    for (size_t i = 0; i < N; i++) {
        if (i == 200) v = 0;
        v = round2(v + rate * 15 * (0.5 + unit()));
        s[i] = (sample_t){t0 + 15000 * (int64_t)i, v};
    }
    roundtrip(s, N);
    /* random-walk gauge with 2 decimals, reflected at 0 */
    v = 5.0;
    for (size_t i = 0; i < N; i++) {
        v = round2(v + 0.5 * (2 * unit() - 1));
        if (v < 0) v = -v;
        s[i] = (sample_t){t0 + 15000 * (int64_t)i + (int64_t)(xr() % 5), v};
    }
    roundtrip(s, N);
    /* constant, regular */
    for (size_t i = 0; i < N; i++) s[i] = (sample_t){t0 + 15000 * (int64_t)i, 1500};
    roundtrip(s, N);
    /* small n: 1, 2, 3 samples */
    roundtrip(s, 1);
    roundtrip(s, 2);
    roundtrip(s, 3);
}

static void test_extreme_deltas(void **state)
{
    (void)state;
    enum { N = 300 };
    sample_t s[N];
    /* every packing width: deltas drawn from [0, 2^w) */
    for (unsigned w = 1; w <= 52; w += 3) {
        int64_t acc = 0;
        for (size_t i = 0; i < N; i++) {
            acc += (int64_t)(xr() & ((1ull << w) - 1)) % ((int64_t)1 << 52);
            if (acc > ((int64_t)1 << 52) || acc < -((int64_t)1 << 52)) acc = 0;
            s[i] = (sample_t){(int64_t)i * 1000 + (int64_t)(xr() % ((w % 7) + 1)), (double)acc};
        }
        roundtrip(s, N);
    }
    /* timestamps spanning the whole int64 range with irregular gaps (64-bit delta-of-deltas) */
    for (size_t i = 0; i < N; i++) s[i] = (sample_t){INT64_MIN / 2 + (int64_t)i * (INT64_MAX / N), (double)i};
    s[N / 2].t += 123456789;
    roundtrip(s, N);
    /* values needing 9 decimals and near 2^53 */
    for (size_t i = 0; i < N; i++) s[i] = (sample_t){(int64_t)i, (double)(int64_t)(xr() % 9000000000000000ull) / 1e9};
    roundtrip(s, N);
    /* more outliers than are stored apart: widths fall back to covering them */
    for (size_t i = 0; i < N; i++) s[i] = (sample_t){(int64_t)i * 15000, (double)(i % 20 == 0 ? xr() % 1000000000 : i)};
    roundtrip(s, N);
    /* XOR kind: random doubles, NaN payloads, stale marker, -0.0, infinities */
    for (size_t i = 0; i < N; i++) s[i] = (sample_t){(int64_t)i * 15000, from_bits(xr())};
    s[3].v = NAN;
    s[4].v = from_bits(0x7ff0000000000002ull);
    s[5].v = -0.0;
    s[6].v = INFINITY;
    roundtrip(s, N);
}

static void test_unknown_version_refused(void **state)
{
    (void)state;
    sample_t s[20];
    for (size_t i = 0; i < 20; i++) s[i] = (sample_t){(int64_t)i * 15000, (double)i};
    buf_t b = BUF_INIT;
    bchunk_encode(s, 20, 0, &b);
    assert_int_equal(b.data[0], BCHUNK_RAW_V2);
    sample_vec_t out = {0};
    for (int enc = 4; enc < 256; enc += 37) {
        b.data[0] = (uint8_t)enc;
        assert_int_equal(bchunk_decode(NULL, b.data, b.len, INT64_MIN, INT64_MAX, &out), MS_ECORRUPT);
    }
    /* version 2 columns labelled as version 1 are refused too (layouts differ) */
    b.data[0] = BCHUNK_RAW;
    assert_int_equal(bchunk_decode(NULL, b.data, b.len, INT64_MIN, INT64_MAX, &out), MS_ECORRUPT);
    assert_int_equal(out.n, 0);
    sample_vec_free(&out);
    buf_free(&b);
}

/* Bench-like series (loadgen's model): version 2 must beat version 1 clearly. */
static void test_v2_smaller_on_bench_like_data(void **state)
{
    (void)state;
    enum { N = 480, SERIES = 60 };
    size_t v1 = 0, v2 = 0;
    sample_t s[N];
    for (int k = 0; k < SERIES; k++) {
        double scale = pow(10, (double)(k % 10)) * 0.01, v = round2(scale * 1e5);
        for (size_t i = 0; i < N; i++) {
            if (k % 2) v = round2(v + scale * 15 * (0.5 + unit()));
            else v = fabs(round2(v + scale * 0.02 * (2 * unit() - 1)));
            s[i] = (sample_t){1795759455328 + 15000 * (int64_t)i, v};
        }
        buf_t a = BUF_INIT, b = BUF_INIT;
        bchunk_encode_version(s, N, 3, 1, &a);
        bchunk_encode_version(s, N, 3, 2, &b);
        v1 += a.len;
        v2 += b.len;
        check_decode(&b, s, N);
        buf_free(&a);
        buf_free(&b);
    }
    print_message("bench-like: version 1 %.3f B/sample, version 2 %.3f B/sample\n", (double)v1 / (N * SERIES),
                  (double)v2 / (N * SERIES));
    assert_true(v2 * 100 < v1 * 90);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_gauges_constants),
        cmocka_unit_test(test_extreme_deltas),
        cmocka_unit_test(test_unknown_version_refused),
        cmocka_unit_test(test_v2_smaller_on_bench_like_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
