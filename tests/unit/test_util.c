/* test_util.c tests the util modules: cursor, buf varints, crc32c, utf8, arena. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "util/arena.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/utf8.h"

uint32_t crc32c_software(uint32_t crc, const void *p, size_t n);

static void test_varint_roundtrip(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    uint64_t vals[] = {0, 1, 127, 128, 300, 16384, UINT32_MAX, (uint64_t)1 << 62, UINT64_MAX};
    int64_t svals[] = {0, -1, 1, -64, 64, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) buf_put_uvarint(&b, vals[i]);
    for (size_t i = 0; i < sizeof svals / sizeof *svals; i++) buf_put_varint(&b, svals[i]);
    buf_put_u32le(&b, 0xdeadbeef);
    buf_put_u64le(&b, 0x0123456789abcdefULL);
    cursor_t c;
    cursor_init(&c, b.data, b.len);
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) assert_true(cursor_uvarint(&c) == vals[i]);
    for (size_t i = 0; i < sizeof svals / sizeof *svals; i++) assert_true(cursor_varint(&c) == svals[i]);
    assert_int_equal(cursor_u32le(&c), 0xdeadbeef);
    assert_true(cursor_u64le(&c) == 0x0123456789abcdefULL);
    assert_true(cursor_done(&c));
    assert_true(cursor_ok(&c));
    /* reading past the end is sticky */
    assert_int_equal(cursor_u8(&c), 0);
    assert_false(cursor_ok(&c));
    assert_null(cursor_bytes(&c, 0));
    buf_free(&b);
}

static void test_cursor_truncation(void **state)
{
    (void)state;
    /* every prefix of a multi-byte varint is an error, never a crash */
    uint8_t v[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    for (size_t n = 0; n < sizeof v; n++) {
        cursor_t c;
        cursor_init(&c, v, n);
        (void)cursor_uvarint(&c);
        assert_false(cursor_ok(&c));
    }
    cursor_t c;
    cursor_init(&c, v, sizeof v);
    assert_true(cursor_uvarint(&c) == UINT64_MAX);
    /* 10th byte > 1 overflows 64 bits */
    uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    cursor_init(&c, over, sizeof over);
    (void)cursor_uvarint(&c);
    assert_false(cursor_ok(&c));
    /* 11-byte varint is refused */
    uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    cursor_init(&c, eleven, sizeof eleven);
    (void)cursor_uvarint(&c);
    assert_false(cursor_ok(&c));
}

static void test_crc32c(void **state)
{
    (void)state;
    /* standard check value for "123456789" */
    assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c_software(0, "123456789", 9), 0xE3069283u);
    uint8_t data[1031];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 31 + 7);
    for (size_t n = 0; n < sizeof data; n += 97)
        assert_int_equal(crc32c(0, data, n), crc32c_software(0, data, n));
    /* incremental equals one-shot */
    uint32_t inc = crc32c(crc32c(0, data, 500), data + 500, sizeof data - 500);
    assert_int_equal(inc, crc32c(0, data, sizeof data));
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid("hello", 5));
    assert_true(utf8_valid("h\xc3\xa9llo", 6));
    assert_true(utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_false(utf8_valid("\xc3\x28", 2));         /* bad continuation */
    assert_false(utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(utf8_valid("\xff\xfe", 2));
}

static void test_arena(void **state)
{
    (void)state;
    arena_t a = ARENA_INIT;
    char *small = arena_strndup(&a, "abc", 3);
    void *big = arena_alloc(&a, 3u << 20);
    memset(big, 1, 3u << 20);
    char *after = arena_strndup(&a, "xyz", 3);
    assert_string_equal(small, "abc");
    assert_string_equal(after, "xyz");
    assert_true(((uintptr_t)big & 15) == 0);
    arena_free(&a);
    assert_null(a.head);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_roundtrip), cmocka_unit_test(test_cursor_truncation),
        cmocka_unit_test(test_crc32c),           cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_arena),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
