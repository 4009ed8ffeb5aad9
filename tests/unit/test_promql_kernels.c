/* test_promql_kernels.c tests the PromQL numeric kernels against values worked out by hand from
 * Prometheus 2.42's rules: extrapolated rate/increase/delta (alignment, counter resets, zero
 * cap), instant rates, regression, holt_winters, *_over_time, quantile, histogram_quantile edge
 * cases, math/clamp/round, date functions and binary operators, including NaN/Inf inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include "promql/kernels.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define EPS 1e-12
#define PI 3.14159265358979323846
#define S(sec, val) {(int64_t)((sec) * 1000), (val)}

static void assert_near(double got, double want)
{
    if (isnan(want)) {
        if (!isnan(got))
            fail_msg("want NaN, got %.17g", got);
        return;
    }
    if (isinf(want)) {
        if (got != want)
            fail_msg("want %g, got %.17g", want, got);
        return;
    }
    double tol = EPS * (fabs(want) > 1 ? fabs(want) : 1);
    if (!(fabs(got - want) <= tol))
        fail_msg("want %.17g, got %.17g", want, got);
}

/* ------------------------------------------------------------ rate / increase / delta */

static void test_rate_aligned(void **state)
{
    (void)state;
    /* window (0s, 60s], a sample every 10s from 10s: extrapolate 10s to the start (below
     * 1.1 * 10s, and the zero point is exactly 10s away), nothing to the end. */
    sample_t s[] = {S(10, 1), S(20, 2), S(30, 3), S(40, 4), S(50, 5), S(60, 6)};
    double v = -1;
    assert_true(kern_increase(s, N(s), 0, 60000, &v));
    assert_near(v, 6);
    assert_true(kern_rate(s, N(s), 0, 60000, &v));
    assert_near(v, 0.1);
    assert_true(kern_delta(s, N(s), 0, 60000, &v));
    assert_near(v, 6);
}

static void test_rate_unaligned(void **state)
{
    (void)state;
    /* samples 15s..45s in (0, 60]: both gaps (15s) exceed 1.1 * 10s, so each side extrapolates
     * half an interval: 30 * (30 + 5 + 5) / 30 = 40. */
    sample_t s[] = {S(15, 100), S(25, 110), S(35, 120), S(45, 130)};
    double v;
    assert_true(kern_increase(s, N(s), 0, 60000, &v));
    assert_near(v, 40);
    assert_true(kern_rate(s, N(s), 0, 60000, &v));
    assert_near(v, 40.0 / 60);
    assert_true(kern_delta(s, N(s), 0, 60000, &v));
    assert_near(v, 40);
    /* falling gauge: delta is negative, same extrapolation */
    sample_t g[] = {S(15, 130), S(25, 120), S(35, 110), S(45, 100)};
    assert_true(kern_delta(g, N(g), 0, 60000, &v));
    assert_near(v, -40);
}

static void test_rate_zero_cap(void **state)
{
    (void)state;
    /* counter starting at 1 at 20s rising 10 per 10s: the zero point is 1s before the first
     * sample, so increase extrapolates only 1s at the start: 40 * 41 / 40. delta has no cap:
     * gap 20s >= 11s -> half interval 5s: 40 * 45 / 40. */
    sample_t s[] = {S(20, 1), S(30, 11), S(40, 21), S(50, 31), S(60, 41)};
    double v;
    assert_true(kern_increase(s, N(s), 0, 60000, &v));
    assert_near(v, 41);
    assert_true(kern_delta(s, N(s), 0, 60000, &v));
    assert_near(v, 45);

    /* 2.42 order: the zero point (7s away) shortens durationToStart (30s) BEFORE the threshold
     * test, so 7s < 11s extrapolates the full 7s: 30 * 37 / 30 = 37 (newer releases give 35). */
    sample_t z[] = {S(30, 7), S(40, 17), S(50, 27), S(60, 37)};
    assert_true(kern_increase(z, N(z), 0, 60000, &v));
    assert_near(v, 37);
    assert_true(kern_rate(z, N(z), 0, 60000, &v));
    assert_near(v, 37.0 / 60);
}

static void test_rate_gap_to_edges(void **state)
{
    (void)state;
    double v;
    /* window 20:50:00-20:55:00 (0..300s), samples every 10s from 153s to 203s: the start gap
     * (153s) is cut by the zero point, the end gap (97s) gets half an interval. */
    sample_t a[] = {S(153, 1), S(163, 1), S(173, 1), S(183, 100), S(193, 100), S(203, 100)};
    assert_true(kern_increase(a, N(a), 0, 300000, &v));
    assert_near(v, 109.89999999999999); /* 99 * (50 + 50/99 + 5) / 50 */
    /* with a reset: 300 + 300; zero point 8.33s (< 11s) is used in full (2.42 order) */
    sample_t b[] = {S(153, 100), S(163, 200), S(173, 300), S(183, 200), S(193, 300), S(203, 400)};
    assert_true(kern_increase(b, N(b), 0, 300000, &v));
    assert_near(v, 760);
    assert_true(kern_rate(b, N(b), 0, 300000, &v));
    assert_near(v, 760.0 / 300);
    /* constant counter: nothing to extrapolate */
    sample_t c[] = {S(153, 1), S(163, 1), S(173, 1)};
    assert_true(kern_increase(c, N(c), 0, 300000, &v));
    assert_true(v == 0);
    /* Prometheus's 0+10x4 0+10x5 at 5m steps, evaluated at 50m (a sample on the start edge) */
    sample_t m[11];
    for (int i = 0; i < 11; i++) {
        m[i].t = (int64_t)i * 300000;
        m[i].v = (double)((i < 5 ? i : i - 5) * 10);
    }
    assert_true(kern_rate(m, 11, 0, 3000000, &v));
    assert_near(v, 0.03);
    assert_true(kern_increase(m, 11, 0, 3000000, &v));
    assert_near(v, 90);
    /* Prometheus functions.test: deriv and predict_linear of the same series */
    assert_true(kern_deriv(m, 11, &v));
    assert_true(v == 0.010606060606060607);
    assert_true(kern_predict_linear(m, 11, 3000000, 3600, &v));
    assert_near(v, 76.81818181818181);
}

static void test_rate_rounding_as_prometheus(void **state)
{
    (void)state;
    /* Values read from a live Prometheus 2.42: the extrapolation factor is divided by the range
     * before it multiplies the increase, which decides the last bit. */
    sample_t ts[4];
    for (int i = 56; i < 60; i++) {
        ts[i - 56].t = 50000000 + (int64_t)i * 15000;
        ts[i - 56].v = 1.7e9 + i * 15 + (i % 3) * 0.001;
    }
    double v;
    assert_true(kern_rate(ts, 4, 50887000 - 60000, 50887000, &v));
    assert_true(v == 0.9999999999999999);
    sample_t sm[5];
    for (int i = 36; i <= 40; i++) {
        sm[i - 36].t = 50000000 + (int64_t)i * 15000;
        sm[i - 36].v = 3e-12 * (i + 1);
    }
    assert_true(kern_rate(sm, 5, 50600000 - 60000, 50600000, &v));
    assert_true(v == 2.0000000000000016e-13);
}

static void test_rate_counter_reset(void **state)
{
    (void)state;
    /* 1 2 3 | 1 2 3: raw difference 2 plus 3 lost at the reset = 5; extrapolated by 60/50. */
    sample_t s[] = {S(10, 1), S(20, 2), S(30, 3), S(40, 1), S(50, 2), S(60, 3)};
    double v;
    assert_true(kern_increase(s, N(s), 0, 60000, &v));
    assert_near(v, 6);
    assert_true(kern_rate(s, N(s), 0, 60000, &v));
    assert_near(v, 0.1);
    assert_true(kern_delta(s, N(s), 0, 60000, &v));
    assert_near(v, 2.4);
    assert_true(kern_resets(s, N(s), &v));
    assert_near(v, 1);
    assert_true(kern_changes(s, N(s), &v));
    assert_near(v, 5);
}

static void test_rate_too_few(void **state)
{
    (void)state;
    sample_t s[] = {S(10, 1)};
    double v = 42;
    assert_false(kern_rate(s, 1, 0, 60000, &v));
    assert_false(kern_increase(s, 1, 0, 60000, &v));
    assert_false(kern_delta(s, 1, 0, 60000, &v));
    assert_false(kern_rate(s, 0, 0, 60000, &v));
    assert_false(kern_irate(s, 1, &v));
    assert_false(kern_idelta(s, 1, &v));
    assert_false(kern_deriv(s, 1, &v));
    assert_false(kern_predict_linear(s, 1, 60000, 10, &v));
    assert_false(kern_holt_winters(s, 1, 0.5, 0.5, &v));
    assert_near(v, 42); /* untouched */
    assert_false(kern_resets(s, 0, &v));
    assert_false(kern_changes(s, 0, &v));
    assert_true(kern_resets(s, 1, &v));
    assert_near(v, 0);
    assert_true(kern_changes(s, 1, &v));
    assert_near(v, 0);
}

static void test_rate_nan_inf(void **state)
{
    (void)state;
    double v;
    sample_t n1[] = {S(10, 1), S(20, NAN), S(30, 3)};
    assert_true(kern_rate(n1, N(n1), 0, 30000, &v)); /* last - first is finite; NaN never < */
    assert_near(v, 3.0 / 30);
    sample_t n2[] = {S(10, 1), S(20, 2), S(30, NAN)};
    assert_true(kern_increase(n2, N(n2), 0, 30000, &v));
    assert_near(v, NAN);
    sample_t i1[] = {S(10, 1), S(20, INFINITY)};
    assert_true(kern_delta(i1, N(i1), 0, 20000, &v));
    assert_near(v, INFINITY);
}

/* ------------------------------------------------------------ irate / idelta / deriv */

static void test_irate_idelta(void **state)
{
    (void)state;
    double v;
    sample_t s[] = {S(0, 100), S(10, 1), S(30, 5)};
    assert_true(kern_irate(s, N(s), &v));
    assert_near(v, 0.2);
    assert_true(kern_idelta(s, N(s), &v));
    assert_near(v, 4);
    sample_t r[] = {S(10, 10), S(20, 20), S(30, 5)}; /* reset: the last value is the increase */
    assert_true(kern_irate(r, N(r), &v));
    assert_near(v, 0.5);
    assert_true(kern_idelta(r, N(r), &v));
    assert_near(v, -15);
    sample_t same[] = {S(10, 1), S(10, 2)};
    assert_false(kern_irate(same, 2, &v));
    assert_false(kern_idelta(same, 2, &v));
}

static void test_deriv_predict_linear(void **state)
{
    (void)state;
    double v;
    /* x = 0,1,2,3 s; y = 1,3,2,5: slope 5.5/5 = 1.1, intercept 2.75 - 1.1*1.5 = 1.1 */
    sample_t s[] = {S(0, 1), S(1, 3), S(2, 2), S(3, 5)};
    assert_true(kern_deriv(s, N(s), &v));
    assert_near(v, 1.1);
    /* fitted value at t=3s is 1.1 + 3.3 = 4.4; 10s later 4.4 + 11 = 15.4 */
    assert_true(kern_predict_linear(s, N(s), 3000, 10, &v));
    assert_near(v, 15.4);
    assert_true(kern_predict_linear(s, N(s), 0, 0, &v));
    assert_near(v, 1.1);
    /* per second, not per millisecond */
    sample_t m[] = {S(100, 0), S(200, 50)};
    assert_true(kern_deriv(m, N(m), &v));
    assert_near(v, 0.5);
    /* constant series: slope exactly 0; predict gives the constant */
    sample_t c[] = {S(0, 7), S(10, 7), S(20, 7)};
    assert_true(kern_deriv(c, N(c), &v));
    assert_true(v == 0);
    assert_true(kern_predict_linear(c, N(c), 20000, 3600, &v));
    assert_near(v, 7);
    sample_t ci[] = {S(0, INFINITY), S(10, INFINITY)};
    assert_true(kern_deriv(ci, N(ci), &v));
    assert_near(v, NAN);
}

/* ------------------------------------------------------------ holt_winters */

static void test_holt_winters(void **state)
{
    (void)state;
    double v;
    /* 1 2 4, sf = tf = 0.5: s1=1 b=1; i=1: s1 = 1 + 0.5*(1+1) = 2; i=2: b = 0.5*1 + 0.5*1 = 1,
     * s1 = 2 + 0.5*(2+1) = 3.5 */
    sample_t s[] = {S(0, 1), S(10, 2), S(20, 4)};
    assert_true(kern_holt_winters(s, N(s), 0.5, 0.5, &v));
    assert_near(v, 3.5);
    /* two samples: x = 0.1*2, y = 0.9*(1+1) -> 2 */
    assert_true(kern_holt_winters(s, 2, 0.1, 0.9, &v));
    assert_near(v, 2);
    /* linear input is tracked exactly */
    sample_t l[] = {S(0, 0), S(1, 10), S(2, 20), S(3, 30), S(4, 40)};
    assert_true(kern_holt_winters(l, N(l), 0.3, 0.7, &v));
    assert_near(v, 40);
    assert_true(kern_holt_winters_check_args(0.5, 0.5));
    assert_false(kern_holt_winters_check_args(0, 0.5));
    assert_false(kern_holt_winters_check_args(1, 0.5));
    assert_false(kern_holt_winters_check_args(0.5, 1));
    assert_false(kern_holt_winters_check_args(0.5, -0.1));
    assert_true(kern_holt_winters_check_args(NAN, 0.5)); /* Prometheus's test lets NaN through */
}

/* ------------------------------------------------------------ *_over_time */

static void test_over_time_basic(void **state)
{
    (void)state;
    double v;
    sample_t s[] = {S(1, 2), S(2, 4), S(3, 4), S(4, 4), S(5, 5), S(6, 5), S(7, 7), S(8, 9)};
    assert_true(kern_avg_over_time(s, N(s), &v));
    assert_near(v, 5);
    assert_true(kern_sum_over_time(s, N(s), &v));
    assert_near(v, 40);
    assert_true(kern_count_over_time(s, N(s), &v));
    assert_near(v, 8);
    assert_true(kern_min_over_time(s, N(s), &v));
    assert_near(v, 2);
    assert_true(kern_max_over_time(s, N(s), &v));
    assert_near(v, 9);
    assert_true(kern_last_over_time(s, N(s), &v));
    assert_near(v, 9);
    assert_true(kern_present_over_time(s, N(s), &v));
    assert_near(v, 1);
    assert_true(kern_stddev_over_time(s, N(s), &v));
    assert_near(v, 2);
    assert_true(kern_stdvar_over_time(s, N(s), &v));
    assert_near(v, 4);
    double scratch[8];
    assert_true(kern_quantile_over_time(0.5, s, N(s), scratch, &v));
    assert_near(v, 4.5);
    v = 42;
    assert_false(kern_avg_over_time(s, 0, &v));
    assert_false(kern_sum_over_time(s, 0, &v));
    assert_false(kern_count_over_time(s, 0, &v));
    assert_false(kern_min_over_time(s, 0, &v));
    assert_false(kern_max_over_time(s, 0, &v));
    assert_false(kern_last_over_time(s, 0, &v));
    assert_false(kern_present_over_time(s, 0, &v));
    assert_false(kern_stddev_over_time(s, 0, &v));
    assert_false(kern_stdvar_over_time(s, 0, &v));
    assert_false(kern_quantile_over_time(0.5, s, 0, scratch, &v));
    assert_near(v, 42);
    sample_t one[] = {S(1, 3)};
    assert_true(kern_stddev_over_time(one, 1, &v));
    assert_true(v == 0);
}

static void test_over_time_numerics(void **state)
{
    (void)state;
    double v;
    /* compensated summation keeps the 1s that naive summation loses (Prometheus's test) */
    sample_t k[] = {S(1, 1), S(2, 1e100), S(3, 1), S(4, -1e100)};
    assert_true(kern_sum_over_time(k, N(k), &v));
    assert_near(v, 2);
    /* the incremental mean does not overflow */
    sample_t big[] = {S(1, 1e308), S(2, 1e308)};
    assert_true(kern_avg_over_time(big, N(big), &v));
    assert_near(v, 1e308);
    assert_true(kern_sum_over_time(big, N(big), &v));
    assert_near(v, INFINITY);
    /* Inf handling */
    sample_t inf[] = {S(1, 1), S(2, INFINITY), S(3, 2)};
    assert_true(kern_avg_over_time(inf, N(inf), &v));
    assert_near(v, INFINITY);
    assert_true(kern_sum_over_time(inf, N(inf), &v));
    assert_near(v, INFINITY);
    sample_t pm[] = {S(1, INFINITY), S(2, -INFINITY)};
    assert_true(kern_avg_over_time(pm, N(pm), &v));
    assert_near(v, NAN);
    sample_t nan[] = {S(1, 1), S(2, NAN), S(3, 3)};
    assert_true(kern_avg_over_time(nan, N(nan), &v));
    assert_near(v, NAN);
    assert_true(kern_stddev_over_time(nan, N(nan), &v));
    assert_near(v, NAN);
    /* min/max skip NaN unless all are NaN */
    sample_t nf[] = {S(1, NAN), S(2, 1), S(3, NAN), S(4, 2)};
    assert_true(kern_min_over_time(nf, N(nf), &v));
    assert_near(v, 1);
    assert_true(kern_max_over_time(nf, N(nf), &v));
    assert_near(v, 2);
    sample_t an[] = {S(1, NAN), S(2, NAN)};
    assert_true(kern_max_over_time(an, N(an), &v));
    assert_near(v, NAN);
    /* stddev of a large offset constant-ish series stays accurate */
    sample_t off[] = {S(1, 1e9 + 2), S(2, 1e9 + 4), S(3, 1e9 + 4), S(4, 1e9 + 4),
                      S(5, 1e9 + 5), S(6, 1e9 + 5), S(7, 1e9 + 7), S(8, 1e9 + 9)};
    assert_true(kern_stdvar_over_time(off, N(off), &v));
    assert_true(fabs(v - 4) < 1e-6);
    /* changes: NaN -> NaN is no change, number -> NaN is */
    sample_t ch[] = {S(1, 1), S(2, NAN), S(3, NAN), S(4, 1), S(5, 1)};
    assert_true(kern_changes(ch, N(ch), &v));
    assert_near(v, 2);
    assert_true(kern_resets(ch, N(ch), &v));
    assert_near(v, 0);
}

/* ------------------------------------------------------------ aggregation operators */

static double agg(kern_agg_op_t op, const double *v, size_t n)
{
    kern_agg_t a;
    kern_agg_init(&a, op, v[0]);
    for (size_t i = 1; i < n; i++)
        kern_agg_add(&a, op, v[i]);
    return kern_agg_result(&a, op);
}

static void test_aggregations(void **state)
{
    (void)state;
    const double v[] = {2, 4, 4, 4, 5, 5, 7, 9};
    assert_near(agg(KERN_AGG_SUM, v, 8), 40);
    assert_near(agg(KERN_AGG_AVG, v, 8), 5);
    assert_near(agg(KERN_AGG_MIN, v, 8), 2);
    assert_near(agg(KERN_AGG_MAX, v, 8), 9);
    assert_near(agg(KERN_AGG_COUNT, v, 8), 8);
    assert_near(agg(KERN_AGG_GROUP, v, 8), 1);
    assert_near(agg(KERN_AGG_STDDEV, v, 8), 2);
    assert_near(agg(KERN_AGG_STDVAR, v, 8), 4);
    const double one[] = {-3};
    assert_near(agg(KERN_AGG_STDDEV, one, 1), 0);
    assert_near(agg(KERN_AGG_AVG, one, 1), -3);
    assert_near(agg(KERN_AGG_SUM, one, 1), -3);
    /* NaN: min/max skip it unless it is all there is; sum/avg propagate it */
    const double n1[] = {NAN, 3, 1};
    assert_near(agg(KERN_AGG_MIN, n1, 3), 1);
    assert_near(agg(KERN_AGG_MAX, n1, 3), 3);
    const double n2[] = {3, NAN, 1};
    assert_near(agg(KERN_AGG_MIN, n2, 3), 1);
    assert_near(agg(KERN_AGG_SUM, n2, 3), NAN);
    assert_near(agg(KERN_AGG_AVG, n2, 3), NAN);
    assert_near(agg(KERN_AGG_COUNT, n2, 3), 3);
    /* Inf */
    const double i1[] = {1, INFINITY, 2};
    assert_near(agg(KERN_AGG_AVG, i1, 3), INFINITY);
    assert_near(agg(KERN_AGG_SUM, i1, 3), INFINITY);
    const double i2[] = {INFINITY, -INFINITY};
    assert_near(agg(KERN_AGG_AVG, i2, 2), NAN);
    /* the incremental mean does not overflow where the sum does */
    const double big[] = {1e308, 1e308, 1e308};
    assert_near(agg(KERN_AGG_AVG, big, 3), 1e308);
    assert_near(agg(KERN_AGG_SUM, big, 3), INFINITY);
    /* no compensation in the sum aggregation (unlike sum_over_time) */
    const double k[] = {1, 1e100, 1, -1e100};
    assert_near(agg(KERN_AGG_SUM, k, 4), 0);
}

/* ------------------------------------------------------------ quantile */

static void test_quantile(void **state)
{
    (void)state;
    double a[] = {4, 1, 3, 2};
    assert_near(kern_quantile(0.5, a, 4), 2.5);
    double b[] = {4, 1, 3, 2};
    assert_near(kern_quantile(0.75, b, 4), 3.25);
    assert_near(kern_quantile(0, b, 4), 1);
    assert_near(kern_quantile(1, b, 4), 4);
    assert_near(kern_quantile(0.1, b, 4), 1.3);
    assert_near(kern_quantile(-0.1, b, 4), -INFINITY);
    assert_near(kern_quantile(1.1, b, 4), INFINITY);
    assert_near(kern_quantile(NAN, b, 4), NAN);
    assert_near(kern_quantile(0.5, b, 0), NAN);
    double one[] = {7};
    assert_near(kern_quantile(0.3, one, 1), 7);
    /* NaN sorts first */
    double n[] = {2, NAN, 1};
    assert_near(kern_quantile(0, n, 3), NAN);
    double n2[] = {2, NAN, 1};
    assert_near(kern_quantile(1, n2, 3), 2);
    double n3[] = {2, NAN, 1};
    assert_near(kern_quantile(0.75, n3, 3), 1.5);
    /* as in Prometheus, the zero-weight neighbour still multiplies: Inf * 0 = NaN */
    double inf[] = {1, INFINITY, -INFINITY};
    assert_near(kern_quantile(1, inf, 3), NAN);
    double inf2[] = {1, INFINITY, -INFINITY};
    assert_near(kern_quantile(0, inf2, 3), -INFINITY);
}

/* ------------------------------------------------------------ histogram_quantile */

static void test_histogram_quantile_basic(void **state)
{
    (void)state;
#define H4 {{INFINITY, 40}, {2, 20}, {1, 10}, {4, 30}}
    kern_bucket_t b1[] = H4;
    assert_near(kern_histogram_quantile(0.5, b1, 4), 2);
    kern_bucket_t b2[] = H4;
    assert_near(kern_histogram_quantile(0.25, b2, 4), 1);
    kern_bucket_t b3[] = H4;
    assert_near(kern_histogram_quantile(0.6, b3, 4), 2.8);
    kern_bucket_t b4[] = H4; /* rank in the +Inf bucket: second-highest bound */
    assert_near(kern_histogram_quantile(0.9, b4, 4), 4);
    kern_bucket_t b5[] = H4;
    assert_near(kern_histogram_quantile(1, b5, 4), 4);
    kern_bucket_t b6[] = H4;
    assert_near(kern_histogram_quantile(0.1, b6, 4), 0.4);
    kern_bucket_t b7[] = H4;
    assert_near(kern_histogram_quantile(0, b7, 4), 0);
    kern_bucket_t b8[] = {{1, 10}, {2, 40}, {INFINITY, 40}};
    assert_near(kern_histogram_quantile(1, b8, 3), 2);
}

static void test_histogram_quantile_edges(void **state)
{
    (void)state;
    kern_bucket_t q[] = H4;
    assert_near(kern_histogram_quantile(-0.5, q, 4), -INFINITY);
    assert_near(kern_histogram_quantile(1.5, q, 4), INFINITY);
    assert_near(kern_histogram_quantile(NAN, q, 4), NAN);
    assert_near(kern_histogram_quantile(0.5, q, 0), NAN);
    assert_near(kern_histogram_quantile(-0.5, q, 0), -INFINITY);
    /* no +Inf bucket */
    kern_bucket_t noinf[] = {{1, 10}, {2, 20}};
    assert_near(kern_histogram_quantile(0.5, noinf, 2), NAN);
    /* only the +Inf bucket */
    kern_bucket_t only[] = {{INFINITY, 10}};
    assert_near(kern_histogram_quantile(0.5, only, 1), NAN);
    /* zero observations */
    kern_bucket_t zero[] = {{1, 0}, {INFINITY, 0}};
    assert_near(kern_histogram_quantile(0.5, zero, 2), NAN);
    /* non-monotonic counts are raised to the running max: 10 10 15 20 */
    kern_bucket_t nm[] = {{1, 10}, {2, 5}, {3, 15}, {INFINITY, 20}};
    assert_near(kern_histogram_quantile(0.6, nm, 4), 2.4);
    /* lowest bucket with bound <= 0 returns its bound; above it interpolation is normal */
    kern_bucket_t neg[] = {{-1, 5}, {0, 10}, {INFINITY, 10}};
    assert_near(kern_histogram_quantile(0.2, neg, 3), -1);
    kern_bucket_t neg2[] = {{-1, 5}, {0, 10}, {INFINITY, 10}};
    assert_near(kern_histogram_quantile(0.8, neg2, 3), -0.4);
    kern_bucket_t zb[] = {{0, 5}, {1, 10}, {INFINITY, 10}};
    assert_near(kern_histogram_quantile(0.1, zb, 3), 0);
    /* duplicate bounds (le="1" and le="1.0") are merged: (1:10) (+Inf:20) */
    kern_bucket_t dup[] = {{1, 5}, {INFINITY, 20}, {1, 5}};
    assert_near(kern_histogram_quantile(0.25, dup, 3), 0.5);
    /* q = 0 with an empty first bucket: 0/0 as Prometheus */
    kern_bucket_t e[] = {{1, 0}, {2, 10}, {INFINITY, 10}};
    assert_near(kern_histogram_quantile(0, e, 3), NAN);
    /* -Inf as the highest bound is not +Inf */
    kern_bucket_t minf[] = {{-INFINITY, 1}, {-5, 2}};
    assert_near(kern_histogram_quantile(0.5, minf, 2), NAN);
}

/* ------------------------------------------------------------ math */

static void test_math(void **state)
{
    (void)state;
    kern_math_fn_t f;
    assert_true(kern_math_lookup("acosh", 5, &f));
    assert_int_equal(f, KERN_MATH_ACOSH);
    assert_true(kern_math_lookup("ln", 2, &f));
    assert_int_equal(f, KERN_MATH_LN);
    assert_true(kern_math_lookup("absent", 3, &f)); /* length-bounded name "abs" */
    assert_int_equal(f, KERN_MATH_ABS);
    assert_false(kern_math_lookup("absent", 6, &f));
    assert_false(kern_math_lookup("log", 3, &f));
    assert_near(kern_math_apply(KERN_MATH_ABS, -2.5), 2.5);
    assert_near(kern_math_apply(KERN_MATH_CEIL, 1.1), 2);
    assert_near(kern_math_apply(KERN_MATH_FLOOR, -1.1), -2);
    assert_near(kern_math_apply(KERN_MATH_EXP, 0), 1);
    assert_near(kern_math_apply(KERN_MATH_LN, -1), NAN);
    assert_near(kern_math_apply(KERN_MATH_LN, 0), -INFINITY);
    assert_near(kern_math_apply(KERN_MATH_LOG2, 8), 3);
    assert_near(kern_math_apply(KERN_MATH_LOG10, 1000), 3);
    assert_near(kern_math_apply(KERN_MATH_LOG2, 0.25), -2);
    assert_near(kern_math_apply(KERN_MATH_LOG2, 10), 3.321928094887362);
    assert_near(kern_math_apply(KERN_MATH_LOG2, 0), -INFINITY);
    assert_near(kern_math_apply(KERN_MATH_LOG2, -1), NAN);
    assert_near(kern_math_apply(KERN_MATH_LOG2, INFINITY), INFINITY);
    assert_near(kern_math_apply(KERN_MATH_LOG10, -1), NAN);
    assert_near(kern_math_apply(KERN_MATH_LOG10, 0), -INFINITY);
    assert_near(kern_math_apply(KERN_MATH_SQRT, -1), NAN);
    assert_near(kern_math_apply(KERN_MATH_SQRT, 16), 4);
    assert_near(kern_math_apply(KERN_MATH_SGN, -3), -1);
    assert_near(kern_math_apply(KERN_MATH_SGN, 0.1), 1);
    assert_near(kern_math_apply(KERN_MATH_SGN, NAN), NAN);
    double nz = kern_math_apply(KERN_MATH_SGN, -0.0);
    assert_true(nz == 0 && signbit(nz));
    assert_near(kern_math_apply(KERN_MATH_DEG, PI), 180);
    assert_near(kern_math_apply(KERN_MATH_RAD, 180), PI);
    assert_near(kern_math_apply(KERN_MATH_ACOSH, 1), 0);
    assert_near(kern_math_apply(KERN_MATH_ACOSH, 0.5), NAN);
    assert_near(kern_math_apply(KERN_MATH_ATANH, 1), INFINITY);
    assert_near(kern_math_apply(KERN_MATH_ASINH, 0), 0);
    assert_near(kern_math_apply(KERN_MATH_COS, 0), 1);
    assert_near(kern_math_apply(KERN_MATH_ATAN, INFINITY), PI / 2);
    assert_near(kern_math_apply(KERN_MATH_SIN, INFINITY), NAN);
    assert_near(kern_pi(), 3.141592653589793);
}

static void test_round_clamp(void **state)
{
    (void)state;
    assert_near(kern_round(2.5, 1), 3);
    assert_near(kern_round(-2.5, 1), -2); /* halves round up, not away from zero */
    assert_near(kern_round(-2.6, 1), -3);
    assert_near(kern_round(0.125, 0.05), 0.15);
    assert_near(kern_round(5, 2), 6);
    assert_near(kern_round(1234.5678, 10), 1230);
    assert_near(kern_round(NAN, 1), NAN);
    assert_near(kern_round(INFINITY, 1), INFINITY);
    double v = 42;
    assert_true(kern_clamp(5, 0, 3, &v));
    assert_near(v, 3);
    assert_true(kern_clamp(-5, 0, 3, &v));
    assert_near(v, 0);
    assert_true(kern_clamp(2, 2, 2, &v));
    assert_near(v, 2);
    assert_true(kern_clamp(NAN, 0, 3, &v));
    assert_near(v, NAN);
    v = 42;
    assert_false(kern_clamp(1, 3, 0, &v));
    assert_near(v, 42);
    assert_true(kern_clamp(1, NAN, 3, &v)); /* NaN bound: not max < min, result NaN */
    assert_near(v, NAN);
    assert_true(kern_clamp(NAN, -INFINITY, INFINITY, &v)); /* Go: Max(-Inf, Min(+Inf, NaN)) */
    assert_near(v, NAN);
    assert_near(kern_clamp_min(1, 3), 3);
    assert_near(kern_clamp_min(5, 3), 5);
    assert_near(kern_clamp_min(NAN, 3), NAN);
    assert_near(kern_clamp_min(NAN, INFINITY), INFINITY); /* Go: +Inf wins over NaN */
    assert_near(kern_clamp_max(5, 3), 3);
    assert_near(kern_clamp_max(NAN, -INFINITY), -INFINITY);
    assert_near(kern_clamp_max(NAN, 3), NAN);
    double z = kern_go_max(-0.0, 0.0);
    assert_true(z == 0 && !signbit(z));
    z = kern_go_min(0.0, -0.0);
    assert_true(z == 0 && signbit(z));
}

/* ------------------------------------------------------------ dates */

static void test_dates(void **state)
{
    (void)state;
    kern_date_fn_t f;
    assert_true(kern_date_lookup("days_in_month", 13, &f));
    assert_int_equal(f, KERN_DATE_DAYS_IN_MONTH);
    assert_false(kern_date_lookup("day", 3, &f));
    double t = 1709210096; /* 2024-02-29 12:34:56 UTC, a Thursday */
    assert_near(kern_date_apply(KERN_DATE_YEAR, t), 2024);
    assert_near(kern_date_apply(KERN_DATE_MONTH, t), 2);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_MONTH, t), 29);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_WEEK, t), 4);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_YEAR, t), 60);
    assert_near(kern_date_apply(KERN_DATE_DAYS_IN_MONTH, t), 29);
    assert_near(kern_date_apply(KERN_DATE_HOUR, t), 12);
    assert_near(kern_date_apply(KERN_DATE_MINUTE, t), 34);
    assert_near(kern_date_apply(KERN_DATE_MINUTE, t + 0.999), 34);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_YEAR, 1735686000), 366); /* 2024-12-31 23:00 */
    assert_near(kern_date_apply(KERN_DATE_DAYS_IN_MONTH, 4105900800), 28); /* 2100-02-10 */
    assert_near(kern_date_apply(KERN_DATE_DAYS_IN_MONTH, 950140800), 29);  /* 2000-02-10 */
    assert_near(kern_date_apply(KERN_DATE_YEAR, 0), 1970);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_WEEK, 0), 4);
    /* before the epoch: -1 is 1969-12-31 23:59:59, a Wednesday */
    assert_near(kern_date_apply(KERN_DATE_YEAR, -1), 1969);
    assert_near(kern_date_apply(KERN_DATE_MONTH, -1), 12);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_MONTH, -1), 31);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_YEAR, -1), 365);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_WEEK, -1), 3);
    assert_near(kern_date_apply(KERN_DATE_HOUR, -1), 23);
    assert_near(kern_date_apply(KERN_DATE_MINUTE, -1), 59);
    /* truncation toward zero: -0.5 is 0 */
    assert_near(kern_date_apply(KERN_DATE_YEAR, -0.5), 1970);
    /* 1900-03-01, a Thursday; 1900 is not a leap year */
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_WEEK, -2203891200.0), 4);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_YEAR, -2203891200.0), 60);
    /* year 0 and year 1 around 0001-01-01 */
    assert_near(kern_date_apply(KERN_DATE_YEAR, -62135596800.0), 1);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_WEEK, -62135596800.0), 1);
    assert_near(kern_date_apply(KERN_DATE_YEAR, -62135596801.0), 0);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_YEAR, -62135596801.0), 366);
    /* far values and NaN/Inf, as Prometheus 2.42 answers them (Go's int64 wrap-around) */
    assert_near(kern_date_apply(KERN_DATE_YEAR, 9.2e18), 291536396232.0);
    assert_near(kern_date_apply(KERN_DATE_DAY_OF_YEAR, 9.2e18), 244);
    assert_near(kern_date_apply(KERN_DATE_YEAR, -9.2e18), -291536392293.0);
    assert_near(kern_date_apply(KERN_DATE_MONTH, -9.2e18), 5);
    assert_near(kern_date_apply(KERN_DATE_YEAR, -1e12), -29719);
    const double odd[] = {NAN, INFINITY, -INFINITY, 1e300, -9.3e18};
    for (size_t i = 0; i < N(odd); i++) {
        assert_near(kern_date_apply(KERN_DATE_YEAR, odd[i]), 292277026596.0);
        assert_near(kern_date_apply(KERN_DATE_MONTH, odd[i]), 12);
        assert_near(kern_date_apply(KERN_DATE_DAY_OF_MONTH, odd[i]), 4);
        assert_near(kern_date_apply(KERN_DATE_DAY_OF_YEAR, odd[i]), 339);
        assert_near(kern_date_apply(KERN_DATE_DAY_OF_WEEK, odd[i]), 0);
        assert_near(kern_date_apply(KERN_DATE_HOUR, odd[i]), 15);
        assert_near(kern_date_apply(KERN_DATE_MINUTE, odd[i]), 30);
        assert_near(kern_date_apply(KERN_DATE_DAYS_IN_MONTH, odd[i]), 31);
    }
}

/* ------------------------------------------------------------ binary operators */

static void test_binops(void **state)
{
    (void)state;
    bool keep = false;
    assert_near(kern_binop_apply(PROMQL_OP_ADD, 1, 2, &keep), 3);
    assert_true(keep);
    assert_near(kern_binop_apply(PROMQL_OP_SUB, 1, 2, &keep), -1);
    assert_near(kern_binop_apply(PROMQL_OP_MUL, 3, 2, &keep), 6);
    assert_near(kern_binop_apply(PROMQL_OP_DIV, 1, 0, &keep), INFINITY);
    assert_near(kern_binop_apply(PROMQL_OP_DIV, -1, 0, &keep), -INFINITY);
    assert_near(kern_binop_apply(PROMQL_OP_DIV, 0, 0, &keep), NAN);
    assert_near(kern_binop_apply(PROMQL_OP_MOD, 7, 3, &keep), 1);
    assert_near(kern_binop_apply(PROMQL_OP_MOD, -7, 3, &keep), -1);
    assert_near(kern_binop_apply(PROMQL_OP_MOD, 7.5, 2, &keep), 1.5);
    assert_near(kern_binop_apply(PROMQL_OP_MOD, 5, 0, &keep), NAN);
    assert_near(kern_binop_apply(PROMQL_OP_MOD, INFINITY, 2, &keep), NAN);
    assert_near(kern_binop_apply(PROMQL_OP_MOD, 5, INFINITY, &keep), 5);
    assert_near(kern_binop_apply(PROMQL_OP_POW, 2, 10, &keep), 1024);
    assert_near(kern_binop_apply(PROMQL_OP_POW, 1, NAN, &keep), 1);
    assert_near(kern_binop_apply(PROMQL_OP_POW, NAN, 0, &keep), 1);
    assert_near(kern_binop_apply(PROMQL_OP_POW, -8, 1.0 / 3, &keep), NAN);
    assert_near(kern_binop_apply(PROMQL_OP_ATAN2, 1, 1, &keep), PI / 4);
    assert_true(keep);

    assert_near(kern_binop_apply(PROMQL_OP_GTR, 5, 3, &keep), 5);
    assert_true(keep);
    assert_near(kern_binop_apply(PROMQL_OP_LSS, 5, 3, &keep), 5);
    assert_false(keep);
    kern_binop_apply(PROMQL_OP_GTE, 3, 3, &keep);
    assert_true(keep);
    kern_binop_apply(PROMQL_OP_LTE, 4, 3, &keep);
    assert_false(keep);
    kern_binop_apply(PROMQL_OP_EQL, NAN, NAN, &keep);
    assert_false(keep);
    kern_binop_apply(PROMQL_OP_NEQ, NAN, NAN, &keep);
    assert_true(keep);
    kern_binop_apply(PROMQL_OP_GTR, NAN, 1, &keep);
    assert_false(keep);
    kern_binop_apply(PROMQL_OP_EQL, INFINITY, INFINITY, &keep);
    assert_true(keep);

    assert_near(kern_binop_scalar(PROMQL_OP_GTR, 1, 2), 0);
    assert_near(kern_binop_scalar(PROMQL_OP_LSS, 1, 2), 1);
    assert_near(kern_binop_scalar(PROMQL_OP_NEQ, NAN, NAN), 1);
    assert_near(kern_binop_scalar(PROMQL_OP_MUL, 4, 2.5), 10);

    assert_true(kern_binop_is_comparison(PROMQL_OP_EQL));
    assert_true(kern_binop_is_comparison(PROMQL_OP_LTE));
    assert_false(kern_binop_is_comparison(PROMQL_OP_ATAN2));
    assert_false(kern_binop_is_comparison(PROMQL_OP_LAND));
    assert_true(kern_binop_is_set(PROMQL_OP_LUNLESS));
    assert_false(kern_binop_is_set(PROMQL_OP_ADD));
    assert_true(kern_binop_precedence(PROMQL_OP_POW) > kern_binop_precedence(PROMQL_OP_MUL));
    assert_int_equal(kern_binop_precedence(PROMQL_OP_ATAN2), kern_binop_precedence(PROMQL_OP_MOD));
    assert_true(kern_binop_precedence(PROMQL_OP_MUL) > kern_binop_precedence(PROMQL_OP_SUB));
    assert_true(kern_binop_precedence(PROMQL_OP_SUB) > kern_binop_precedence(PROMQL_OP_NEQ));
    assert_true(kern_binop_precedence(PROMQL_OP_NEQ) > kern_binop_precedence(PROMQL_OP_LUNLESS));
    assert_true(kern_binop_precedence(PROMQL_OP_LAND) > kern_binop_precedence(PROMQL_OP_LOR));
    assert_string_equal(kern_binop_str(PROMQL_OP_ATAN2), "atan2");
    assert_string_equal(kern_binop_str(PROMQL_OP_GTE), ">=");
    assert_string_equal(kern_binop_str(PROMQL_OP_LUNLESS), "unless");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_aligned),
        cmocka_unit_test(test_rate_unaligned),
        cmocka_unit_test(test_rate_zero_cap),
        cmocka_unit_test(test_rate_gap_to_edges),
        cmocka_unit_test(test_rate_rounding_as_prometheus),
        cmocka_unit_test(test_rate_counter_reset),
        cmocka_unit_test(test_rate_too_few),
        cmocka_unit_test(test_rate_nan_inf),
        cmocka_unit_test(test_irate_idelta),
        cmocka_unit_test(test_deriv_predict_linear),
        cmocka_unit_test(test_holt_winters),
        cmocka_unit_test(test_over_time_basic),
        cmocka_unit_test(test_over_time_numerics),
        cmocka_unit_test(test_aggregations),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_histogram_quantile_basic),
        cmocka_unit_test(test_histogram_quantile_edges),
        cmocka_unit_test(test_math),
        cmocka_unit_test(test_round_clamp),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_binops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
