/* test_api_handlers.c tests the api handlers end to end below HTTP: a real db in a temp dir,
 * series appended through storage.h, then series/labels/label values/metadata/query/query_range
 * handlers called directly and their exact JSON and status codes checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "api/api.h"

typedef struct fixture {
    char dir[64];
    db_t *db;
    promql_engine_t *engine;
    api_t api;
} fixture_t;

static void add_series(appender_t *a, label_t *ls, size_t n, const sample_t *s, size_t ns)
{
    labels_sort(ls, n);
    assert_int_equal(appender_add(a, ls, n, labels_hash(ls, n), s, ns), 0);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ms-api-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    db_options_t o;
    db_options_default(&o);
    o.data_dir = f->dir;
    o.retention_ms = 0;
    o.wal_fsync = WAL_FSYNC_NEVER;
    char err[256];
    assert_int_equal(db_open(&o, &f->db, err, sizeof err), 0);
    appender_t *a;
    assert_int_equal(db_appender(f->db, &a), 0);
    sample_t s1[] = {{1000, 1}, {2000, 2}, {3000, 3}};
    sample_t s2[] = {{1000, 10}, {2000, 0.1}, {3000, 1e21}};
    sample_t s3[] = {{1000, 5}};
    label_t l1[] = {{"__name__", "up", 8, 2}, {"job", "api", 3, 3}};
    label_t l2[] = {{"__name__", "up", 8, 2}, {"job", "db<1>", 3, 5}};
    label_t l3[] = {{"__name__", "other", 8, 5}, {"zone", "a\"b", 4, 3}};
    add_series(a, l1, 2, s1, 3);
    add_series(a, l2, 2, s2, 3);
    add_series(a, l3, 2, s3, 1);
    assert_int_equal(appender_add_metadata(a, "up", 2, "gauge", 5, "Is it up?", 9, "", 0), 0);
    append_result_t r;
    assert_int_equal(appender_commit(a, &r), 0);
    promql_options_t po;
    promql_options_default(&po);
    assert_int_equal(promql_engine_new(f->db, &po, &f->engine), 0);
    f->api.db = f->db;
    f->api.engine = f->engine;
    f->api.query_timeout_ms = 10000;
    f->api.max_points_per_series = 11000;
    f->api.max_request_bytes = 1 << 20;
    rw_limits_default(&f->api.rw_limits);
    atomic_init(&f->api.ready, true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    promql_engine_free(f->engine);
    db_close(f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Calls handler with a query string and returns the body (caller frees) and the status. */
static char *call(fixture_t *f, api_handler_fn fn, const char *query, const char *path_arg, int *status)
{
    api_request_t req;
    memset(&req, 0, sizeof req);
    req.method = API_GET;
    req.path = "/test";
    req.path_arg = path_arg;
    assert_int_equal(params_parse_urlencoded(&req.params, query, strlen(query), NULL, 0), 0);
    api_response_t res = {0, NULL, BUF_INIT, NULL, NULL};
    fn(&f->api, &req, &res);
    params_free(&req.params);
    *status = res.status;
    char *out = strdup(buf_cstr(&res.body));
    buf_free(&res.body);
    return out;
}

static void expect(fixture_t *f, api_handler_fn fn, const char *query, const char *arg, int want_status,
                   const char *want)
{
    int st;
    char *got = call(f, fn, query, arg, &st);
    if (strcmp(got, want) || st != want_status)
        fprintf(stderr, "query %s\n got %d %s\nwant %d %s\n", query, st, got, want_status, want);
    assert_int_equal(st, want_status);
    assert_string_equal(got, want);
    free(got);
}

static void test_series(void **state)
{
    fixture_t *f = *state;
    expect(f, api_handle_series, "match[]=up", NULL, 200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"up\",\"job\":\"api\"},"
           "{\"__name__\":\"up\",\"job\":\"db\\u003c1\\u003e\"}]}");
    /* union of two selectors, de-duplicated and sorted */
    expect(f, api_handle_series, "match[]=%7Bjob%3D%22api%22%7D&match[]=other&match[]=up%7Bjob%3D%22api%22%7D", NULL,
           200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"other\",\"zone\":\"a\\\"b\"},"
           "{\"__name__\":\"up\",\"job\":\"api\"}]}");
    /* no match[]: every series (our extension) */
    expect(f, api_handle_series, "", NULL, 200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"other\",\"zone\":\"a\\\"b\"},"
           "{\"__name__\":\"up\",\"job\":\"api\"},{\"__name__\":\"up\",\"job\":\"db\\u003c1\\u003e\"}]}");
    /* time range excluding everything */
    expect(f, api_handle_series, "match[]=up&start=100&end=200", NULL, 200, "{\"status\":\"success\",\"data\":[]}");
    /* an all-empty selector is refused (by the parser or by us, as in Prometheus) */
    int st;
    char *body = call(f, api_handle_series, "match[]=%7Bjob%3D~%22.*%22%7D", NULL, &st);
    assert_int_equal(st, 400);
    assert_non_null(strstr(body, "\"error\":\"invalid parameter \\\"match[]\\\": "));
    assert_non_null(strstr(body, "at least one non-empty matcher"));
    free(body);
    expect(f, api_handle_series, "match[]=up&start=yesterday", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"start\\\": Invalid "
           "time value for 'start': cannot parse \\\"yesterday\\\" to a valid timestamp\"}");
}

static void test_labels(void **state)
{
    fixture_t *f = *state;
    expect(f, api_handle_labels, "", NULL, 200, "{\"status\":\"success\",\"data\":[\"__name__\",\"job\",\"zone\"]}");
    expect(f, api_handle_labels, "match[]=other", NULL, 200, "{\"status\":\"success\",\"data\":[\"__name__\",\"zone\"]}");
    expect(f, api_handle_label_values, "", "job", 200,
           "{\"status\":\"success\",\"data\":[\"api\",\"db\\u003c1\\u003e\"]}");
    expect(f, api_handle_label_values, "match[]=other", "job", 200, "{\"status\":\"success\",\"data\":[]}");
    expect(f, api_handle_label_values, "", "__name__", 200, "{\"status\":\"success\",\"data\":[\"other\",\"up\"]}");
    expect(f, api_handle_label_values, "", "nope", 200, "{\"status\":\"success\",\"data\":[]}");
    expect(f, api_handle_label_values, "limit=1", "__name__", 200,
           "{\"status\":\"success\",\"data\":[\"other\"],\"warnings\":[\"results truncated due to limit\"]}");
}

static void test_metadata(void **state)
{
    fixture_t *f = *state;
    expect(f, api_handle_metadata, "", NULL, 200,
           "{\"status\":\"success\",\"data\":{\"up\":[{\"type\":\"gauge\",\"help\":\"Is it up?\",\"unit\":\"\"}]}}");
    expect(f, api_handle_metadata, "metric=nope", NULL, 200, "{\"status\":\"success\",\"data\":{}}");
    expect(f, api_handle_metadata, "limit=x", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"limit must be a number\"}");
}

static void test_query(void **state)
{
    fixture_t *f = *state;
    expect(f, api_handle_query, "query=up&time=3", NULL, 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
           "{\"metric\":{\"__name__\":\"up\",\"job\":\"api\"},\"value\":[3,\"3\"]},"
           "{\"metric\":{\"__name__\":\"up\",\"job\":\"db\\u003c1\\u003e\"},\"value\":[3,\"1e+21\"]}]}}");
    expect(f, api_handle_query, "query=1.5&time=2.5", NULL, 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[2.500,\"1.5\"]}}");
    expect(f, api_handle_query_range, "query=up%7Bjob%3D%22db%3C1%3E%22%7D&start=1&end=3&step=1", NULL, 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
           "{\"metric\":{\"__name__\":\"up\",\"job\":\"db\\u003c1\\u003e\"},\"values\":"
           "[[1,\"10\"],[2,\"0.1\"],[3,\"1e+21\"]]}]}}");
    expect(f, api_handle_query, "time=3", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"query\\\": 1:1: parse "
           "error: no expression found in input\"}");
    expect(f, api_handle_query_range, "query=up&start=1&end=3&step=0", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"step\\\": zero or "
           "negative query resolution step widths are not accepted. Try a positive integer\"}");
    expect(f, api_handle_query_range, "query=up&start=3&end=1&step=1", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"end\\\": end timestamp "
           "must not be before start time\"}");
    expect(f, api_handle_query_range, "query=up&start=0&end=11001&step=1", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"exceeded maximum resolution of 11,000 points "
           "per timeseries. Try decreasing the query resolution (?step=XX)\"}");
    int st;
    char *body = call(f, api_handle_query, "query=sum(", NULL, &st);
    assert_int_equal(st, 400);
    assert_non_null(strstr(body, "\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"query\\\": "));
    free(body);
}

static void test_status(void **state)
{
    fixture_t *f = *state;
    expect(f, api_handle_ready, "", NULL, 200, "Metricstor is Ready.\n");
    atomic_store(&f->api.ready, false);
    expect(f, api_handle_ready, "", NULL, 503, "Service Unavailable\n");
    atomic_store(&f->api.ready, true);
    expect(f, api_handle_healthy, "", NULL, 200, "Metricstor is Healthy.\n");
    expect(f, api_handle_rules, "", NULL, 200, "{\"status\":\"success\",\"data\":{\"groups\":[]}}");
    expect(f, api_handle_alerts, "", NULL, 200, "{\"status\":\"success\",\"data\":{\"alerts\":[]}}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
