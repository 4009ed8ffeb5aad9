/* eval.h owns the evaluator's internal types shared by engine.c (query lifecycle, selectors,
 * subqueries, step loop), eval_util.c (label building, hashing), binop.c, aggr.c and funcs.c.
 *
 * Evaluation model: an expression is evaluated step by step (t = start + k*step). Every selector
 * reads each of its series' samples ONCE for the whole span before the first step, and slides
 * two indexes per series over them as t advances. Subqueries are materialised once per query by
 * a nested step loop over their own aligned steps. Values produced for one step live in a
 * scratch arena freed after the step; labels point either into the querier (valid for the whole
 * query) or into an arena that outlives their use. */
#ifndef MS_PROMQL_EVAL_H
#define MS_PROMQL_EVAL_H
#include "promql/ast.h"
#include "promql/promql.h"
#include "util/buf.h"
#include <setjmp.h>

typedef struct ev_sample {
    labels_t metric;
    double v;
    int64_t t;       /* the sample's own timestamp for selector output, else the step time */
} ev_sample_t;

typedef struct ev_vec {
    ev_sample_t *s;
    size_t n;
} ev_vec_t;

typedef struct ev_rser {
    labels_t metric;
    const sample_t *pts;
    size_t n;
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

/* Per-series samples of a selector or materialised subquery, with the sliding indexes. */
typedef struct sel_state {
    size_t n;
    labels_t *lbls;
    sample_vec_t *data;
    size_t *lo, *hi;
    int64_t last_t;
    bool started;
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
} ev_query_t;

/* Context for evaluating at one step. */
typedef struct ev_ctx {
    ev_query_t *q;
    arena_t *a;  /* scratch for this step */
    int64_t t;
    int64_t run_start; /* first step of the loop this evaluation belongs to */
} ev_ctx_t;

/* Raises an evaluation error (type + message) and unwinds to the query's handler. */
_Noreturn void ev_fail(ev_query_t *q, promql_error_type_t type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Checks the deadline (cheaply, every few calls). */
void ev_check_deadline(ev_query_t *q);

void ev_eval(ev_ctx_t *c, node_t *n, ev_val_t *out);

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

#endif
