/* test_api_params.c tests api/params: URL/form decoding, times, durations and steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "api/params.h"
#include "util/status.h"

static int64_t t_ok(const char *s)
{
    int64_t ms = 12345;
    char err[256];
    assert_int_equal(params_parse_time(s, &ms, err, sizeof err), MS_OK);
    return ms;
}

static void test_unix_times(void **state)
{
    (void)state;
    assert_true(t_ok("1435781451") == 1435781451000);
    assert_true(t_ok("1435781451.781") == 1435781451781);
    assert_true(t_ok("1435781451.7815") == 1435781451782); /* rounded to ms */
    assert_true(t_ok("0") == 0);
    assert_true(t_ok("-1.5") == -1500);
    assert_true(t_ok("-100") == -100000);
    assert_true(t_ok("1e3") == 1000000);
    assert_true(t_ok("0.007") == 7);
    assert_true(t_ok("1e300") == INT64_MAX);
    assert_true(t_ok("-1e300") == INT64_MIN);
}

static void test_rfc3339_times(void **state)
{
    (void)state;
    assert_true(t_ok("1970-01-01T00:00:00Z") == 0);
    assert_true(t_ok("2015-07-01T20:10:51.781Z") == 1435781451781);
    assert_true(t_ok("2015-07-01T20:10:51Z") == 1435781451000);
    assert_true(t_ok("2015-07-01T20:10:51.7819999Z") == 1435781451781); /* truncated like Go */
    assert_true(t_ok("2015-07-01T20:10:51.5Z") == 1435781451500);
    assert_true(t_ok("2015-07-01T22:10:51.781+02:00") == 1435781451781);
    assert_true(t_ok("2015-07-01T15:40:51.781-04:30") == 1435781451781);
    assert_true(t_ok("1969-12-31T23:59:59Z") == -1000);
    assert_true(t_ok("2000-02-29T00:00:00Z") == 951782400000);
    assert_true(t_ok("-292273086-05-16T16:47:06Z") == INT64_MIN);
    assert_true(t_ok("292277025-08-18T07:12:54.999999999Z") == INT64_MAX);
}

static void test_bad_times(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "abc",
                         " 1",
                         "1 ",
                         "NaN",
                         "2015-07-01",
                         "2015-07-01T20:10:51",
                         "2015-13-01T20:10:51Z",
                         "2015-02-29T20:10:51Z",
                         "2015-07-01T24:00:00Z",
                         "2015-07-01T20:10:51.Z",
                         "2015-07-01T20:10:51+0200",
                         "2015-07-01T20:10:51Zjunk"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t ms;
        char err[256];
        assert_int_equal(params_parse_time(bad[i], &ms, err, sizeof err), MS_EINVAL);
    }
    int64_t ms;
    char err[256];
    params_parse_time("x\"y", &ms, err, sizeof err);
    assert_string_equal(err, "cannot parse \"x\\\"y\" to a valid timestamp");
}

static int64_t d_ok(const char *s)
{
    int64_t ms = -42;
    char err[256];
    assert_int_equal(params_parse_duration(s, &ms, err, sizeof err), MS_OK);
    return ms;
}

static void test_durations(void **state)
{
    (void)state;
    assert_true(d_ok("1h30m") == 5400000);
    assert_true(d_ok("1y") == 365LL * 86400000);
    assert_true(d_ok("1w") == 7LL * 86400000);
    assert_true(d_ok("1d") == 86400000);
    assert_true(d_ok("100ms") == 100);
    assert_true(d_ok("5m") == 300000);
    assert_true(d_ok("15s") == 15000);
    assert_true(d_ok("0") == 0);
    assert_true(d_ok("1d2h3m4s5ms") == 86400000 + 7200000 + 180000 + 4000 + 5);
    /* float seconds (steps) */
    assert_true(d_ok("15") == 15000);
    assert_true(d_ok("0.5") == 500);
    assert_true(d_ok("-5") == -5000);
    assert_true(d_ok("0") == 0);
    assert_true(d_ok("292y") == 292LL * 365 * 86400000);
}

static void test_bad_durations(void **state)
{
    (void)state;
    const char *bad[] = {"", "1x", "h", "1h1h", "1m1h", "1.5h", "-1h", "1 h", "1H", "ms", "1msx", "1000y",
                         "99999999999999999999s", "1e300"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t ms;
        char err[256] = "";
        assert_int_equal(params_parse_duration(bad[i], &ms, err, sizeof err), MS_EINVAL);
        assert_non_null(strstr(err, "to a valid duration"));
    }
    int64_t ms;
    char err[256];
    params_parse_duration("1e300", &ms, err, sizeof err);
    assert_string_equal(err, "cannot parse \"1e300\" to a valid duration. It overflows int64");
    params_parse_duration("5x", &ms, err, sizeof err);
    assert_string_equal(err, "cannot parse \"5x\" to a valid duration");
}

static void test_urlencoded(void **state)
{
    (void)state;
    params_t p = PARAMS_INIT;
    const char *q = "match[]=up&query=rate(x%5B5m%5D)+%2B+1&match%5B%5D=%7Bjob%3D%22a+b%22%7D&empty=&flag&&match[]=z";
    assert_int_equal(params_parse_urlencoded(&p, q, strlen(q), NULL, 0), MS_OK);
    assert_int_equal(params_count(&p, "match[]"), 3);
    assert_string_equal(params_get_nth(&p, "match[]", 0), "up");
    assert_string_equal(params_get_nth(&p, "match[]", 1), "{job=\"a b\"}");
    assert_string_equal(params_get_nth(&p, "match[]", 2), "z");
    assert_null(params_get_nth(&p, "match[]", 3));
    assert_string_equal(params_get(&p, "query"), "rate(x[5m]) + 1");
    assert_string_equal(params_get(&p, "empty"), "");
    assert_string_equal(params_get(&p, "flag"), "");
    assert_null(params_get(&p, "missing"));
    /* a form body appended after keeps order: first value wins in params_get */
    assert_int_equal(params_parse_urlencoded(&p, "query=second", 12, NULL, 0), MS_OK);
    assert_string_equal(params_get(&p, "query"), "rate(x[5m]) + 1");
    assert_int_equal(params_count(&p, "query"), 2);
    params_free(&p);

    char err[64];
    assert_int_equal(params_parse_urlencoded(&p, "a=%zz", 5, err, sizeof err), MS_EINVAL);
    assert_string_equal(err, "invalid URL escape \"%zz\"");
    params_free(&p);
    assert_int_equal(params_parse_urlencoded(&p, "a=1&b=%4", 8, err, sizeof err), MS_EINVAL);
    assert_string_equal(err, "invalid URL escape \"%4\"");
    assert_string_equal(params_get(&p, "a"), "1");
    params_free(&p);

    size_t n;
    char *s = params_unescape("a+b%20c%2fd", 11, false, &n);
    assert_string_equal(s, "a+b c/d");
    assert_int_equal(n, 7);
    free(s);
    s = params_unescape("%00x", 4, true, &n);
    assert_int_equal(n, 2);
    assert_int_equal(s[0], 0);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unix_times), cmocka_unit_test(test_rfc3339_times),
        cmocka_unit_test(test_bad_times),  cmocka_unit_test(test_durations),
        cmocka_unit_test(test_bad_durations), cmocka_unit_test(test_urlencoded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
