/* metrics.c owns the lock-free counters and histograms of metrics.h and their text rendering. */
#include "util/metrics.h"
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double metrics_latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,  0.5,    1,     2.5,  5,     10,   30, 60};
const size_t metrics_latency_buckets_n = sizeof metrics_latency_buckets / sizeof *metrics_latency_buckets;

void metrics_histogram_init(metrics_histogram_t *h, const double *bounds, size_t n)
{
    if (n > METRICS_MAX_BUCKETS) n = METRICS_MAX_BUCKETS;
    h->bounds = bounds;
    h->n_bounds = n;
    for (size_t i = 0; i <= METRICS_MAX_BUCKETS; i++) atomic_init(&h->buckets[i], 0);
    atomic_init(&h->count, 0);
    double zero = 0;
    uint64_t zb;
    memcpy(&zb, &zero, sizeof zb);
    atomic_init(&h->sum_bits, zb);
}

void metrics_histogram_observe(metrics_histogram_t *h, double v)
{
    size_t i = 0;
    while (i < h->n_bounds && !(v <= h->bounds[i])) i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed), nb;
    do {
        double s;
        memcpy(&s, &old, sizeof s);
        s += v;
        memcpy(&nb, &s, sizeof nb);
    } while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, nb, memory_order_relaxed,
                                                    memory_order_relaxed));
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

size_t metrics_format_double(double v, char *out)
{
    if (isnan(v)) return (size_t)snprintf(out, 32, "NaN");
    if (isinf(v)) return (size_t)snprintf(out, 32, v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 1e15) return (size_t)snprintf(out, 32, "%.0f", v);
    for (int prec = 1; prec <= 17; prec++) { /* shortest digits that read back exactly */
        int n = snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return (size_t)n;
    }
    return (size_t)snprintf(out, 32, "%.17g", v);
}

static void escape(buf_t *b, const char *s, size_t n, bool quote)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\') buf_puts(b, "\\\\");
        else if (c == '\n') buf_puts(b, "\\n");
        else if (c == '"' && quote) buf_puts(b, "\\\"");
        else buf_putc(b, c);
    }
}

void metrics_escape_label_value(buf_t *b, const char *s, size_t n) { escape(b, s, n, true); }

void metrics_write_header(buf_t *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s ", name);
    escape(b, help, strlen(help), false);
    buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void name_labels(buf_t *b, const char *name, const char *suffix, const char *labels, const char *extra)
{
    buf_puts(b, name);
    buf_puts(b, suffix);
    bool l = labels && *labels, e = extra && *extra;
    if (l || e) {
        buf_putc(b, '{');
        if (l) buf_puts(b, labels);
        if (l && e) buf_putc(b, ',');
        if (e) buf_puts(b, extra);
        buf_putc(b, '}');
    }
    buf_putc(b, ' ');
}

void metrics_write_u64(buf_t *b, const char *name, const char *labels, uint64_t v)
{
    name_labels(b, name, "", labels, NULL);
    buf_printf(b, "%llu\n", (unsigned long long)v);
}

void metrics_write_double(buf_t *b, const char *name, const char *labels, double v)
{
    char tmp[32];
    metrics_format_double(v, tmp);
    name_labels(b, name, "", labels, NULL);
    buf_puts(b, tmp);
    buf_putc(b, '\n');
}

void metrics_write_histogram(buf_t *b, const char *name, const char *labels, const metrics_histogram_t *h)
{
    uint64_t cum = 0;
    char le[48], tmp[32];
    for (size_t i = 0; i <= h->n_bounds; i++) {
        cum += atomic_load_explicit((atomic_uint_fast64_t *)&h->buckets[i], memory_order_relaxed);
        if (i < h->n_bounds) {
            metrics_format_double(h->bounds[i], tmp);
            snprintf(le, sizeof le, "le=\"%s\"", tmp);
        } else {
            snprintf(le, sizeof le, "le=\"+Inf\"");
        }
        name_labels(b, name, "_bucket", labels, le);
        buf_printf(b, "%llu\n", (unsigned long long)cum);
    }
    uint64_t sb = atomic_load_explicit((atomic_uint_fast64_t *)&h->sum_bits, memory_order_relaxed);
    double sum;
    memcpy(&sum, &sb, sizeof sum);
    metrics_format_double(sum, tmp);
    name_labels(b, name, "_sum", labels, NULL);
    buf_puts(b, tmp);
    buf_putc(b, '\n');
    /* _count equals the +Inf bucket, read once above, so the two never disagree on a scrape. */
    name_labels(b, name, "_count", labels, NULL);
    buf_printf(b, "%llu\n", (unsigned long long)cum);
}

void metrics_write_one_u64(buf_t *b, const char *name, const char *type, const char *help, uint64_t v)
{
    metrics_write_header(b, name, type, help);
    metrics_write_u64(b, name, NULL, v);
}

void metrics_write_one_double(buf_t *b, const char *name, const char *type, const char *help, double v)
{
    metrics_write_header(b, name, type, help);
    metrics_write_double(b, name, NULL, v);
}
