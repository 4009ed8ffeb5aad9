/* test_cursor_fast.c checks the fast paths of cursor_uvarint (10+ bytes left) and cursor_u64le
 * (one load) against a byte-at-a-time reference on random and edge-case byte strings: the same
 * values, the same bytes consumed, the same sticky error, at every length and offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "util/cursor.h"
#include "testutil.h"

static uint64_t rng = 0x853C49E6748FEA9Bull;
static uint64_t xr(void) { return tu_xorshift(&rng); }

/* Reference LEB128 reader: returns bytes used (0 = error), value in *v. */
static size_t ref_uvarint(const uint8_t *p, size_t n, uint64_t *v)
{
    *v = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i >= n) return 0;
        if (i == 9 && p[i] > 1) return 0;
        *v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) return i + 1;
    }
    return 0;
}

static void test_uvarint_matches_reference(void **state)
{
    (void)state;
    uint8_t buf[40];
    for (int trial = 0; trial < 200000; trial++) {
        size_t n = (size_t)(xr() % sizeof buf);
        for (size_t i = 0; i < n; i++) {
            uint64_t r = xr();
            /* mostly continuation bytes, so long and overlong varints are common */
            buf[i] = (uint8_t)((r & 3) ? (r >> 8) | 0x80 : (r >> 8));
            if ((r >> 20) % 13 == 0) buf[i] = (uint8_t)((r >> 30) & 3);
        }
        cursor_t c;
        cursor_init(&c, buf, n);
        size_t off = 0;
        for (;;) {
            uint64_t want;
            size_t used = ref_uvarint(buf + off, n - off, &want);
            uint64_t got = cursor_uvarint(&c);
            if (!used) {
                assert_false(cursor_ok(&c));
                assert_int_equal(got, 0);
                break;
            }
            assert_true(cursor_ok(&c));
            assert_true(got == want);
            off += used;
            assert_int_equal(cursor_left(&c), n - off);
            if (off == n) break;
        }
    }
}

static void test_u64le_matches_reference(void **state)
{
    (void)state;
    uint8_t buf[20];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(xr() >> 13);
    for (size_t n = 0; n <= sizeof buf; n++) {
        cursor_t c;
        cursor_init(&c, buf, n);
        size_t off = 0;
        while (off + 8 <= n) {
            uint64_t want = 0;
            for (int i = 7; i >= 0; i--) want = (want << 8) | buf[off + (size_t)i];
            assert_true(cursor_u64le(&c) == want);
            off += 8;
        }
        assert_true(cursor_ok(&c));
        if (off < n) {
            assert_true(cursor_u64le(&c) == 0); /* a partial u64 is an error */
            assert_false(cursor_ok(&c));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uvarint_matches_reference),
        cmocka_unit_test(test_u64le_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
