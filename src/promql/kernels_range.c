/* kernels_range.c owns the range-window kernels (rate family, deriv/predict_linear, resets,
 * changes, holt_winters and the *_over_time aggregations) with Prometheus 2.42 numerics.
 *
 * Inputs follow kernels.h: time-sorted, staleness-free samples of one window. Summations use
 * the Kahan-Neumaier compensation Prometheus 2.42 uses (kahan_inc below) so results agree to
 * the last bit where Prometheus's do. */
#include "promql/kernels.h"
#include <math.h>

/* One Kahan-Neumaier step: returns the new sum and updates *c. As in 2.42 there is no special
 * case for Inf (the compensation may become NaN); callers that must return an infinite sum check
 * the sum before adding the compensation. */
static double kahan_inc(double inc, double sum, double *c)
{
    double t = sum + inc;
    if (fabs(sum) >= fabs(inc))
        *c += (sum - t) + inc;
    else
        *c += (inc - t) + sum;
    return t;
}

static bool extrapolated_rate(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms,
                              bool is_counter, bool is_rate, double *out)
{
    if (n < 2)
        return false;
    double result = s[n - 1].v - s[0].v;
    if (is_counter) {
        double last = 0; /* as Prometheus: a negative first value is compared against 0 */
        for (size_t i = 0; i < n; i++) {
            if (s[i].v < last)
                result += last;
            last = s[i].v;
        }
    }
    return kern_rate_extrapolate(s, n, result, range_start_ms, range_end_ms, is_counter, is_rate, out);
}

bool kern_rate(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, double *out)
{
    return extrapolated_rate(s, n, range_start_ms, range_end_ms, true, true, out);
}

bool kern_increase(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, double *out)
{
    return extrapolated_rate(s, n, range_start_ms, range_end_ms, true, false, out);
}

bool kern_delta(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, double *out)
{
    return extrapolated_rate(s, n, range_start_ms, range_end_ms, false, false, out);
}

static bool instant_value(const sample_t *s, size_t n, bool is_rate, double *out)
{
    if (n < 2)
        return false;
    const sample_t *last = &s[n - 1], *prev = &s[n - 2];
    double result = last->v - prev->v;
    if (is_rate && last->v < prev->v)
        result = last->v; /* counter reset */
    int64_t interval_ms = last->t - prev->t;
    if (interval_ms == 0)
        return false;
    if (is_rate)
        result /= (double)interval_ms / 1000.0;
    *out = result;
    return true;
}

bool kern_irate(const sample_t *s, size_t n, double *out) { return instant_value(s, n, true, out); }
bool kern_idelta(const sample_t *s, size_t n, double *out) { return instant_value(s, n, false, out); }

/* Least-squares fit of v over x = (t - intercept_t) seconds, as Prometheus linearRegression. */
static void linear_regression(const sample_t *s, size_t n, int64_t intercept_t, double *slope, double *intercept)
{
    double cnt = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init_y = s[0].v;
    bool const_y = true;
    for (size_t i = 0; i < n; i++) {
        if (const_y && i > 0 && s[i].v != init_y)
            const_y = false;
        cnt += 1.0;
        double x = (double)(s[i].t - intercept_t) / 1e3;
        sx = kahan_inc(x, sx, &cx);
        sy = kahan_inc(s[i].v, sy, &cy);
        sxy = kahan_inc(x * s[i].v, sxy, &cxy);
        sx2 = kahan_inc(x * x, sx2, &cx2);
    }
    if (const_y) {
        if (isinf(init_y)) {
            *slope = NAN;
            *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init_y;
        }
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov_xy = sxy - sx * sy / cnt;
    double var_x = sx2 - sx * sx / cnt;
    *slope = cov_xy / var_x;
    *intercept = sy / cnt - *slope * sx / cnt;
}

bool kern_deriv(const sample_t *s, size_t n, double *out)
{
    if (n < 2)
        return false;
    double slope, intercept;
    linear_regression(s, n, s[0].t, &slope, &intercept);
    *out = slope;
    return true;
}

bool kern_predict_linear(const sample_t *s, size_t n, int64_t eval_t_ms, double seconds, double *out)
{
    if (n < 2)
        return false;
    double slope, intercept;
    linear_regression(s, n, eval_t_ms, &slope, &intercept);
    *out = slope * seconds + intercept;
    return true;
}

bool kern_resets(const sample_t *s, size_t n, double *out)
{
    if (n == 0)
        return false;
    double resets = 0;
    for (size_t i = 1; i < n; i++)
        if (s[i].v < s[i - 1].v)
            resets++;
    *out = resets;
    return true;
}

bool kern_changes(const sample_t *s, size_t n, double *out)
{
    if (n == 0)
        return false;
    double changes = 0;
    for (size_t i = 1; i < n; i++)
        if (s[i].v != s[i - 1].v && !(isnan(s[i].v) && isnan(s[i - 1].v)))
            changes++;
    *out = changes;
    return true;
}

bool kern_holt_winters_check_args(double sf, double tf)
{
    /* written as Prometheus's rejection test, so NaN factors pass as they do there */
    return !(sf <= 0 || sf >= 1) && !(tf <= 0 || tf >= 1);
}

bool kern_holt_winters(const sample_t *s, size_t n, double sf, double tf, double *out)
{
    if (n < 2)
        return false;
    double s0 = 0, s1 = s[0].v, b = s[1].v - s[0].v;
    for (size_t i = 1; i < n; i++) {
        double x = sf * s[i].v;
        if (i > 1) /* the trend is only updated once two smoothed values exist */
            b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *out = s1;
    return true;
}

bool kern_avg_over_time(const sample_t *s, size_t n, double *out)
{
    if (n == 0)
        return false;
    double mean = 0, count = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        double v = s[i].v;
        count++;
        if (isinf(mean)) {
            /* an infinite mean stays unless an opposite Inf or a NaN arrives */
            if (isinf(v) && (mean > 0) == (v > 0))
                continue;
            if (!isinf(v) && !isnan(v))
                continue;
        }
        mean = kahan_inc(v / count - mean / count, mean, &c);
    }
    *out = isinf(mean) ? mean : mean + c;
    return true;
}

bool kern_min_over_time(const sample_t *s, size_t n, double *out)
{
    if (n == 0)
        return false;
    double m = s[0].v;
    for (size_t i = 0; i < n; i++)
        if (s[i].v < m || isnan(m))
            m = s[i].v;
    *out = m;
    return true;
}

bool kern_max_over_time(const sample_t *s, size_t n, double *out)
{
    if (n == 0)
        return false;
    double m = s[0].v;
    for (size_t i = 0; i < n; i++)
        if (s[i].v > m || isnan(m))
            m = s[i].v;
    *out = m;
    return true;
}

bool kern_sum_over_time(const sample_t *s, size_t n, double *out)
{
    if (n == 0)
        return false;
    double sum = 0, c = 0;
    for (size_t i = 0; i < n; i++)
        sum = kahan_inc(s[i].v, sum, &c);
    *out = isinf(sum) ? sum : sum + c;
    return true;
}

bool kern_count_over_time(const sample_t *s, size_t n, double *out)
{
    (void)s;
    if (n == 0)
        return false;
    *out = (double)n;
    return true;
}

bool kern_last_over_time(const sample_t *s, size_t n, double *out)
{
    if (n == 0)
        return false;
    *out = s[n - 1].v;
    return true;
}

bool kern_present_over_time(const sample_t *s, size_t n, double *out)
{
    (void)s;
    if (n == 0)
        return false;
    *out = 1;
    return true;
}

/* Population variance by Welford's method with compensated mean and sum of squares. */
static double variance(const sample_t *s, size_t n)
{
    double count = 0, mean = 0, c_mean = 0, aux = 0, c_aux = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        double delta = s[i].v - (mean + c_mean);
        mean = kahan_inc(delta / count, mean, &c_mean);
        aux = kahan_inc(delta * (s[i].v - (mean + c_mean)), aux, &c_aux);
    }
    return (aux + c_aux) / count;
}

bool kern_stddev_over_time(const sample_t *s, size_t n, double *out)
{
    if (n == 0)
        return false;
    *out = sqrt(variance(s, n));
    return true;
}

bool kern_stdvar_over_time(const sample_t *s, size_t n, double *out)
{
    if (n == 0)
        return false;
    *out = variance(s, n);
    return true;
}

bool kern_quantile_over_time(double q, const sample_t *s, size_t n, double *scratch, double *out)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        scratch[i] = s[i].v;
    *out = kern_quantile(q, scratch, n);
    return true;
}
