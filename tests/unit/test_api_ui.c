/* test_api_ui.c tests the embedded web UI below HTTP: every embedded file is reachable through the
 * routing table and served with its type, index.html only references files that are embedded, and
 * unknown paths get 404. (The UI's behaviour is tested in a browser by make test-browser.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "api/api_ui.h"
#include "api/http_server.h"

static void serve(const char *path, api_response_t *res)
{
    api_request_t req;
    memset(&req, 0, sizeof req);
    req.method = API_GET;
    req.path = path;
    memset(res, 0, sizeof *res);
    res->status = 200;
    api_handle_ui(NULL, &req, res);
}

static bool embedded(const char *path)
{
    for (size_t i = 0; i < api_ui_count(); i++)
        if (!strcmp(api_ui_path(i), path)) return true;
    return false;
}

static void test_every_asset_routed_and_served(void **state)
{
    assert_true(api_ui_count() >= 3);
    assert_null(api_ui_path(api_ui_count()));
    for (size_t i = 0; i < api_ui_count(); i++) {
        const char *p = api_ui_path(i);
        unsigned allowed = 0;
        bool form = true;
        char *arg = NULL;
        api_handler_fn fn = http_route(p, strlen(p), &allowed, &form, &arg);
        if (fn != api_handle_ui) fail_msg("embedded %s has no route to api_handle_ui in http_server.c", p);
        assert_true(allowed & API_GET);
        assert_true(allowed & API_HEAD);
        assert_false(form);
        assert_null(arg);
        api_response_t res;
        serve(p, &res);
        assert_int_equal(res.status, 200);
        assert_non_null(res.content_type);
        assert_true(res.body.len > 100);
        buf_free(&res.body);
    }
}

static void test_index(void **state)
{
    api_response_t res;
    serve("/", &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "text/html; charset=utf-8");
    buf_putc(&res.body, 0);
    const char *html = (const char *)res.body.data;
    assert_int_equal(strncmp(html, "<!DOCTYPE html>", 15), 0);
    /* every same-origin reference (src="/..." or href="/...") names an embedded file */
    int refs = 0;
    for (const char *q = html; (q = strstr(q, "=\"/")) != NULL; q += 3) {
        const char *e = strchr(q + 2, '"');
        assert_non_null(e);
        char path[128];
        size_t n = (size_t)(e - (q + 2));
        assert_true(n < sizeof path);
        memcpy(path, q + 2, n);
        path[n] = 0;
        if (!embedded(path)) fail_msg("index.html references %s, which is not embedded", path);
        refs++;
    }
    assert_true(refs >= 2); /* app.js and style.css */
    /* nothing is loaded from another origin */
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    buf_free(&res.body);

    serve("/ui/app.js", &res);
    assert_string_equal(res.content_type, "text/javascript; charset=utf-8");
    buf_free(&res.body);
    serve("/ui/style.css", &res);
    assert_string_equal(res.content_type, "text/css; charset=utf-8");
    buf_free(&res.body);
}

static void test_unknown_is_404(void **state)
{
    const char *bad[] = {"/ui/", "/ui/missing.js", "/index.html", "", "/ui/app.js/", "/UI/app.js"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        api_response_t res;
        serve(bad[i], &res);
        assert_int_equal(res.status, 404);
        buf_free(&res.body);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_asset_routed_and_served),
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_unknown_is_404),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
