/* kernels.h owns PromQL's pure numeric kernels: range-window functions, histogram_quantile,
 * quantile, math and date functions and binary-operator arithmetic, with Prometheus 2.42
 * semantics.
 *
 * Why a separate layer: the evaluator (src/promql/) deals with AST, series and labels; these
 * kernels deal only with numbers, so they can be tested against hand-computed values.
 * Rules for every kernel here:
 *  - no AST, no storage access, no allocation, no global state; thread-safe (one hot kernel,
 *    kern_rate_extrapolate, is defined inline here).
 *  - window samples come as (const sample_t *s, size_t n): already restricted to the window,
 *    stale markers removed, sorted by time ascending. NOTE: Prometheus 2.42 selects
 *    range_start_ms <= t <= range_end_ms, i.e. a sample exactly at eval - range - offset IS
 *    included (checked against 2.42: count_over_time(x[60s]) with 10s samples aligned to the
 *    evaluation time is 7); range_start_ms = eval - range - offset, range_end_ms = eval - offset.
 *  - verified against a live Prometheus 2.42.0 (Debian's build, amd64) on ~45,000 random cases
 *    (range functions, quantiles, histogram_quantile, aggregations, math, dates, operators):
 *    bit-identical. Math functions, ^, % and atan2 use gomath.h (Go 1.19's algorithms on amd64,
 *    including its ln of subnormals and its Payne-Hanek trig), checked bit for bit against 2.42
 *    on ~28,000 inputs per function (tests/unit/test_promql_gomath.c).
 *  - functions returning bool return false for "no output element" (e.g. too few samples);
 *    *out is then left untouched.
 *  - errors that Prometheus reports at evaluation time (holt_winters smoothing factors outside
 *    (0, 1)) are checked by kern_holt_winters_check_args so the evaluator can raise them. */
#ifndef MS_PROMQL_KERNELS_H
#define MS_PROMQL_KERNELS_H
#include "storage/storage.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- range-window functions */

/* rate(v[r]): Prometheus extrapolatedRate with counter-reset correction, extrapolation to the
 * window edges (limited to 1.1x the average sample interval, else half an interval; at the start
 * also limited by where the counter would reach zero), divided by the range in seconds
 * ((range_end_ms - range_start_ms) / 1000). Needs >= 2 samples. */
bool kern_rate(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, double *out);
/* increase(v[r]): as rate but not divided by the range. Needs >= 2 samples. */
bool kern_increase(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, double *out);
/* delta(v[r]): last - first extrapolated to the window edges (no counter handling, no zero cap).
 * Needs >= 2 samples. */
bool kern_delta(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, double *out);
/* The extrapolation step shared by rate, increase and delta, for an evaluator that tracks the
 * window's raw increase itself (e.g. incrementally while sliding): result must be
 * s[n-1].v - s[0].v followed, for counters, by the additions the reset scan makes in sample
 * order (+0.0 when s[0].v < 0, then s[i-1].v for each i with s[i].v < s[i-1].v). Only s[0],
 * s[n-1] and n are read. Gives bit for bit what kern_rate / kern_increase (is_counter, with or
 * without is_rate) and kern_delta (neither) give. Needs n >= 2. */
static inline bool kern_rate_extrapolate(const sample_t *s, size_t n, double result, int64_t range_start_ms,
                                         int64_t range_end_ms, bool is_counter, bool is_rate, double *out)
{
    /* Prometheus extrapolatedRate (2.42): the zero-point cap shortens durationToStart before
     * the 1.1x-average-interval threshold is applied. Inline: over a step loop the range
     * division is loop-invariant. */
    if (n < 2)
        return false;
    double to_start = (double)(s[0].t - range_start_ms) / 1000.0;
    double to_end = (double)(range_end_ms - s[n - 1].t) / 1000.0;
    double sampled = (double)(s[n - 1].t - s[0].t) / 1000.0;
    double avg_interval = sampled / (double)(n - 1);

    if (is_counter && result > 0 && s[0].v >= 0) {
        double to_zero = sampled * (s[0].v / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    double threshold = avg_interval * 1.1;
    double interval = sampled;
    interval += to_start < threshold ? to_start : avg_interval / 2;
    interval += to_end < threshold ? to_end : avg_interval / 2;
    /* one factor, divided by the range before it multiplies: the rounding 2.42 has */
    double factor = interval / sampled;
    if (is_rate)
        factor /= (double)(range_end_ms - range_start_ms) / 1000.0;
    *out = result * factor;
    return true;
}
/* irate(v[r]): per-second rate from the last two samples; if the last is lower (counter reset)
 * the last value itself is the increase. No output with < 2 samples or equal timestamps. */
bool kern_irate(const sample_t *s, size_t n, double *out);
/* idelta(v[r]): last - previous (no reset handling). Same output rules as irate. */
bool kern_idelta(const sample_t *s, size_t n, double *out);
/* deriv(v[r]): least-squares slope in units per second (Kahan-summed regression, intercept at
 * the first sample). Constant series give 0 (NaN if the constant is +-Inf). Needs >= 2 samples. */
bool kern_deriv(const sample_t *s, size_t n, double *out);
/* predict_linear(v[r], seconds): regression with intercept at eval_t_ms, value predicted
 * `seconds` after eval_t_ms. Needs >= 2 samples. */
bool kern_predict_linear(const sample_t *s, size_t n, int64_t eval_t_ms, double seconds, double *out);
/* resets(v[r]): number of times a value is lower than its predecessor. Needs >= 1 sample. */
bool kern_resets(const sample_t *s, size_t n, double *out);
/* changes(v[r]): number of times a value differs from its predecessor (NaN -> NaN is no change).
 * Needs >= 1 sample. */
bool kern_changes(const sample_t *s, size_t n, double *out);
/* false when holt_winters' smoothing factor sf or trend factor tf is <= 0 or >= 1 (NaN passes,
 * as in Prometheus); the evaluator must then raise Prometheus's execution errors
 * "invalid smoothing factor. Expected: 0 < sf < 1, got: %f" /
 * "invalid trend factor. Expected: 0 < tf < 1, got: %f" (sf checked first). Prometheus checks
 * only when evaluating a series that has samples in its window (no data, no error). */
bool kern_holt_winters_check_args(double sf, double tf);
/* holt_winters(v[r], sf, tf): double exponential smoothing, returns the last smoothed value.
 * Needs >= 2 samples. Arguments must have passed kern_holt_winters_check_args. */
bool kern_holt_winters(const sample_t *s, size_t n, double sf, double tf, double *out);

/* The *_over_time aggregations; each needs >= 1 sample (absent_over_time is the evaluator's:
 * output 1 exactly when the window is empty for every selected series). */
bool kern_avg_over_time(const sample_t *s, size_t n, double *out);   /* incremental mean, Inf-aware */
bool kern_min_over_time(const sample_t *s, size_t n, double *out);   /* NaN only if all NaN */
bool kern_max_over_time(const sample_t *s, size_t n, double *out);   /* NaN only if all NaN */
bool kern_sum_over_time(const sample_t *s, size_t n, double *out);   /* plain left-to-right sum */
bool kern_count_over_time(const sample_t *s, size_t n, double *out);
bool kern_last_over_time(const sample_t *s, size_t n, double *out);
bool kern_present_over_time(const sample_t *s, size_t n, double *out); /* always 1 */
bool kern_stddev_over_time(const sample_t *s, size_t n, double *out); /* population, Welford+Kahan */
bool kern_stdvar_over_time(const sample_t *s, size_t n, double *out); /* population variance */
/* quantile_over_time(q, v[r]): kern_quantile over the window's values. scratch must hold n
 * doubles (caller-owned, e.g. from the query arena); it is overwritten. */
bool kern_quantile_over_time(double q, const sample_t *s, size_t n, double *scratch, double *out);

/* ---------------------------------------------------------------- quantiles */

/* Prometheus's phi-quantile of values[0..n) as used by the quantile aggregation and
 * quantile_over_time: sorts values IN PLACE (NaN first), rank = q*(n-1), linear interpolation
 * between the neighbouring ranks. n == 0 -> NaN; q < 0 -> -Inf; q > 1 -> +Inf; q NaN -> NaN. */
double kern_quantile(double q, double *values, size_t n);

/* Running state of one aggregation group for the plain aggregation operators, with the
 * arithmetic of Prometheus 2.42's engine: sum adds left to right (no compensation); avg keeps
 * an incremental mean (no overflow; an infinite mean stays unless an opposite Inf or NaN
 * arrives); min/max replace a NaN running value and otherwise ignore NaN inputs; stddev/stdvar
 * are Welford's population forms; count counts; group yields 1. topk/bottomk, count_values and
 * quantile stay in the evaluator (quantile via kern_quantile). Feed samples in input order. */
typedef enum kern_agg_op {
    KERN_AGG_SUM, KERN_AGG_AVG, KERN_AGG_MIN, KERN_AGG_MAX, KERN_AGG_COUNT, KERN_AGG_GROUP,
    KERN_AGG_STDDEV, KERN_AGG_STDVAR,
} kern_agg_op_t;

typedef struct kern_agg {
    double value;  /* sum / min / max / Welford's sum of squared deviations */
    double mean;   /* avg, stddev, stdvar */
    double count;
} kern_agg_t;

/* Starts a group with its first sample's value. */
void kern_agg_init(kern_agg_t *a, kern_agg_op_t op, double v);
/* Adds a further sample's value. */
void kern_agg_add(kern_agg_t *a, kern_agg_op_t op, double v);
/* The group's output value. */
double kern_agg_result(const kern_agg_t *a, kern_agg_op_t op);

/* One classic-histogram bucket: upper bound (the `le` label parsed as a float) and cumulative
 * count (the sample value). */
typedef struct kern_bucket {
    double upper_bound;
    double count;
} kern_bucket_t;

/* histogram_quantile(q, buckets) for one label group, as Prometheus bucketQuantile:
 * q NaN -> NaN, q < 0 -> -Inf, q > 1 -> +Inf; sorts b IN PLACE by upper bound and may merge
 * buckets with equal bounds (hence the array is scratch afterwards); NaN if the highest bound
 * is not +Inf, if fewer than 2 distinct buckets, or if the +Inf count is 0; non-monotonic counts
 * are raised to the running maximum; the rank falling in the +Inf bucket returns the second
 * highest bound; in the lowest bucket with bound <= 0 that bound is returned; otherwise linear
 * interpolation within the bucket (the lowest bucket interpolates from 0). n == 0 -> NaN. */
double kern_histogram_quantile(double q, kern_bucket_t *b, size_t n);

/* ---------------------------------------------------------------- math functions */

/* Single-argument elementwise functions (the function keeps or drops the metric name per the
 * evaluator's rules: all of these drop it). */
typedef enum kern_math_fn {
    KERN_MATH_ABS, KERN_MATH_CEIL, KERN_MATH_FLOOR, KERN_MATH_EXP, KERN_MATH_LN, KERN_MATH_LOG2,
    KERN_MATH_LOG10, KERN_MATH_SQRT, KERN_MATH_SGN,
    KERN_MATH_SIN, KERN_MATH_COS, KERN_MATH_TAN, KERN_MATH_ASIN, KERN_MATH_ACOS, KERN_MATH_ATAN,
    KERN_MATH_SINH, KERN_MATH_COSH, KERN_MATH_TANH, KERN_MATH_ASINH, KERN_MATH_ACOSH, KERN_MATH_ATANH,
    KERN_MATH_DEG, KERN_MATH_RAD,
    KERN_MATH__COUNT
} kern_math_fn_t;

/* Looks up a PromQL function name ("abs", "ln", "acosh", ...) of len bytes; true if it is one of
 * the single-argument math functions above. */
bool kern_math_lookup(const char *name, size_t len, kern_math_fn_t *out);
/* Applies fn to v (sgn keeps NaN and +-0; deg/rad multiply by 180/pi and pi/180). */
double kern_math_apply(kern_math_fn_t fn, double v);
/* pi() */
double kern_pi(void);
/* round(v, to_nearest): floor(v / to_nearest + 0.5) * to_nearest computed as Prometheus does,
 * i.e. floor(v * (1/to_nearest) + 0.5) / (1/to_nearest); halves round up. Default to_nearest 1. */
double kern_round(double v, double to_nearest);
/* clamp(v, min, max): false (no output element) when max < min; else max(min, min(max, v)) with
 * Go math.Max/Min semantics (NaN propagates, but +-Inf bounds win over NaN). */
bool kern_clamp(double v, double min, double max, double *out);
double kern_clamp_min(double v, double min); /* Go math.Max(min, v) */
double kern_clamp_max(double v, double max); /* Go math.Min(max, v) */
/* Go's math.Max / math.Min (used by the clamp family; exposed for the evaluator). */
double kern_go_max(double a, double b);
double kern_go_min(double a, double b);

/* ---------------------------------------------------------------- date functions */

typedef enum kern_date_fn {
    KERN_DATE_DAY_OF_MONTH, KERN_DATE_DAY_OF_WEEK, KERN_DATE_DAY_OF_YEAR, KERN_DATE_DAYS_IN_MONTH,
    KERN_DATE_HOUR, KERN_DATE_MINUTE, KERN_DATE_MONTH, KERN_DATE_YEAR,
    KERN_DATE__COUNT
} kern_date_fn_t;

/* Looks up "day_of_month" ... "year"; true if name is a date function. */
bool kern_date_lookup(const char *name, size_t len, kern_date_fn_t *out);
/* Applies fn to v, a Unix time in seconds (truncated toward zero, as Go's int64(v)), in UTC:
 * day_of_month 1..31, day_of_week 0..6 (Sunday 0), day_of_year 1..366, days_in_month 28..31,
 * hour 0..23, minute 0..59, month 1..12, year. Exactly as Prometheus 2.42 on amd64 for every
 * input: NaN, +-Inf and values outside int64 become INT64_MIN seconds, which Go's wrapping
 * arithmetic reports as 292277026596-12-04 15:30 (a Sunday). Without an argument Prometheus
 * uses the evaluation time eval_ms / 1000 (integer division) and outputs one sample with no
 * labels. */
double kern_date_apply(kern_date_fn_t fn, double v);

/* ---------------------------------------------------------------- binary operators */

/* PromQL binary operator codes, shared with the parser and evaluator. */
typedef enum promql_binop {
    PROMQL_OP_ADD,    /* +  */
    PROMQL_OP_SUB,    /* -  */
    PROMQL_OP_MUL,    /* *  */
    PROMQL_OP_DIV,    /* /  */
    PROMQL_OP_MOD,    /* %  (Go math.Mod == C fmod) */
    PROMQL_OP_POW,    /* ^  (Go math.Pow) */
    PROMQL_OP_ATAN2,  /* atan2 */
    PROMQL_OP_EQL,    /* == */
    PROMQL_OP_NEQ,    /* != */
    PROMQL_OP_GTR,    /* >  */
    PROMQL_OP_LSS,    /* <  */
    PROMQL_OP_GTE,    /* >= */
    PROMQL_OP_LTE,    /* <= */
    PROMQL_OP_LAND,   /* and    (set operator: handled by the evaluator, not by kern_binop_*) */
    PROMQL_OP_LOR,    /* or     (set operator) */
    PROMQL_OP_LUNLESS,/* unless (set operator) */
    PROMQL_OP__COUNT
} promql_binop_t;

/* True for == != > < >= <=. */
bool kern_binop_is_comparison(promql_binop_t op);
/* True for and / or / unless. */
bool kern_binop_is_set(promql_binop_t op);
/* Operator precedence as Prometheus's parser uses it: ^ 6 (right-assoc), * / % atan2 5, + - 4,
 * comparisons 3, and/unless 2, or 1. */
int kern_binop_precedence(promql_binop_t op);
/* The operator's source spelling ("+", "atan2", "unless", ...). */
const char *kern_binop_str(promql_binop_t op);
/* Prometheus vectorElemBinop for one pair (lhs a, rhs b): arithmetic ops return the result and
 * set *keep = true; comparison ops return a and set *keep to the comparison's truth (NaN
 * compares false except for !=). The evaluator then applies `bool` (1/0) or filtering, and
 * for scalar-op-vector comparisons keeps the vector side's value itself. Set ops: returns a,
 * *keep = true (not meaningful). */
double kern_binop_apply(promql_binop_t op, double a, double b, bool *keep);
/* Scalar-scalar comparison as used with `bool` (1 or 0); arithmetic ops return the value. */
double kern_binop_scalar(promql_binop_t op, double a, double b);

#endif
