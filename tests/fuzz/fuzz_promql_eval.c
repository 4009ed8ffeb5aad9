/* fuzz_promql_eval.c is the libFuzzer target for PromQL evaluation: each input is a query, parsed
 * and evaluated (instant and range) against a small fixed db of counters, gauges, histogram buckets
 * and odd values (NaN, Inf, -0, stale gaps), with a short timeout and a samples budget. Nothing may
 * crash, hang past the timeout, leak, or fail without a message. */
#include "model/labels.h"
#include "promql/promql.h"
#include "storage/storage.h"
#include "util/log.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1700000000000LL
static db_t *db;
static promql_engine_t *eng;
static char root[64];

/* One series per commit: appender_add borrows the label array until the commit. */
static void add(const char *name, const char *k, const char *v, const char *k2, const char *v2,
                int kind)
{
    label_t ls[3] = {{"__name__", name, 8, (uint32_t)strlen(name)},
                     {k, v, (uint32_t)strlen(k), (uint32_t)strlen(v)},
                     {NULL, NULL, 0, 0}};
    size_t n = 2;
    if (k2) ls[n++] = (label_t){k2, v2, (uint32_t)strlen(k2), (uint32_t)strlen(v2)};
    labels_sort(ls, n);
    sample_t s[60];
    size_t m = 0;
    for (int i = 0; i < 60; i++) {
        if (kind == 2 && i % 7 == 3) continue; /* gaps */
        double v0 = kind == 0 ? (double)(i * 10 - (i > 30 ? 250 : 0)) /* counter with a reset */
                  : kind == 1 ? sin(i) * 100
                  : kind == 3 ? (i % 5 == 0 ? NAN : i % 5 == 1 ? INFINITY : i % 5 == 2 ? -0.0 : -1e308)
                              : (double)i;
        s[m++] = (sample_t){T0 + i * 15000LL, v0};
    }
    appender_t *a;
    append_result_t r;
    if (db_appender(db, &a) != 0 || appender_add(a, ls, n, labels_hash(ls, n), s, m) != 0 ||
        appender_commit(a, &r) != 0)
        abort();
}

static void setup(void)
{
    log_set_level(LOG_ERROR);
    snprintf(root, sizeof root, "/tmp/ms-fuzz-eval-XXXXXX");
    if (!mkdtemp(root)) abort();
    db_options_t o;
    db_options_default(&o);
    o.data_dir = root;
    o.wal_fsync = WAL_FSYNC_NEVER;
    o.retention_ms = 0;
    char err[256];
    if (db_open(&o, &db, err, sizeof err) != 0) abort();
    add("http_requests_total", "job", "api", "instance", "a", 0);
    add("http_requests_total", "job", "api", "instance", "b", 0);
    add("http_requests_total", "job", "web", "instance", "a", 2);
    add("temp", "room", "x", NULL, NULL, 1);
    add("temp", "room", "y", NULL, NULL, 3);
    static const char *les[] = {"0.1", "0.5", "1", "+Inf"};
    for (int i = 0; i < 4; i++) add("lat_bucket", "le", les[i], "job", "api", 0);
    add("up", "job", "api", NULL, NULL, 4);
    promql_options_t po;
    promql_options_default(&po);
    po.max_samples = 200000;
    po.default_timeout_ms = 2000;
    if (promql_engine_new(db, &po, &eng) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!db) setup();
    if (size > 4096) return 0;
    char *q = malloc(size + 1);
    memcpy(q, data, size);
    q[size] = 0;
    if (strlen(q) != size) { /* the api never passes embedded NULs */
        free(q);
        return 0;
    }
    promql_result_t res;
    promql_error_t err;
    memset(&res, 0, sizeof res);
    memset(&err, 0, sizeof err);
    if (promql_query_instant(eng, q, T0 + 600000, 2000, &res, &err) != 0 && !err.message[0]) abort();
    promql_result_free(&res);
    memset(&res, 0, sizeof res);
    memset(&err, 0, sizeof err);
    if (promql_query_range(eng, q, T0, T0 + 900000, 60000, 2000, &res, &err) == 0) {
        if (res.type != PROMQL_MATRIX) abort();
        for (size_t i = 0; i < res.n_series; i++)
            for (size_t j = 1; j < res.series[i].n_points; j++)
                if (res.series[i].points[j].t <= res.series[i].points[j - 1].t) abort();
    } else if (!err.message[0]) {
        abort();
    }
    promql_result_free(&res);
    free(q);
    return 0;
}
