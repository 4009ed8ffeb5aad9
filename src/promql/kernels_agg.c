/* kernels_agg.c owns the running arithmetic of the plain aggregation operators (sum, avg, min,
 * max, count, group, stddev, stdvar) as Prometheus 2.42's engine computes them per group. */
#include "promql/kernels.h"
#include <math.h>

void kern_agg_init(kern_agg_t *a, kern_agg_op_t op, double v)
{
    a->count = 1;
    a->mean = v;
    a->value = (op == KERN_AGG_STDDEV || op == KERN_AGG_STDVAR) ? 0 : v;
}

void kern_agg_add(kern_agg_t *a, kern_agg_op_t op, double v)
{
    switch (op) {
    case KERN_AGG_SUM:
        a->value += v;
        break;
    case KERN_AGG_AVG:
        a->count++;
        if (isinf(a->mean)) {
            if (isinf(v) && (a->mean > 0) == (v > 0))
                break; /* same-signed Inf: the mean is already right */
            if (!isinf(v) && !isnan(v))
                break; /* a finite value cannot move an infinite mean */
        }
        /* dividing both terms by count keeps the update from overflowing */
        a->mean += v / a->count - a->mean / a->count;
        break;
    case KERN_AGG_MIN:
        if (a->value > v || isnan(a->value))
            a->value = v;
        break;
    case KERN_AGG_MAX:
        if (a->value < v || isnan(a->value))
            a->value = v;
        break;
    case KERN_AGG_COUNT:
        a->count++;
        break;
    case KERN_AGG_GROUP:
        break;
    case KERN_AGG_STDDEV:
    case KERN_AGG_STDVAR: {
        a->count++;
        double delta = v - a->mean;
        a->mean += delta / a->count;
        a->value += delta * (v - a->mean);
        break;
    }
    }
}

double kern_agg_result(const kern_agg_t *a, kern_agg_op_t op)
{
    switch (op) {
    case KERN_AGG_SUM:
    case KERN_AGG_MIN:
    case KERN_AGG_MAX:
        return a->value;
    case KERN_AGG_AVG:
        return a->mean;
    case KERN_AGG_COUNT:
        return a->count;
    case KERN_AGG_GROUP:
        return 1;
    case KERN_AGG_STDDEV:
        return sqrt(a->value / a->count);
    case KERN_AGG_STDVAR:
        return a->value / a->count;
    }
    return NAN;
}
