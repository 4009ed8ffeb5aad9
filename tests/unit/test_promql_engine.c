/* test_promql_engine.c tests the engine around evaluation: result types and ownership, range
 * query parameter checks, the max_samples limit, the timeout, the concurrency gate under many
 * threads (refusing, never queueing), cancellation through promql_exec_t, and error types. Data goes into a real db through the appender. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "promql/promql.h"
#include "storage/storage.h"
#include "util/status.h"

typedef struct fx {
    char dir[64];
    db_t *db;
} fx_t;

/* Loads n_series series `m{i="k"}` with n_samples samples every 15s, value k + j. */
static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/promql_engine_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    db_options_t o;
    db_options_default(&o);
    o.data_dir = f->dir;
    o.retention_ms = 0;
    o.wal_fsync = WAL_FSYNC_NEVER;
    char err[256];
    if (db_open(&o, &f->db, err, sizeof err) != 0) return -1;
    appender_t *a;
    if (db_appender(f->db, &a) != 0) return -1;
    enum { NS = 200, NP = 400 };
    /* labels and samples are borrowed by the appender until commit */
    static sample_t smp[NS][NP];
    static char vals[NS][16];
    static label_t l[NS][2];
    for (int k = 0; k < NS; k++) {
        snprintf(vals[k], sizeof vals[k], "%03d", k);
        l[k][0] = (label_t){"__name__", "m", 8, 1};
        l[k][1] = (label_t){"i", vals[k], 1, 3};
        for (int j = 0; j < NP; j++) smp[k][j] = (sample_t){(int64_t)j * 15000, k + j};
        if (appender_add(a, l[k], 2, labels_hash(l[k], 2), smp[k], NP) != 0) return -1;
    }
    append_result_t r;
    if (appender_commit(a, &r) != 0 || r.samples_accepted != NS * NP) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    db_close(f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static promql_engine_t *engine(fx_t *f, uint64_t max_samples, int max_conc)
{
    promql_options_t o;
    promql_options_default(&o);
    if (max_samples) o.max_samples = max_samples;
    if (max_conc) o.max_concurrent = max_conc;
    promql_engine_t *e;
    assert_int_equal(promql_engine_new(f->db, &o, &e), 0);
    return e;
}

static void test_result_types(void **state)
{
    fx_t *f = *state;
    promql_engine_t *e = engine(f, 0, 0);
    promql_result_t r;
    promql_error_t err;
    assert_int_equal(promql_query_instant(e, "1 + 1", 60000, 0, &r, &err), 0);
    assert_int_equal(r.type, PROMQL_SCALAR);
    assert_true(r.scalar.v == 2 && r.scalar.t == 60000);
    promql_result_free(&r);

    assert_int_equal(promql_query_instant(e, "\"hi\"", 60000, 0, &r, &err), 0);
    assert_int_equal(r.type, PROMQL_STRING);
    assert_string_equal(r.string, "hi");
    promql_result_free(&r);

    assert_int_equal(promql_query_instant(e, "m{i=~\"00[0-2]\"}", 60000, 0, &r, &err), 0);
    assert_int_equal(r.type, PROMQL_VECTOR);
    assert_int_equal(r.n_series, 3);
    assert_int_equal(r.series[2].points[0].t, 60000);
    assert_true(r.series[2].points[0].v == 2 + 4);
    assert_int_equal(r.series[0].metric.n, 2);
    promql_result_free(&r);

    assert_int_equal(promql_query_range(e, "sum(m)", 0, 600000, 60000, 0, &r, &err), 0);
    assert_int_equal(r.type, PROMQL_MATRIX);
    assert_int_equal(r.n_series, 1);
    assert_int_equal(r.series[0].n_points, 11);
    assert_int_equal(r.series[0].metric.n, 0);
    /* at t=60s the latest sample is j=4: sum over k of k+4 */
    assert_true(r.series[0].points[1].v == 199.0 * 200 / 2 + 4 * 200);
    promql_result_free(&r);

    /* a range query's matrix is sorted by labels */
    assert_int_equal(promql_query_range(e, "sort_desc(m{i=~\"00.\"})", 0, 60000, 60000, 0, &r, &err), 0);
    assert_int_equal(r.n_series, 10);
    for (size_t i = 1; i < r.n_series; i++)
        assert_true(labels_cmp(r.series[i - 1].metric.v, r.series[i - 1].metric.n, r.series[i].metric.v,
                               r.series[i].metric.n) < 0);
    promql_result_free(&r);
    promql_engine_free(e);
}

static void test_range_params(void **state)
{
    fx_t *f = *state;
    promql_engine_t *e = engine(f, 0, 0);
    promql_result_t r;
    promql_error_t err;
    assert_int_equal(promql_query_range(e, "m", 0, 11001, 1, 0, &r, &err), MS_EINVAL);
    assert_int_equal(err.type, PROMQL_ERR_BAD_DATA);
    assert_string_equal(err.message,
                        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)");
    assert_int_equal(promql_query_range(e, "m", 0, 11000, 1, 0, &r, &err), 0);
    promql_result_free(&r);
    assert_int_equal(promql_query_range(e, "m", 10, 0, 1, 0, &r, &err), MS_EINVAL);
    assert_int_equal(promql_query_range(e, "m", 0, 10, 0, 0, &r, &err), MS_EINVAL);
    assert_int_equal(promql_query_range(e, "m[5m]", 0, 10, 1, 0, &r, &err), MS_EINVAL);
    assert_int_equal(err.type, PROMQL_ERR_BAD_DATA);
    assert_int_equal(promql_query_instant(e, "sum(", 0, 0, &r, &err), MS_EINVAL);
    assert_int_equal(err.type, PROMQL_ERR_BAD_DATA);
    assert_string_equal(promql_error_type_str(err.type), "bad_data");
    assert_string_equal(promql_error_type_str(PROMQL_ERR_EXECUTION), "execution");
    assert_string_equal(promql_error_type_str(PROMQL_ERR_TIMEOUT), "timeout");
    promql_engine_free(e);
}

static void test_max_samples(void **state)
{
    fx_t *f = *state;
    promql_engine_t *e = engine(f, 1000, 0);
    promql_result_t r;
    promql_error_t err;
    /* 200 series x 21 samples in (t-5m, t] = 4200 > 1000 */
    assert_int_not_equal(promql_query_instant(e, "count_over_time(m[5m])", 6000000, 0, &r, &err), 0);
    assert_int_equal(err.type, PROMQL_ERR_EXECUTION);
    assert_string_equal(err.message, "query processing would load too many samples into memory in query execution");
    assert_int_equal(r.n_series, 0);
    /* a range function over a range query reads its series streamed: the same budget and error */
    assert_int_equal(promql_query_range(e, "sum(rate(m[5m]))", 300000, 6000000, 60000, 0, &r, &err), MS_ELIMIT);
    assert_int_equal(err.type, PROMQL_ERR_EXECUTION);
    assert_string_equal(err.message, "query processing would load too many samples into memory in query execution");
    assert_int_equal(r.n_series, 0);
    /* a small query still works with the same engine */
    assert_int_equal(promql_query_instant(e, "m{i=\"001\"}", 60000, 0, &r, &err), 0);
    assert_int_equal(r.n_series, 1);
    promql_result_free(&r);
    promql_engine_free(e);
}

static void test_timeout(void **state)
{
    fx_t *f = *state;
    promql_engine_t *e = engine(f, 0, 0);
    promql_result_t r;
    promql_error_t err;
    int rc = promql_query_range(e, "sum by (i) (max_over_time(m[1h:1s]))", 0, 6000000, 600, 1, &r, &err);
    assert_int_equal(rc, MS_ETIMEOUT);
    assert_int_equal(err.type, PROMQL_ERR_TIMEOUT);
    assert_string_equal(err.message, "query timed out in expression evaluation");
    promql_engine_free(e);
}

typedef struct worker {
    promql_engine_t *e;
    int ok, refused;
} worker_t;

static void *run_worker(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < 20; i++) {
        promql_result_t r;
        promql_error_t err;
        int rc = promql_query_range(w->e, "sum(rate(m[1m]))", 0, 600000, 30000, 0, &r, &err);
        if (rc == 0 && r.n_series == 1) w->ok++;
        else if (rc == MS_EBUSY && err.type == PROMQL_ERR_UNAVAILABLE) w->refused++;
        promql_result_free(&r);
    }
    return NULL;
}

/* Many threads against a gate of 2: every query either runs or is refused at once as
 * unavailable (never queued, never anything else). */
static void test_concurrency(void **state)
{
    fx_t *f = *state;
    promql_engine_t *e = engine(f, 0, 2);
    pthread_t th[8];
    worker_t w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker_t){e, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, run_worker, &w[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok + w[i].refused, 20);
        ok += w[i].ok;
    }
    assert_true(ok >= 2);
    promql_engine_free(e);
}

/* A query whose cancel callback blocks until released: it holds the engine's only slot. */
typedef struct holder {
    promql_engine_t *e;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int polled;      /* the callback has been called (the query is inside the gate) */
    int release;     /* 1: let the callback return true (cancel) */
    int rc;
    promql_error_t err;
} holder_t;

static bool hold_cancel(void *arg)
{
    holder_t *h = arg;
    pthread_mutex_lock(&h->mu);
    h->polled = 1;
    pthread_cond_broadcast(&h->cv);
    while (!h->release) pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    return true;
}

static void *run_holder(void *arg)
{
    holder_t *h = arg;
    promql_exec_t x = {0, NULL, 0, hold_cancel, h};
    promql_result_t r;
    h->rc = promql_query_range_exec(h->e, "sum(rate(m[1m]))", 0, 6000000, 15000, &x, &r, &h->err);
    promql_result_free(&r);
    return NULL;
}

/* With the only slot taken, a query is refused at once (not queued) as unavailable; a query
 * whose cancel callback says so stops with "canceled" and frees the slot for the next one. */
static void test_gate_refuses_and_cancel_frees(void **state)
{
    fx_t *f = *state;
    promql_engine_t *e = engine(f, 0, 1);
    holder_t h = {.e = e};
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_holder, &h), 0);
    pthread_mutex_lock(&h.mu);
    while (!h.polled) pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);

    promql_result_t r;
    promql_error_t err;
    int rc = promql_query_instant(e, "sum(m)", 60000, 0, &r, &err);
    assert_int_equal(rc, MS_EBUSY);
    assert_int_equal(err.type, PROMQL_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.message, "too many concurrent queries (limit 1"));
    promql_result_free(&r);

    pthread_mutex_lock(&h.mu);
    h.release = 1;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(th, NULL);
    assert_int_equal(h.rc, MS_ECANCELED);
    assert_int_equal(h.err.type, PROMQL_ERR_CANCELED);
    assert_string_equal(h.err.message, "query was canceled in expression evaluation");

    assert_int_equal(promql_query_instant(e, "sum(m)", 60000, 0, &r, &err), 0); /* the slot is free again */
    assert_int_equal(r.n_series, 1);
    promql_result_free(&r);
    pthread_mutex_destroy(&h.mu);
    pthread_cond_destroy(&h.cv);
    promql_engine_free(e);
}

/* A callback that turns true after a few polls: a long range query stops soon after. */
static bool cancel_after_polls(void *arg)
{
    int *n = arg;
    return __atomic_add_fetch(n, 1, __ATOMIC_SEQ_CST) > 2;
}

static void test_cancel_mid_query(void **state)
{
    fx_t *f = *state;
    promql_engine_t *e = engine(f, 0, 0);
    int polls = 0;
    promql_exec_t x = {0, NULL, 0, cancel_after_polls, &polls};
    promql_result_t r;
    promql_error_t err;
    /* a subquery at 100 ms resolution: 78,000 inner steps of a sum over 200 series (far longer
     * than the 10 ms between polls), each step a check */
    int rc = promql_query_range_exec(e, "max_over_time(sum(m)[30m:100ms])", 0, 6000000, 60000, &x, &r, &err);
    assert_int_equal(rc, MS_ECANCELED);
    assert_int_equal(err.type, PROMQL_ERR_CANCELED);
    assert_true(polls >= 3);
    promql_result_free(&r);
    promql_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_types), cmocka_unit_test(test_range_params), cmocka_unit_test(test_max_samples),
        cmocka_unit_test(test_timeout),      cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_gate_refuses_and_cancel_frees), cmocka_unit_test(test_cancel_mid_query),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
