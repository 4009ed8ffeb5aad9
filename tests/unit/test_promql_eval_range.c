/* test_promql_eval_range.c tests that range queries give bit-identical answers to instant queries
 * at every step: range queries take the evaluator's per-query shortcuts (series-major, threaded
 * range functions in eval_range.c; per-series group and output caches keyed by series identity),
 * instant queries take none of them. The data mixes counters with resets, gauges, NaN, stale
 * markers, gaps and two metric names sharing label sets, over enough series and steps that the
 * multi-threaded path runs; and that a range too long for one block (computed from loaded
 * samples) agrees with streamed pieces of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "promql/promql.h"
#include "storage/storage.h"
#include "util/status.h"

enum { NS = 320, NP = 400, STEP_MS = 15000 };

typedef struct fx {
    char dir[64];
    db_t *db;
    promql_engine_t *e;
} fx_t;

static double stale_nan(void)
{
    uint64_t b = 0x7ff0000000000002ULL;
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* Series k: name "c" (counter with resets) for even k, "g" (gauge) for odd k; labels
 * {job, inst}; every 16th series also exists under name "c2" with the same other labels. */
static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/promql_evrange_XXXXXX");
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
    static sample_t smp[NS + NS / 16][NP];
    static char inst[NS][16];
    static label_t l[NS + NS / 16][3];
    static const char *jobs[] = {"api", "db", "web"};
    unsigned seed = 12345;
    size_t nser = 0;
    for (int k = 0; k < NS; k++) {
        snprintf(inst[k], sizeof inst[k], "h%03d", k / 2);
        const char *name = k % 2 == 0 ? "c" : "g";
        l[nser][0] = (label_t){"__name__", name, 8, 1};
        l[nser][1] = (label_t){"inst", inst[k], 4, (uint32_t)strlen(inst[k])};
        l[nser][2] = (label_t){"job", jobs[k % 3], 3, (uint32_t)strlen(jobs[k % 3])};
        double v = 0;
        size_t n = 0;
        for (int j = 0; j < NP; j++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = (seed >> 8) % 1000;
            if (k % 7 == 3 && j > 100 && j < 130) continue;                 /* a gap longer than 5m */
            int64_t t = (int64_t)j * STEP_MS + (int64_t)(k % 5) * 1000 + (r % 3); /* unaligned, jittered */
            if (k % 2 == 0) {
                v += (double)(r % 50) / 4.0;
                if (r < 8) v = (double)(r % 3); /* counter reset */
            } else {
                v = (double)((int)r - 500) / 100.0;
            }
            double x = v;
            if (k % 11 == 5 && j % 37 == 0) x = NAN;
            if (k % 13 == 6 && j % 90 == 45) x = stale_nan();
            smp[nser][n++] = (sample_t){t, x};
        }
        if (appender_add(a, l[nser], 3, labels_hash(l[nser], 3), smp[nser], n) != 0) return -1;
        nser++;
        if (k % 16 == 0) { /* the same label set under another name, shifted values */
            memcpy(l[nser], l[nser - 1], sizeof l[nser]);
            l[nser][0] = (label_t){"__name__", "c2", 8, 2};
            for (size_t j = 0; j < n; j++) smp[nser][j] = (sample_t){smp[nser - 1][j].t, smp[nser - 1][j].v + 1};
            if (appender_add(a, l[nser], 3, labels_hash(l[nser], 3), smp[nser], n) != 0) return -1;
            nser++;
        }
    }
    append_result_t r;
    if (appender_commit(a, &r) != 0) return -1;
    if (promql_engine_new(f->db, NULL, &f->e) != 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    promql_engine_free(f->e);
    db_close(f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

/* Exact, except that over a subquery a sum may add series in another order (the subquery's
 * output series come in order of first appearance, which depends on the span evaluated; as in
 * Prometheus, which collects them in a map): then the last bits may differ. */
static bool loose;

static bool same_value(double a, double b)
{
    if (isnan(a) && isnan(b)) return true;
    if (loose && isfinite(a) && isfinite(b)) return fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b));
    return memcmp(&a, &b, sizeof a) == 0;
}

static bool same_labels(labels_t a, labels_t b)
{
    return labels_equal(a.v, a.n, b.v, b.n);
}

/* Runs q as a range query over [start, end] / step and as an instant query at every step;
 * both must agree exactly (or both fail with the same error type). */
static void check_query(fx_t *f, const char *q, int64_t start, int64_t end, int64_t step)
{
    loose = strchr(q, ':') != NULL;
    promql_result_t rr;
    promql_error_t re;
    int rrc = promql_query_range(f->e, q, start, end, step, 0, &rr, &re);
    size_t range_points = 0, instant_points = 0;
    bool any_instant_err = false;
    promql_error_type_t inst_err = PROMQL_ERR_NONE;
    for (int64_t t = start; t <= end; t += step) {
        promql_result_t ir;
        promql_error_t ie;
        int irc = promql_query_instant(f->e, q, t, 0, &ir, &ie);
        if (irc != 0) {
            if (!any_instant_err) inst_err = ie.type;
            any_instant_err = true;
            continue;
        }
        if (rrc != 0) {
            promql_result_free(&ir);
            continue;
        }
        if (ir.type == PROMQL_SCALAR) {
            instant_points++;
            bool found = false;
            for (size_t i = 0; i < rr.n_series; i++)
                for (size_t j = 0; j < rr.series[i].n_points; j++)
                    if (rr.series[i].points[j].t == t) {
                        found = true;
                        if (!same_value(rr.series[i].points[j].v, ir.scalar.v))
                            fail_msg("%s at %lld: range %.17g, instant %.17g", q, (long long)t, rr.series[i].points[j].v,
                                     ir.scalar.v);
                    }
            if (!found) fail_msg("%s at %lld: scalar missing from the range result", q, (long long)t);
        }
        for (size_t k = 0; ir.type == PROMQL_VECTOR && k < ir.n_series; k++) {
            instant_points++;
            const promql_series_t *is = &ir.series[k];
            bool found = false;
            for (size_t i = 0; i < rr.n_series && !found; i++) {
                if (!same_labels(rr.series[i].metric, is->metric)) continue;
                for (size_t j = 0; j < rr.series[i].n_points; j++) {
                    if (rr.series[i].points[j].t != t) continue;
                    found = true;
                    if (!same_value(rr.series[i].points[j].v, is->points[0].v))
                        fail_msg("%s at %lld: range %.17g, instant %.17g", q, (long long)t, rr.series[i].points[j].v,
                                 is->points[0].v);
                }
            }
            if (!found) fail_msg("%s at %lld: instant element %zu missing from the range result", q, (long long)t, k);
        }
        promql_result_free(&ir);
    }
    if (rrc != 0 || any_instant_err) {
        if (rrc == 0 || !any_instant_err)
            fail_msg("%s: range rc %d (%s), instant error %d", q, rrc, rrc ? re.message : "", (int)any_instant_err);
        assert_int_equal(re.type, inst_err);
        if (rrc == 0) promql_result_free(&rr);
        return;
    }
    for (size_t i = 0; i < rr.n_series; i++) range_points += rr.series[i].n_points;
    if (range_points != instant_points)
        fail_msg("%s: range has %zu points, instants %zu", q, range_points, instant_points);
    promql_result_free(&rr);
}

static const char *const queries[] = {
    "rate(c[5m])",
    "increase(c[2m])",
    "delta(g[5m])",
    "irate(c[1m])",
    "rate(g[5m])",         /* negative first values: the reset scan starts against 0 */
    "increase(g[3m])",
    "delta(c[10m])",
    "increase(c[20m])",    /* windows holding several counter resets */
    "idelta(g[1m])",
    "deriv(g[5m])",
    "resets(c[10m])",
    "changes(g[3m])",
    "predict_linear(g[5m], 600)",
    "holt_winters(g[5m], 0.3, 0.6)",
    "avg_over_time(g[5m])",
    "min_over_time(g[5m])",
    "max_over_time(g[5m])",
    "sum_over_time(g[5m])",
    "count_over_time({__name__=~\"c|g\"}[1m])",
    "last_over_time(g[1m])",
    "present_over_time(c[30s])",
    "stddev_over_time(g[10m])",
    "stdvar_over_time(g[10m])",
    "quantile_over_time(0.9, g[5m])",
    "rate(c[5m] offset 3m)",
    "rate(c[5m] @ 3000)",
    "sum by (job) (rate(c[5m]))",
    "sum without (inst) (rate(c[5m]))",
    "avg by (job) (g)",
    "count(g)",
    "max by (job) (g) + on (job) group_left min by (job) (g)",
    "topk(3, rate(c[5m]))",
    "bottomk by (job) (2, g)",
    "quantile by (job) (0.5, -g)",
    "stddev by (job) (abs(g))",
    "count_values(\"v\", round(g))",
    "sum by (job) (rate(c[5m]) or g * 2)",
    "sum(rate(c[5m]) > 1)",
    "sum by (job) (label_replace(rate(c[5m]), \"job\", \"x$1\", \"inst\", \"h0(.*)\"))",
    "sum by (job) (rate(c[5m:30s]))",
    "max_over_time(sum by (job) (rate(c[5m]))[10m:1m])",
    "rate({__name__=~\"c|c2\"}[5m])",
    "last_over_time({__name__=~\"c|c2\"}[5m])",
    "sum by (job) (rate({__name__=~\"c|c2\"}[5m]))",
    "c2 or rate(c[5m])",
    "scalar(sum(rate(c[5m])))",
    "sum by (inst) (rate(c[5m]))",
    "max by (job) (sum by (inst, job) (rate(c[5m])))",
    "sum without (job) (g) + 1",
    "topk(2, sum by (inst) (g))",
    "avg_over_time(sum by (inst) (g)[5m:1m])",
    "sum by (inst) (g) or sum by (job) (g)",
};

static void test_range_equals_instants(void **state)
{
    fx_t *f = *state;
    /* 120 steps over 320 series: the threaded range-function path runs */
    for (size_t i = 0; i < sizeof queries / sizeof *queries; i++)
        check_query(f, queries[i], 600000, 600000 + 119 * 30000, 30000);
}

static void test_range_unaligned_and_short(void **state)
{
    fx_t *f = *state;
    for (size_t i = 0; i < sizeof queries / sizeof *queries; i++) {
        check_query(f, queries[i], 1234567, 1234567 + 7 * 45000, 45000); /* few steps: one thread */
        check_query(f, queries[i], 4000000, 4000000 + 30 * 7000, 7000);  /* step below the interval */
    }
}

/* The value of series `metric` at t in a range result, if any. */
static bool find_point(const promql_result_t *r, labels_t metric, int64_t t, double *v)
{
    for (size_t i = 0; i < r->n_series; i++) {
        if (!same_labels(r->series[i].metric, metric)) continue;
        const promql_series_t *s = &r->series[i];
        size_t lo = 0, hi = s->n_points; /* points are in time order */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (s->points[mid].t < t) lo = mid + 1;
            else hi = mid;
        }
        if (lo < s->n_points && s->points[lo].t == t) {
            *v = s->points[lo].v;
            return true;
        }
        return false;
    }
    return false;
}

/* A range query too long to hold every step of every series at once is computed block by block
 * from loaded samples; shorter queries over parts of it are streamed (each series read once,
 * no samples kept). Both must give the same points, bit for bit. */
static void test_long_range_matches_pieces(void **state)
{
    fx_t *f = *state;
    static const char *const long_queries[] = {
        "rate({__name__=~\"c|g\"}[5m])",
        "sum by (job) (increase({__name__=~\"c|g\"}[3m]))",
        "max_over_time({__name__=~\"c|g\"}[2m])",
    };
    const int64_t start = 1000, step = 1000, nsteps = 6800; /* 6800 steps x 320 series > 2^21 cells */
    for (size_t qi = 0; qi < sizeof long_queries / sizeof *long_queries; qi++) {
        const char *q = long_queries[qi];
        promql_result_t whole;
        promql_error_t err;
        assert_int_equal(promql_query_range(f->e, q, start, start + (nsteps - 1) * step, step, 0, &whole, &err), 0);
        size_t whole_points = 0, piece_points = 0;
        for (size_t i = 0; i < whole.n_series; i++) whole_points += whole.series[i].n_points;
        for (int64_t p0 = 0; p0 < nsteps; p0 += 1000) {
            int64_t ps = start + p0 * step, pe = start + (p0 + 999 < nsteps ? p0 + 999 : nsteps - 1) * step;
            promql_result_t piece;
            assert_int_equal(promql_query_range(f->e, q, ps, pe, step, 0, &piece, &err), 0);
            for (size_t i = 0; i < piece.n_series; i++)
                for (size_t j = 0; j < piece.series[i].n_points; j++) {
                    double v = 0;
                    const promql_point_t *pt = &piece.series[i].points[j];
                    if (!find_point(&whole, piece.series[i].metric, pt->t, &v))
                        fail_msg("%s at %lld: in the piece, not in the whole range", q, (long long)pt->t);
                    if (!same_value(v, pt->v))
                        fail_msg("%s at %lld: whole %.17g, piece %.17g", q, (long long)pt->t, v, pt->v);
                    piece_points++;
                }
            promql_result_free(&piece);
        }
        assert_int_equal(piece_points, whole_points);
        assert_true(whole_points > 10000);
        promql_result_free(&whole);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_range_equals_instants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_unaligned_and_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_range_matches_pieces, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
