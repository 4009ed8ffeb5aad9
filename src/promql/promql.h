/* promql.h is the public face of the PromQL engine: parse and evaluate a query against a db,
 * returning a typed result that api/ renders as Prometheus's JSON.
 * Ownership: a promql_result_t owns all its memory (labels, points) in its arena; free it with
 * promql_result_free. Threading: an engine is shared by all request threads. */
#ifndef MS_PROMQL_PROMQL_H
#define MS_PROMQL_PROMQL_H
#include "storage/storage.h"
#include "util/arena.h"
#include <stddef.h>
#include <stdint.h>

typedef struct promql_engine promql_engine_t;

typedef struct promql_options {
    int64_t lookback_delta_ms;     /* default 5 min */
    int64_t default_timeout_ms;    /* default 2 min */
    uint64_t max_samples;          /* samples loaded at once per query; default 50,000,000 */
    int max_concurrent;            /* default 20 */
    uint64_t max_points_per_series;/* range queries; default 11,000 */
    /* Window boundaries. false (default, Prometheus 2.42): a range selector [r] at t reads
     * samples in [t - r, t] and the lookback is [t - lookback, t]. true (Prometheus 3):
     * (t - r, t] and (t - lookback, t]. */
    bool left_open_windows;
} promql_options_t;
void promql_options_default(promql_options_t *o);

int promql_engine_new(db_t *db, const promql_options_t *opts, promql_engine_t **out);
void promql_engine_free(promql_engine_t *e);

typedef enum { PROMQL_SCALAR, PROMQL_VECTOR, PROMQL_MATRIX, PROMQL_STRING } promql_type_t;

typedef struct promql_point {
    int64_t t;
    double v;
} promql_point_t;

typedef struct promql_series {
    labels_t metric;          /* sorted; strings in the result arena */
    promql_point_t *points;   /* one point for a vector element, several for a matrix */
    size_t n_points;
} promql_series_t;

typedef struct promql_result {
    promql_type_t type;
    promql_series_t *series;  /* VECTOR / MATRIX, in Prometheus's output order */
    size_t n_series;
    promql_point_t scalar;    /* SCALAR: t and v; STRING: t and string */
    const char *string;
    arena_t arena;
} promql_result_t;

/* Prometheus's error types; api maps them to HTTP: bad_data 400, execution 422, timeout 503,
 * canceled 499, internal 500, unavailable 503. A query started while max_concurrent others run
 * is refused at once (unavailable, status MS_EBUSY), never queued. */
typedef enum {
    PROMQL_ERR_NONE = 0,
    PROMQL_ERR_BAD_DATA,
    PROMQL_ERR_EXECUTION,
    PROMQL_ERR_TIMEOUT,
    PROMQL_ERR_CANCELED,
    PROMQL_ERR_INTERNAL,
    PROMQL_ERR_UNAVAILABLE,
} promql_error_type_t;

typedef struct promql_error {
    promql_error_type_t type;
    char message[1024];
} promql_error_t;

const char *promql_error_type_str(promql_error_type_t t); /* "bad_data", "execution", ... */

/* Instant query at t_ms. timeout_ms <= 0 means the engine default. Returns 0 and fills *res,
 * or a negative status and fills *err (res is then empty). */
int promql_query_instant(promql_engine_t *e, const char *query, int64_t t_ms, int64_t timeout_ms,
                         promql_result_t *res, promql_error_t *err);
/* Range query over [start_ms, end_ms] every step_ms (> 0). Result is a MATRIX. */
int promql_query_range(promql_engine_t *e, const char *query, int64_t start_ms, int64_t end_ms, int64_t step_ms,
                       int64_t timeout_ms, promql_result_t *res, promql_error_t *err);
void promql_result_free(promql_result_t *res);

/* Per-query execution options beyond the arguments above. tenant (NULL: open mode, every series)
 * scopes the query's storage querier to that tenant's series (querier_set_tenant): selectors,
 * functions and results never see another tenant's series nor the __tenant__ label. */
typedef struct promql_exec {
    int64_t timeout_ms;          /* <= 0: the engine default */
    const char *tenant;
    size_t tenant_len;
    /* Optional: polled while the query runs (at least every ~10 ms of evaluation, from the
     * query's thread and its worker threads, so it must be thread-safe and cheap); once it
     * returns true the query stops with PROMQL_ERR_CANCELED (e.g. the HTTP client went away). */
    bool (*cancelled)(void *arg);
    void *cancel_arg;
} promql_exec_t;
int promql_query_instant_exec(promql_engine_t *e, const char *query, int64_t t_ms, const promql_exec_t *x,
                              promql_result_t *res, promql_error_t *err);
int promql_query_range_exec(promql_engine_t *e, const char *query, int64_t start_ms, int64_t end_ms, int64_t step_ms,
                            const promql_exec_t *x, promql_result_t *res, promql_error_t *err);

/* The engine's per-query sample budget (options.max_samples), for other readers of raw samples
 * (remote_read, export) to apply the same limit. */
uint64_t promql_engine_max_samples(const promql_engine_t *e);

/* Parses a series selector as used by match[] (e.g. `up{job="x"}` or `{__name__=~"a.*"}`) into
 * matchers the caller frees with matcher_free and free(). Returns 0 or MS_EINVAL with err. */
int promql_parse_selector(const char *s, matcher_t ***out, size_t *n, promql_error_t *err);

#endif
