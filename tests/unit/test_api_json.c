/* test_api_json.c tests api/json: Go-compatible float and timestamp formatting, string escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "api/json.h"

static void check_float(double v, const char *want)
{
    char out[JSON_FLOAT_MAX];
    size_t n = json_format_float(v, out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_float_simple(void **state)
{
    (void)state;
    check_float(0.1, "0.1");
    check_float(1234, "1234");
    check_float(0, "0");
    check_float(-0.0, "-0");
    check_float(1, "1");
    check_float(-2.5, "-2.5");
    check_float(0.055, "0.055");
    check_float(1.0 / 3.0, "0.3333333333333333");
    check_float(2.0 / 3.0, "0.6666666666666666");
    check_float(0.1 + 0.2, "0.30000000000000004");
    check_float(100, "100");
    check_float(123456789012345678.0, "123456789012345680");
    check_float(1e21, "1e+21");
    check_float(-1.5e-7, "-1.5e-07");
    check_float(1e100, "1e+100");
    check_float(999999999999999900000.0, "999999999999999900000");
    check_float(1e-6, "0.000001");
    check_float(1e-7, "1e-07");
    check_float(1.5e-5, "0.000015");
    check_float(9007199254740993.0, "9007199254740992");
    check_float(9007199254740991.0, "9007199254740991");
    check_float(-9007199254740991.0, "-9007199254740991");
    check_float(-5, "-5");
    check_float(18446744073709551616.0, "18446744073709552000");
    check_float(NAN, "NaN");
    check_float(INFINITY, "+Inf");
    check_float(-INFINITY, "-Inf");
}

static void test_float_extremes(void **state)
{
    (void)state;
    char out[JSON_FLOAT_MAX];
    /* outside [1e-6, 1e21) Prometheus writes Go's shortest 'e' format */
    json_format_float(5e-324, out);
    assert_string_equal(out, "5e-324");
    json_format_float(1.7976931348623157e308, out);
    assert_string_equal(out, "1.7976931348623157e+308");
    json_format_float(-1.7976931348623157e308, out);
    assert_string_equal(out, "-1.7976931348623157e+308");
    json_format_float(2.2250738585072014e-308, out);
    assert_string_equal(out, "2.2250738585072014e-308");
}

static void test_float_roundtrip(void **state)
{
    (void)state;
    /* Every output must parse back exactly; exponents only outside [1e-6, 1e21). */
    srand(42);
    char out[JSON_FLOAT_MAX];
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
        double v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v)) continue;
        json_format_float(v, out);
        if (fabs(v) >= 1e-6 && fabs(v) < 1e21) assert_null(strchr(out, 'e'));
        else if (v != 0) assert_non_null(strchr(out, 'e'));
        assert_true(strtod(out, NULL) == v);
    }
    for (int i = 0; i < 20000; i++) {
        double v = (double)rand() / 1000.0;
        json_format_float(v, out);
        assert_true(strtod(out, NULL) == v);
        /* shortest: at most as many significant digits as %.17g needs, and values made from
         * 3 decimals print with at most 3 decimals */
        const char *dot = strchr(out, '.');
        if (dot) assert_true(strlen(dot + 1) <= 3);
    }
}

static void check_ts(int64_t ms, const char *want)
{
    char out[JSON_TS_MAX];
    assert_int_equal(json_format_timestamp(ms, out), strlen(want));
    assert_string_equal(out, want);
}

static void test_timestamp(void **state)
{
    (void)state;
    check_ts(1435781451781, "1435781451.781");
    check_ts(1435781451000, "1435781451");
    check_ts(1435781451500, "1435781451.500");
    check_ts(1435781451005, "1435781451.005");
    check_ts(1435781451050, "1435781451.050");
    check_ts(0, "0");
    check_ts(1, "0.001");
    check_ts(-1, "-0.001");
    check_ts(-1500, "-1.500");
    check_ts(INT64_MAX, "9223372036854775.807");
    check_ts(INT64_MIN, "-9223372036854775.808");
}

static void check_str(const char *in, size_t n, const char *want)
{
    buf_t b = BUF_INIT;
    json_str(&b, in, n);
    assert_string_equal(buf_cstr(&b), want);
    buf_free(&b);
}

static void test_escaping(void **state)
{
    (void)state;
    check_str("plain", 5, "\"plain\"");
    check_str("", 0, "\"\"");
    check_str("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    check_str("\n\r\t", 3, "\"\\n\\r\\t\"");
    check_str("\x01\x1f\b\f", 4, "\"\\u0001\\u001f\\u0008\\u000c\"");
    check_str("<a>&", 4, "\"\\u003ca\\u003e\\u0026\"");
    check_str("a\0b", 3, "\"a\\u0000b\"");
    check_str("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15, "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"");
    check_str("\xe2\x80\xa8\xe2\x80\xa9", 6, "\"\\u2028\\u2029\"");
    /* invalid UTF-8: stray continuation, truncated sequence, overlong, surrogate */
    check_str("a\x80z", 3, "\"a\\ufffdz\"");
    check_str("\xe2\x82", 2, "\"\\ufffd\\ufffd\"");
    check_str("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");
    check_str("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");
    check_str("\x7f", 1, "\"\x7f\"");
}

static void test_labels_and_values(void **state)
{
    (void)state;
    label_t ls[] = {{"__name__", "up", 8, 2}, {"job", "a\"b", 3, 3}};
    buf_t b = BUF_INIT;
    json_labels(&b, ls, 2);
    buf_putc(&b, ' ');
    json_labels(&b, NULL, 0);
    buf_putc(&b, ' ');
    json_float_str(&b, 1e21);
    buf_putc(&b, ' ');
    json_timestamp(&b, 1500);
    assert_string_equal(buf_cstr(&b), "{\"__name__\":\"up\",\"job\":\"a\\\"b\"} {} \"1e+21\" 1.500");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_simple),    cmocka_unit_test(test_float_extremes),
        cmocka_unit_test(test_float_roundtrip), cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_escaping),        cmocka_unit_test(test_labels_and_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
