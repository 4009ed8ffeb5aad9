/* metrics.h owns the lock-free instruments the server increments about itself (counters and
 * fixed-bucket histograms) and their rendering in the Prometheus text exposition format 0.0.4.
 *
 * Every update is a relaxed atomic add (a histogram's sum is a CAS loop on the double's bits), so
 * hot paths never take a lock; a scrape reads each atomic once and may see a histogram whose
 * buckets and count differ by in-flight observations, which Prometheus tolerates.
 * Ownership: instruments are plain structs embedded in their owner; nothing here allocates. */
#ifndef MS_UTIL_METRICS_H
#define MS_UTIL_METRICS_H
#include "util/buf.h"
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_BUCKETS 16

typedef struct metrics_counter {
    atomic_uint_fast64_t v;
} metrics_counter_t;

static inline void metrics_counter_add(metrics_counter_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}
static inline uint64_t metrics_counter_get(const metrics_counter_t *c)
{
    return atomic_load_explicit((atomic_uint_fast64_t *)&c->v, memory_order_relaxed);
}

typedef struct metrics_histogram {
    const double *bounds;        /* upper bounds, ascending, finite; borrowed (static tables) */
    size_t n_bounds;             /* <= METRICS_MAX_BUCKETS; the +Inf bucket is implicit */
    atomic_uint_fast64_t buckets[METRICS_MAX_BUCKETS + 1]; /* non-cumulative counts; last is +Inf */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_bits; /* double, as its bit pattern */
} metrics_histogram_t;

/* Zeroes h and sets its bucket bounds (n clamped to METRICS_MAX_BUCKETS). */
void metrics_histogram_init(metrics_histogram_t *h, const double *bounds, size_t n);
void metrics_histogram_observe(metrics_histogram_t *h, double v);

/* Default latency buckets in seconds, 1 ms .. 60 s. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_buckets_n;

/* ---- text exposition writers ---- */

/* "# HELP name help\n# TYPE name type\n"; help is escaped (\\ and \n) as the format requires. */
void metrics_write_header(buf_t *b, const char *name, const char *type, const char *help);
/* One sample line: name{labels} value. labels is the already formatted inside of the braces
 * ("a=\"x\",b=\"y\"") or NULL/"" for none. */
void metrics_write_u64(buf_t *b, const char *name, const char *labels, uint64_t v);
void metrics_write_double(buf_t *b, const char *name, const char *labels, double v);
/* A metric with one unlabelled sample: its HELP/TYPE header, then the sample line. */
void metrics_write_one_u64(buf_t *b, const char *name, const char *type, const char *help, uint64_t v);
void metrics_write_one_double(buf_t *b, const char *name, const char *type, const char *help, double v);
/* The _bucket (cumulative, with le), _sum and _count lines of h; labels as above. */
void metrics_write_histogram(buf_t *b, const char *name, const char *labels, const metrics_histogram_t *h);
/* Appends a label value escaped for the text format (\\, \", \n). */
void metrics_escape_label_value(buf_t *b, const char *s, size_t n);
/* Formats a double the way the text format spells it ("NaN", "+Inf", "-Inf", shortest round-trip
 * otherwise, e.g. "1e+06", "0.25"); out holds at least 32 bytes. Returns the length. */
size_t metrics_format_double(double v, char *out);

#endif
