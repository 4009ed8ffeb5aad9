/* eval.h owns the evaluator's internal types shared by engine.c (query lifecycle, selectors,
 * subqueries, step loop), eval_util.c (label building, hashing), binop.c, aggr.c and funcs.c.
 *
 * Evaluation model: an expression is evaluated step by step (t = start + k*step). Every selector
 * reads each of its series' samples ONCE for the whole span before the first step (series loaded
 * in parallel), and slides two indexes per series over them as t advances. Range functions over
 * a selector or subquery in a range loop are computed ahead, series by series and in parallel,
 * for blocks of steps (eval_range.c); per-series label work (grouping keys, output lookup) is
 * done once per query through series identities (sid, below). Subqueries are materialised once per query by
 * a nested step loop over their own aligned steps. Values produced for one step live in a
 * scratch arena freed after the step; labels point either into the querier (valid for the whole
 * query) or into an arena that outlives their use. */
#ifndef MS_PROMQL_EVAL_H
#define MS_PROMQL_EVAL_H
#include "promql/ast.h"
#include "promql/promql.h"
#include "util/buf.h"
#include <setjmp.h>
#include <string.h>

/* Series identity (sid): a query-wide number for each series of a selector or materialised
 * subquery (sel_state_t.sid_base + index), 0 for none. Invariant every node keeps: within the
 * output of one node, equal non-zero sids always carry equal labels, at every step. Nodes whose
 * output labels are a fixed function of one input series' labels (selectors, range functions,
 * elementwise functions, vector-scalar operators, unary minus, set operators, topk/bottomk)
 * pass the sid on; an aggregation gives each group a sid of its own once it has built the
 * group's labels from query-lifetime labels (aggr.c); all others output 0. Consumers use it to compute per-series label work
 * (grouping keys, output series lookup) once per query instead of once per step. */
typedef struct ev_sample {
    labels_t metric;
    double v;
    int64_t t;       /* the sample's own timestamp for selector output, else the step time */
    uint32_t sid;    /* see above; 0 = unknown */
} ev_sample_t;

typedef struct ev_vec {
    ev_sample_t *s;
    size_t n;
} ev_vec_t;

typedef struct ev_rser {
    labels_t metric;
    const sample_t *pts;
    size_t n;
    uint32_t sid;
} ev_rser_t;

/* A range vector at one step: only series with samples in the window. */
typedef struct ev_mat {
    ev_rser_t *s;
    size_t n;
    int64_t range_start, range_end; /* the window (range_start, range_end] */
} ev_mat_t;

typedef struct ev_val {
    val_type_t type;
    double scalar;
    ev_vec_t vec;
    ev_mat_t mat;
    str_t str;
} ev_val_t;

/* Per-series samples of a selector or materialised subquery, with the sliding indexes.
 * A selector's state is opened (series, labels, sids) before its samples are loaded; loading
 * may be skipped altogether when a streamed range function reads the series itself
 * (eval_range.c), and happens on first use otherwise (ev_sel_load). */
typedef struct sel_state {
    size_t n;
    labels_t *lbls;
    sample_vec_t *data;
    size_t *lo, *hi;
    int64_t last_t;
    bool started;
    uint32_t sid_base;  /* series i has sid sid_base + i (assigned once the set is complete) */
    bool loaded;        /* data holds the samples (always true for subquery states) */
    bool range;         /* a matrix selector's: stale markers are dropped when loading */
    bool last_only;     /* an instant selector read for one evaluation time: only the newest
                         * sample at or before maxt is kept per series (all it can answer) */
    const series_set_t *set; /* a selector's series (owned by the query), NULL for subqueries */
    int64_t mint, maxt; /* the span its samples are read for */
} sel_state_t;

typedef struct ev_query {
    promql_engine_t *e;
    db_t *db;
    querier_t *q;
    arena_t arena;            /* AST and query-lifetime data */
    int64_t start, end, step; /* top-level */
    int64_t lookback;
    int64_t open;             /* 1 when windows are left-open (t - r, t], 0 for [t - r, t] */
    int64_t deadline_ns;
    bool (*cancelled)(void *arg); /* promql_exec_t's; NULL: never cancelled */
    void *cancel_arg;
    int64_t next_cancel_poll_ns;
    uint64_t max_samples, samples;
    unsigned tick;
    promql_error_t *err;
    jmp_buf fail;             /* ev_fail longjmps here; everything owned is tracked below */
    sel_state_t **states;
    series_set_t **sets;
    size_t n_states, cap_states, n_sets, cap_sets;
    buf_t hbuf;               /* scratch for hashing label subsets */
    struct re_cache *recache; /* compiled label_replace regexes, one per call node (funcs.c) */
    size_t n_recache, cap_recache;
    uint32_t n_sids;          /* sids handed out so far (sid 0 is "none") */
    int nthreads;             /* worker threads a query may use for series-parallel work */
    struct node_cache *ncache;/* per-node evaluation caches (eval_range.c, aggr.c) */
    size_t n_ncache, cap_ncache;
    int64_t load_maxt_cap;    /* selectors load no samples after this (at_shift subqueries) */
} ev_query_t;

/* Context for evaluating at one step. */
typedef struct ev_ctx {
    ev_query_t *q;
    arena_t *a;  /* scratch for this step */
    int64_t t;
    int64_t run_start; /* first step of the loop this evaluation belongs to */
    int64_t step;      /* that loop's step (0 for an instant evaluation) */
} ev_ctx_t;

/* Raises an evaluation error (type + message) and unwinds to the query's handler. */
_Noreturn void ev_fail(ev_query_t *q, promql_error_type_t type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Checks the deadline and whether the caller cancelled the query (cheaply, every few calls). */
void ev_check_deadline(ev_query_t *q);
/* PROMQL_ERR_TIMEOUT past the deadline, PROMQL_ERR_CANCELED once the cancel callback (polled
 * at most every 10 ms) says so, else PROMQL_ERR_NONE. Query thread only. */
promql_error_type_t ev_interrupted(ev_query_t *q);
/* Raises the error for ev_interrupted's answer (returns for PROMQL_ERR_NONE). */
void ev_fail_interrupted(ev_query_t *q, promql_error_type_t why);

void ev_eval(ev_ctx_t *c, node_t *n, ev_val_t *out);
/* Selects the series of selector node sel (vector or matrix) for evaluation over outer times
 * [rs, re], sets its state (labels and sids, samples not loaded yet) and returns it. */
sel_state_t *ev_sel_open(ev_query_t *q, node_t *sel, int64_t rs, int64_t re);
/* Loads an opened selector state's samples (in parallel over series) unless already loaded. */
void ev_sel_load(ev_query_t *q, sel_state_t *st);
/* Adds n to the query's loaded-sample count; fails the query past max_samples. */
void ev_count_samples(ev_query_t *q, size_t n);
/* True for Prometheus's staleness marker (one NaN bit pattern). */
static inline bool ev_is_stale(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == 0x7ff0000000000002ULL;
}
/* The time a selector node is read at for the evaluation context (offset, @ and 2.42 quirks). */
int64_t ev_vs_time(const ev_ctx_t *c, const node_t *vs);
/* The window end of subquery node sq at this step (offset, @ and the predict_linear quirk). */
int64_t ev_sq_time(const ev_ctx_t *c, const node_t *sq);
int64_t ev_sel_time(int64_t t, at_kind_t k, int64_t at, int64_t offset);

/* ---- per-node caches living for the whole query (query arena) ---- */
typedef struct node_cache {
    const node_t *n;
    int kind;       /* which module's cache */
    void *p;
} node_cache_t;
enum { NCACHE_RANGE = 1, NCACHE_AGG = 2 };
void *ev_node_cache_get(ev_query_t *q, const node_t *n, int kind);
void ev_node_cache_put(ev_query_t *q, const node_t *n, int kind, void *p);

/* ---- label helpers (eval_util.c) ---- */
bool str_in(const str_t *list, size_t n, const char *s, size_t len);
bool labels_is_name(const label_t *l);
labels_t lbl_drop_name(arena_t *a, labels_t m);
/* Keeps only the named labels (on / by). */
labels_t lbl_keep(arena_t *a, labels_t m, const str_t *names, size_t n);
/* Removes the named labels and __name__ (ignoring / without). */
labels_t lbl_del(arena_t *a, labels_t m, const str_t *names, size_t n, bool also_name);
/* Sets (or with an empty value removes) one label; value is not copied. */
labels_t lbl_set(arena_t *a, labels_t m, const char *name, size_t nl, const char *val, size_t vl);
const char *lbl_get(labels_t m, const char *name, size_t nl, uint32_t *vl);
/* Hash of the labels selected as on(names) (on=true) or ignoring(names)+__name__ (on=false). */
uint64_t lbl_sig(ev_query_t *q, labels_t m, bool on, const str_t *names, size_t n);
uint64_t lbl_hash(labels_t m);
/* Fails with "vector cannot contain metrics with the same labelset" on duplicates. */
void vec_check_dups(ev_ctx_t *c, const ev_vec_t *v);
bool label_name_valid(const char *s, size_t n);

/* Runs fn(arg, i0, i1) over [0, n) in chunks of `chunk` indexes, handed out dynamically to up to
 * nthreads threads (the caller is one of them); returns when all are done. fn runs off the query
 * thread: it must not longjmp (no ev_fail / ev_check_deadline), allocate from query arenas or
 * touch state other chunks touch. */
#define EV_MAX_THREADS 16
void ev_parallel_for(int nthreads, size_t n, size_t chunk, void (*fn)(void *arg, size_t i0, size_t i1), void *arg);

/* A fixed-capacity open-addressing map from 64-bit keys to indexes, in a scratch arena. */
typedef struct hmap {
    uint64_t *keys;
    size_t *vals;
    uint8_t *used;
    size_t mask;
} hmap_t;
void hmap_init(hmap_t *h, arena_t *a, size_t max_entries);
/* Returns the slot's value pointer; *found tells whether the key existed (else inserted). */
size_t *hmap_put(hmap_t *h, uint64_t key, bool *found);
size_t *hmap_get(const hmap_t *h, uint64_t key);

/* ---- operators, aggregation, functions ---- */
void ev_binary(ev_ctx_t *c, node_t *n, ev_val_t *out);
void ev_aggregate(ev_ctx_t *c, node_t *n, ev_val_t *out);
void ev_call(ev_ctx_t *c, node_t *n, ev_val_t *out);
/* Frees the query's compiled regexes. */
void ev_regex_cache_free(ev_query_t *q);
/* Applies range function id to one window (pts, n) = (range_start, range_end] read at eval
 * time t, with the call's scalar arguments sc; false for "no output element". Pure apart from
 * quantile_over_time's scratch (taken from a when non-NULL). */
bool ev_range_kernel(func_id_t id, const sample_t *pts, size_t n, int64_t range_start, int64_t range_end, int64_t t,
                     const double *sc, arena_t *a, double *out);

/* ---- series-major evaluation of range functions (eval_range.c) ----
 * For a call such as rate(x[5m]) evaluated over a step loop, computes the function for blocks
 * of steps series by series (each series' samples stay in cache while its windows slide), in
 * parallel over series on q->nthreads threads; the step loop then only copies values out. The
 * kernels and windows are exactly those of the step-by-step path, so results are identical. */
/* Called by prepare once the call's arguments are prepared, for the loop [start, end] / step. */
void ev_range_prepare(ev_query_t *q, node_t *call, int64_t start, int64_t end, int64_t step);
/* Instead of preparing the call's argument: when the call is a range function over a matrix
 * selector, opens the selector and computes every step of the loop while reading each series
 * once (no samples kept); true when it took over (the argument is then prepared), false when
 * the caller should prepare the arguments and call ev_range_prepare as usual. */
bool ev_range_prepare_streamed(ev_query_t *q, node_t *call, int64_t start, int64_t end, int64_t step);
/* One step of a range function's cached outputs, read in place: series i has an output
 * element when has[i], with value val[i], labels lbls[i] and sid sid_base + i (0 when
 * sid_base is 0). Valid until the next evaluation of the call. */
typedef struct ev_range_row {
    size_t n;
    const double *val;
    const uint8_t *has;
    const labels_t *lbls;
    uint32_t sid_base;
} ev_range_row_t;
/* For a consumer such as an aggregation: when expr (parentheses aside) is a range function
 * call without scalar arguments whose cache covers c->t, fills row with exactly the elements,
 * in order, that evaluating expr would return, and returns true; otherwise false (evaluate
 * expr). Saves building a vector of every series at every step. */
bool ev_range_row(ev_ctx_t *c, const node_t *expr, ev_range_row_t *row);
/* Fills out (a vector) from the cache for c->t; false when the node has no cache for this
 * loop/time (the caller then evaluates step by step). sc: the call's scalar arguments. */
bool ev_range_lookup(ev_ctx_t *c, node_t *call, const double *sc, ev_val_t *out);

#endif
