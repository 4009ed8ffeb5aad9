/* test_api_route.c tests the routing table of api/http_server: exact paths, the label-values
 * pattern with URL-encoded names, method masks, and unknown paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "api/http_server.h"

static api_handler_fn route(const char *path, unsigned *allowed, bool *form, char **arg)
{
    return http_route(path, strlen(path), allowed, form, arg);
}

static void test_exact_routes(void **state)
{
    (void)state;
    unsigned allowed = 0;
    bool form = false;
    char *arg = (char *)1;
    assert_true(route("/api/v1/query", &allowed, &form, &arg) == api_handle_query);
    assert_int_equal(allowed, API_GET | API_POST);
    assert_true(form);
    assert_null(arg);
    assert_true(route("/api/v1/write", &allowed, &form, &arg) == api_handle_write);
    assert_int_equal(allowed, API_POST);
    assert_false(form);
    assert_true(route("/api/v1/query_range", &allowed, &form, &arg) == api_handle_query_range);
    assert_true(route("/api/v1/series", &allowed, &form, &arg) == api_handle_series);
    assert_true(route("/api/v1/labels", &allowed, &form, &arg) == api_handle_labels);
    assert_true(route("/api/v1/metadata", &allowed, &form, &arg) == api_handle_metadata);
    assert_true(route("/api/v1/status/buildinfo", &allowed, &form, &arg) == api_handle_buildinfo);
    assert_true(route("/-/healthy", &allowed, &form, &arg) == api_handle_healthy);
    assert_true(route("/-/ready", &allowed, &form, &arg) == api_handle_ready);
    /* an encoded path decodes before matching */
    assert_true(route("/api/v1/%71uery", &allowed, &form, &arg) == api_handle_query);
}

static void test_unknown_routes(void **state)
{
    (void)state;
    unsigned allowed = 0;
    bool form = false;
    char *arg = NULL;
    const char *bad[] = {"/ui/", "/ui/index.html", "/api/v1", "/api/v1/query/", "/api/v1/querys", "/api/v1/label/values",
                         "/api/v1/label//values", "/api/v1/label/a/b/values", "/api/v1/label/x/value", "/%zz"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_null(route(bad[i], &allowed, &form, &arg));
        assert_null(arg);
    }
}

static void test_label_values_route(void **state)
{
    (void)state;
    unsigned allowed = 0;
    bool form = false;
    char *arg = NULL;
    assert_true(route("/api/v1/label/job/values", &allowed, &form, &arg) == api_handle_label_values);
    assert_string_equal(arg, "job");
    assert_int_equal(allowed, API_GET | API_POST);
    free(arg);
    /* %2F is part of the name, not a separator; '+' stays '+' in a path */
    assert_true(route("/api/v1/label/a%2Fb+c/values", &allowed, &form, &arg) == api_handle_label_values);
    assert_string_equal(arg, "a/b+c");
    free(arg);
    assert_true(route("/api/v1/label/__name__/values", &allowed, &form, &arg) == api_handle_label_values);
    assert_string_equal(arg, "__name__");
    free(arg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_routes),
        cmocka_unit_test(test_unknown_routes),
        cmocka_unit_test(test_label_values_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
