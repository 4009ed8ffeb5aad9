/* test_textfmt.c tests the text exposition parser (and the JSON-lines decoder the export round
 * trip relies on) without a db: valid bodies with escapes, specials, timestamps, metadata and
 * OpenMetrics extras; every kind of syntax error with its line number; truncation at every
 * offset; the metrics writers' output parsing back; and the self-monitoring exposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/selfmon.h"
#include "ingest/jsonl.h"
#include "ingest/textfmt.h"
#include "util/metrics.h"

static int parse(const char *s, textfmt_doc_t *d, size_t *line, char *err)
{
    return textfmt_parse(s, strlen(s), NULL, d, line, err, 256);
}

static void assert_label(const label_t *l, const char *n, const char *v)
{
    assert_int_equal(l->name_len, strlen(n));
    assert_memory_equal(l->name, n, l->name_len);
    assert_int_equal(l->value_len, strlen(v));
    assert_memory_equal(l->value, v, l->value_len);
}

static void test_valid(void **state)
{
    (void)state;
    const char *body = "# HELP http_total Requests \\\\ handled\\nso far.\n"
                       "# TYPE http_total counter\n"
                       "http_total{code=\"200\",path=\"/a \\\"b\\\"\\n\\\\\"} 1027 1395066363000\n"
                       "\n   \t\n"
                       "# a plain comment\n"
                       "http_total { code = \"400\" , } 3\n"
                       "up 1\r\n"
                       "x:y_z{a=\"\"}\t-1.5e3\t-5\n"
                       "nan_v NaN\n"
                       "inf_v +Inf 1\n"
                       "ninf_v -Inf 2\n";
    textfmt_doc_t d;
    size_t line = 99;
    char err[256];
    assert_int_equal(parse(body, &d, &line, err), 0);
    assert_int_equal(line, 0);
    assert_int_equal(d.n_samples, 7);
    const textfmt_sample_t *s = &d.samples[0];
    assert_int_equal(s->n_labels, 3);
    assert_label(&s->labels[0], "__name__", "http_total");
    assert_label(&s->labels[1], "code", "200");
    assert_label(&s->labels[2], "path", "/a \"b\"\n\\");
    assert_true(s->has_ts);
    assert_int_equal(s->ts_ms, 1395066363000LL);
    assert_true(s->v == 1027);
    assert_int_equal(s->line, 3);
    /* escape-free values point into the body (zero copy) */
    assert_true(s->labels[1].value > body && s->labels[1].value < body + strlen(body));
    s = &d.samples[1];
    assert_int_equal(s->n_labels, 2);
    assert_label(&s->labels[1], "code", "400");
    assert_false(s->has_ts);
    assert_int_equal(s->line, 7);
    assert_int_equal(d.samples[2].n_labels, 1);
    assert_true(d.samples[2].v == 1);
    s = &d.samples[3];
    assert_label(&s->labels[0], "__name__", "x:y_z");
    assert_label(&s->labels[1], "a", "");
    assert_true(s->v == -1500);
    assert_int_equal(s->ts_ms, -5);
    assert_true(isnan(d.samples[4].v));
    assert_true(isinf(d.samples[5].v) && d.samples[5].v > 0);
    assert_true(isinf(d.samples[6].v) && d.samples[6].v < 0);
    assert_int_equal(d.n_meta, 1);
    assert_string_equal(d.meta[0].metric, "http_total");
    assert_string_equal(d.meta[0].type, "counter");
    assert_string_equal(d.meta[0].help, "Requests \\ handled\nso far.");
    textfmt_doc_free(&d);
}

static void test_openmetrics(void **state)
{
    (void)state;
    const char *body = "# TYPE req counter\n# UNIT req seconds\n# HELP req Help.\n"
                       "req_total 5 1700000000.5 # {trace_id=\"abc\"} 1 1700000000\n"
                       "req_created 1700000000\n"
                       "# EOF\n";
    textfmt_options_t o = {true, 0};
    textfmt_doc_t d;
    char err[256];
    assert_int_equal(textfmt_parse(body, strlen(body), &o, &d, NULL, err, sizeof err), 0);
    assert_int_equal(d.n_samples, 2);
    assert_int_equal(d.samples[0].ts_ms, 1700000000500LL);
    assert_int_equal(d.n_meta, 1);
    assert_string_equal(d.meta[0].unit, "seconds");
    assert_string_equal(d.meta[0].type, "counter");
    textfmt_doc_free(&d);
    /* anything but blank lines after # EOF is an error */
    const char *after = "a 1\n# EOF\nb 2\n";
    size_t line;
    assert_int_equal(textfmt_parse(after, strlen(after), &o, &d, &line, err, sizeof err), -2);
    assert_int_equal(line, 3);
    assert_non_null(strstr(err, "after # EOF"));
}

static void test_errors_name_their_line(void **state)
{
    (void)state;
    static const struct { const char *body; size_t line; const char *msg; } cases[] = {
        {"a 1\nb{x=\"1\" 2\n", 2, "expected ',' or '}'"},
        {"a 1\n\n9bad 1\n", 3, "expected a metric name"},
        {"a{x=1} 1\n", 1, "expected '\"'"},
        {"a{x=\"\\q\"} 1\n", 1, "invalid escape"},
        {"a{x=\"unterminated} 1\n", 1, "unterminated"},
        {"a\n", 1, "expected a space and a value"},
        {"a{x=\"1\"}\n", 1, "expected a space and a value"},
        {"a{x=\"1\"}2\n", 1, "expected a space and a value"},
        {"a one\n", 1, "invalid value"},
        {"a 1 2.5\n", 1, "invalid timestamp"},
        {"a 1 2 3\n", 1, "unexpected text"},
        {"a 1e999\n", 1, "invalid value"},
        {"a nan(1)\n", 1, "invalid value"},
        {"# TYPE a bogus\n", 1, "invalid metric type"},
        {"# HELP\n", 1, "expected a metric name"},
        {"a{=\"1\"} 1\n", 1, "expected a label name"},
        {"a{b:c=\"1\"} 1\n", 1, "expected '='"},
        {"a 1 99999999999999999999\n", 1, "invalid timestamp"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        textfmt_doc_t d;
        size_t line = 0;
        char err[256];
        int rc = parse(cases[i].body, &d, &line, err);
        if (rc == 0 || line != cases[i].line || !strstr(err, cases[i].msg))
            fail_msg("case %zu %s: rc %d line %zu err %s", i, cases[i].body, rc, line, err);
        assert_int_equal(d.n_samples, 0); /* nothing returned on error */
        textfmt_doc_free(&d);
    }
}

static void test_max_samples(void **state)
{
    (void)state;
    textfmt_options_t o = {false, 2};
    textfmt_doc_t d;
    char err[256];
    size_t line;
    assert_int_equal(textfmt_parse("a 1\nb 2\n", 8, &o, &d, &line, err, sizeof err), 0);
    textfmt_doc_free(&d);
    assert_int_not_equal(textfmt_parse("a 1\nb 2\nc 3\n", 12, &o, &d, &line, err, sizeof err), 0);
    assert_int_equal(line, 3);
}

/* Every prefix of a valid body either parses or fails cleanly (ASan checks the bounds). */
static void test_truncation(void **state)
{
    (void)state;
    const char *body = "# HELP m h\\n\n# TYPE m gauge\nm{a=\"x\\\"y\",b=\"\"} 1.5 1700000000000\nn +Inf\n";
    size_t n = strlen(body);
    for (size_t i = 0; i <= n; i++) {
        char *copy = malloc(i ? i : 1); /* exact size, so an overread is caught */
        memcpy(copy, body, i);
        textfmt_doc_t d;
        char err[256];
        textfmt_parse(copy, i, NULL, &d, NULL, err, sizeof err);
        textfmt_doc_free(&d);
        free(copy);
    }
}

static void test_writers_parse_back(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    metrics_histogram_t h;
    static const double bounds[] = {0.1, 1, 10};
    metrics_histogram_init(&h, bounds, 3);
    metrics_histogram_observe(&h, 0.05);
    metrics_histogram_observe(&h, 5);
    metrics_histogram_observe(&h, 50);
    metrics_write_header(&b, "lat_seconds", "histogram", "Latency\\with\nnewline.");
    metrics_write_histogram(&b, "lat_seconds", "h=\"q\"", &h);
    buf_t lv = BUF_INIT;
    buf_puts(&lv, "v=\"");
    metrics_escape_label_value(&lv, "a\"b\\c\nd", 7);
    buf_putc(&lv, '"');
    metrics_write_double(&b, "g", buf_cstr(&lv), 0.1);
    metrics_write_double(&b, "g2", NULL, -INFINITY);
    metrics_write_u64(&b, "c", NULL, UINT64_MAX);
    textfmt_doc_t d;
    char err[256];
    if (textfmt_parse((const char *)b.data, b.len, NULL, &d, NULL, err, sizeof err) != 0)
        fail_msg("%s in:\n%s", err, buf_cstr(&b));
    assert_int_equal(d.n_samples, 4 + 2 + 3);
    assert_true(d.samples[0].v == 1); /* le=0.1 */
    assert_true(d.samples[1].v == 1); /* le=1 */
    assert_true(d.samples[2].v == 2); /* le=10 */
    assert_true(d.samples[3].v == 3); /* le=+Inf */
    assert_label(&d.samples[3].labels[2], "le", "+Inf");
    assert_true(d.samples[4].v == 55.05); /* _sum */
    assert_true(d.samples[5].v == 3);     /* _count */
    assert_label(&d.samples[6].labels[1], "v", "a\"b\\c\nd");
    assert_true(d.samples[6].v == 0.1);
    assert_true(isinf(d.samples[7].v));
    assert_true(d.samples[8].v == 18446744073709551615.0);
    assert_string_equal(d.meta[0].help, "Latency\\with\nnewline.");
    textfmt_doc_free(&d);
    buf_free(&b);
    buf_free(&lv);
}

static void test_format_double_roundtrip(void **state)
{
    (void)state;
    const double vs[] = {0, -0.0, 1, 0.1, 1.0 / 3, 1e300, 5e-324, -2.5e-7, 123456789012345678.0, 1e15, 0.3};
    for (size_t i = 0; i < sizeof vs / sizeof *vs; i++) {
        char tmp[32];
        metrics_format_double(vs[i], tmp);
        assert_true(strtod(tmp, NULL) == vs[i]);
    }
}

static void test_selfmon_exposition(void **state)
{
    (void)state;
    selfmon_t *m;
    selfmon_new(&m);
    selfmon_request(m, "/api/v1/query", 200, 0.003);
    selfmon_request(m, "/api/v1/query", 200, 0.2);
    selfmon_request(m, "/api/v1/query", 400, 0.001);
    selfmon_request(m, "/api/v1/query", 418, 0.001);
    selfmon_rejected(m, SELFMON_REJECT_TOO_OLD, 7);
    buf_t b = BUF_INIT;
    selfmon_render(m, NULL, &b);
    const char *t = buf_cstr(&b);
    assert_non_null(strstr(t, "metricstor_http_requests_total{handler=\"/api/v1/query\",code=\"200\"} 2\n"));
    assert_non_null(strstr(t, "metricstor_http_requests_total{handler=\"/api/v1/query\",code=\"400\"} 1\n"));
    assert_non_null(strstr(t, "metricstor_http_requests_total{handler=\"/api/v1/query\",code=\"other\"} 1\n"));
    assert_non_null(strstr(t, "metricstor_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",le=\"0.005\"} 3\n"));
    assert_non_null(strstr(t, "metricstor_http_request_duration_seconds_count{handler=\"/api/v1/query\"} 4\n"));
    assert_non_null(strstr(t, "metricstor_samples_rejected_total{reason=\"too_old\"} 7\n"));
    assert_non_null(strstr(t, "metricstor_query_duration_seconds_count{kind=\"instant\"} 4\n"));
    assert_non_null(strstr(t, "metricstor_query_duration_seconds_bucket{kind=\"range\",le=\"+Inf\"} 0\n"));
    assert_non_null(strstr(t, "# TYPE process_resident_memory_bytes gauge\n"));
    textfmt_doc_t d;
    char err[256];
    assert_int_equal(textfmt_parse(t, b.len, NULL, &d, NULL, err, sizeof err), 0);
    textfmt_doc_free(&d);
    buf_free(&b);
    selfmon_free(m);
}

static void test_jsonl(void **state)
{
    (void)state;
    const char *body = "{\"metric\":{\"__name__\":\"a\",\"x\":\"\\u00e9\\\"\\n\\ud83d\\ude00\"},"
                       "\"values\":[1,2.5,\"NaN\",\"+Inf\",\"-Inf\",\"stale\",-1e-300],"
                       "\"timestamps\":[1,2,3,4,5,6,-7]}\n"
                       "\n"
                       " { \"timestamps\" : [ ] , \"values\" : [ ] , \"metric\" : { } } \n";
    jsonl_doc_t d;
    char err[256];
    size_t line;
    assert_int_equal(jsonl_parse(body, strlen(body), 0, &d, &line, err, sizeof err), 0);
    assert_int_equal(d.n_series, 2);
    const jsonl_series_t *s = &d.series[0];
    assert_int_equal(s->n_labels, 2);
    assert_label(&s->labels[1], "x", "\xc3\xa9\"\n\xf0\x9f\x98\x80");
    assert_int_equal(s->n_samples, 7);
    assert_true(s->samples[1].v == 2.5 && s->samples[1].t == 2);
    assert_true(isnan(s->samples[2].v));
    assert_true(isinf(s->samples[3].v) && s->samples[3].v > 0);
    assert_true(isinf(s->samples[4].v) && s->samples[4].v < 0);
    uint64_t bits;
    memcpy(&bits, &s->samples[5].v, sizeof bits);
    assert_true(bits == JSONL_STALE_NAN_BITS);
    memcpy(&bits, &s->samples[2].v, sizeof bits);
    assert_true(bits != JSONL_STALE_NAN_BITS);
    assert_true(s->samples[6].v == -1e-300 && s->samples[6].t == -7);
    assert_int_equal(d.series[1].n_samples, 0);
    assert_int_equal(d.series[1].line, 3);
    jsonl_doc_free(&d);

    static const struct { const char *body; size_t line; const char *msg; } bad[] = {
        {"{\"metric\":{},\"values\":[1],\"timestamps\":[1,2]}", 1, "1 values but 2 timestamps"},
        {"{\"metric\":{},\"values\":[1]}", 1, "want \"metric\""},
        {"\n{\"metric\":{\"a\":1},\"values\":[],\"timestamps\":[]}", 2, "expected a string"},
        {"{\"metric\":{},\"values\":[\"x\"],\"timestamps\":[1]}", 1, "invalid value"},
        {"{\"metric\":{},\"values\":[1],\"timestamps\":[1.5]}", 1, "invalid timestamp"},
        {"{\"metric\":{},\"values\":[1],\"timestamps\":[1]} x", 1, "text after"},
        {"{\"metric\":{},\"bogus\":1}", 1, "unknown key"},
        {"{\"metric\":{\"a\":\"\\x\"},\"values\":[],\"timestamps\":[]}", 1, "invalid escape"},
        {"{\"metric\":{\"a\":\"\xff\"},\"values\":[],\"timestamps\":[]}", 1, "UTF-8"},
        {"{\"metric\":{},\"values\":[1,2,3],\"timestamps\":[1,2,3]}", 1, "more than 2 samples"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = jsonl_parse(bad[i].body, strlen(bad[i].body), 2, &d, &line, err, sizeof err);
        if (rc == 0 || line != bad[i].line || !strstr(err, bad[i].msg))
            fail_msg("jsonl case %zu: rc %d line %zu err %s", i, rc, line, err);
        assert_int_equal(d.n_series, 0);
        jsonl_doc_free(&d);
    }
    /* every prefix fails or parses cleanly */
    size_t n = strlen(body);
    for (size_t i = 0; i <= n; i++) {
        char *copy = malloc(i ? i : 1);
        memcpy(copy, body, i);
        jsonl_parse(copy, i, 0, &d, NULL, err, sizeof err);
        jsonl_doc_free(&d);
        free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_openmetrics),
        cmocka_unit_test(test_errors_name_their_line),
        cmocka_unit_test(test_max_samples),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_writers_parse_back),
        cmocka_unit_test(test_format_double_roundtrip),
        cmocka_unit_test(test_selfmon_exposition),
        cmocka_unit_test(test_jsonl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
