/* kernels_hist.c owns the quantile kernels: Prometheus's phi-quantile over plain values
 * (quantile aggregation, quantile_over_time) and histogram_quantile over classic buckets.
 *
 * Both sort their input in place with qsort (no allocation), matching Prometheus's orderings:
 * values with NaN first, buckets by upper bound. */
#include "promql/kernels.h"
#include <math.h>
#include <stdlib.h>

/* NaN sorts before every number, as Prometheus's vectorByValueHeap.Less. */
static int cmp_value(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    bool na = isnan(a), nb = isnan(b);
    if (na || nb)
        return na && nb ? 0 : (na ? -1 : 1);
    return a < b ? -1 : (a > b ? 1 : 0);
}

double kern_quantile(double q, double *values, size_t n)
{
    if (n == 0 || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(values, n, sizeof *values, cmp_value);
    double cnt = (double)n;
    double rank = q * (cnt - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin(cnt - 1, lower + 1);
    double weight = rank - floor(rank);
    return values[(size_t)lower] * (1 - weight) + values[(size_t)upper] * weight;
}

static int cmp_bucket(const void *pa, const void *pb)
{
    double a = ((const kern_bucket_t *)pa)->upper_bound, b = ((const kern_bucket_t *)pb)->upper_bound;
    bool na = isnan(a), nb = isnan(b);
    if (na || nb)
        return na && nb ? 0 : (na ? -1 : 1);
    return a < b ? -1 : (a > b ? 1 : 0);
}

double kern_histogram_quantile(double q, kern_bucket_t *b, size_t n)
{
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (n == 0)
        return NAN;
    qsort(b, n, sizeof *b, cmp_bucket);
    if (!(isinf(b[n - 1].upper_bound) && b[n - 1].upper_bound > 0))
        return NAN;

    /* Merge buckets with the same upper bound (e.g. le="1" and le="1.0"). */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && b[m - 1].upper_bound == b[i].upper_bound)
            b[m - 1].count += b[i].count;
        else
            b[m++] = b[i];
    }
    n = m;

    /* Cumulative counts must not decrease; raise each to the running maximum. */
    double max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (b[i].count > max)
            max = b[i].count;
        else if (b[i].count < max)
            b[i].count = max;
    }

    if (n < 2)
        return NAN;
    double observations = b[n - 1].count;
    if (observations == 0)
        return NAN;
    double rank = q * observations;

    /* First bucket among the finite ones whose count reaches rank (Go sort.Search's binary
     * search, so NaN counts behave as in Prometheus); n-1 if none. */
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t h = lo + (hi - lo) / 2;
        if (!(b[h].count >= rank))
            lo = h + 1;
        else
            hi = h;
    }
    size_t i = lo;
    if (i == n - 1)
        return b[n - 2].upper_bound;
    if (i == 0 && b[0].upper_bound <= 0)
        return b[0].upper_bound;

    double start = 0, end = b[i].upper_bound, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper_bound;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}
