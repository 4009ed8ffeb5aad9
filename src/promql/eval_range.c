/* eval_range.c owns series-major evaluation of range-vector functions (rate(x[5m]), ...) over a
 * step loop: blocks of steps computed series by series, in parallel over series.
 *
 * Why: evaluated step by step, every step walks all series, re-slides their windows and calls
 * the kernel, touching every series' samples once per step (cache-cold). Series by series, one
 * series' samples stay in cache while its window slides across the steps, and series are
 * independent, so the work splits over threads without locks. The windows (same lo/hi rules as
 * engine.c's eval_window) and kernels (ev_range_kernel) are exactly the step-by-step ones, so
 * every value is bit-identical; the step loop then copies one row out per step.
 *
 * Worker threads only read the selector's loaded samples (immutable after prepare) and write
 * their own series' columns; they never touch the query arena, never longjmp (a timeout is
 * flagged and raised by the calling thread after the join). Memory: at most CELLS_PER_BLOCK
 * values per call node, so long ranges over many series are computed a block of steps at a
 * time. */
#include "promql/eval.h"
#include "promql/kernels.h"
#include "util/alloc.h"
#include "util/clock.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CELLS_PER_BLOCK ((size_t)1 << 21) /* series x steps held at once (16 MiB of values) */
#define TILE 64                           /* series per tile: their output columns stay cached */
#define PAR_MIN_WORK 20000                /* series x steps below which one thread does it all */

typedef struct rcache {
    func_id_t id;
    const sel_state_t *st;
    const node_t *vs;        /* the matrix selector's N_VECTOR_SEL, or NULL for a subquery */
    const node_t *sq;        /* the subquery, or NULL */
    int64_t range, open;
    int64_t run_start, step;
    size_t nsteps, ns;
    size_t blk_cap;          /* steps per block */
    size_t blk0, nblk;       /* steps [blk0, blk0 + nblk) are computed */
    double *val;             /* [step - blk0][series] */
    uint8_t *has;            /* same layout: 1 when the series has an output element */
    size_t *lo, *hi;         /* per series window, as of the last computed step */
    int64_t tp_last;
    bool tp_started;
    labels_t *out_lbls;      /* per series output labels (metric name dropped unless last_over_time) */
    bool check_dups;         /* two series' output labels are equal: check each step as before */
    double sc[2];            /* literal scalar arguments */
} rcache_t;

typedef struct rjob {
    rcache_t *rc;
    const int64_t *tp, *t;   /* per step of the block: window end, evaluation time */
    const uint8_t *reset;    /* per step: the window moved back, rescan from the start */
    int64_t deadline_ns;
    atomic_int *timed_out;
} rjob_t;

static bool eligible_fn(func_id_t id)
{
    switch (id) {
    case F_RATE: case F_INCREASE: case F_DELTA: case F_IRATE: case F_IDELTA: case F_DERIV:
    case F_PREDICT_LINEAR: case F_RESETS: case F_CHANGES: case F_HOLT_WINTERS:
    case F_AVG_OVER_TIME: case F_MIN_OVER_TIME: case F_MAX_OVER_TIME: case F_SUM_OVER_TIME:
    case F_COUNT_OVER_TIME: case F_LAST_OVER_TIME: case F_PRESENT_OVER_TIME:
    case F_STDDEV_OVER_TIME: case F_STDVAR_OVER_TIME:
        return true;
    default: return false; /* quantile_over_time needs scratch; absent_over_time is no kernel */
    }
}

/* True when two of the series' output label sets are equal (possible once __name__ is dropped). */
static bool labels_collide(ev_query_t *q, const labels_t *l, size_t n)
{
    if (n < 2) return false;
    arena_t tmp = ARENA_INIT;
    hmap_t h;
    hmap_init(&h, &tmp, n);
    bool dup = false;
    for (size_t i = 0; i < n && !dup; i++) {
        uint64_t key = lbl_hash(l[i]);
        while (1) {
            bool found;
            size_t *slot = hmap_put(&h, key, &found);
            if (!found) {
                *slot = i;
                break;
            }
            if (labels_equal(l[*slot].v, l[*slot].n, l[i].v, l[i].n)) {
                dup = true;
                break;
            }
            key = key * 0x9e3779b97f4a7c15ULL + 1; /* hash collision: probe another key */
        }
    }
    arena_free(&tmp);
    (void)q;
    return dup;
}

void ev_range_prepare(ev_query_t *q, node_t *call, int64_t start, int64_t end, int64_t step)
{
    if (step <= 0 || end <= start || call->kind != N_CALL) return;
    const func_def_t *fn = call->call.fn;
    if (!eligible_fn(fn->id) || call->call.nargs < 1) return;
    double sc[2] = {0, 0};
    size_t k = 0;
    for (size_t i = 1; i < call->call.nargs; i++) { /* scalar arguments must be literals */
        node_t *a = node_unparen(call->call.args[i]);
        if (a->kind != N_NUMBER || k >= 2) return;
        sc[k++] = a->num;
    }
    node_t *m = node_unparen(call->call.args[0]);
    rcache_t *rc = arena_calloc(&q->arena, 1, sizeof *rc);
    if (m->kind == N_MATRIX_SEL && m->ms.vs->vs.st) {
        rc->vs = m->ms.vs;
        rc->st = m->ms.vs->vs.st;
        rc->range = m->ms.range;
    } else if (m->kind == N_SUBQUERY && m->sq.st) {
        rc->sq = m;
        rc->st = m->sq.st;
        rc->range = m->sq.range;
    } else {
        return;
    }
    size_t ns = rc->st->n;
    if (ns == 0) return;
    rc->id = fn->id;
    rc->open = q->open;
    rc->run_start = start;
    rc->step = step;
    rc->nsteps = (size_t)((end - start) / step) + 1;
    rc->ns = ns;
    size_t cap = CELLS_PER_BLOCK / ns;
    rc->blk_cap = cap < 1 ? 1 : cap > rc->nsteps ? rc->nsteps : cap;
    rc->sc[0] = sc[0];
    rc->sc[1] = sc[1];
    rc->lo = arena_calloc(&q->arena, ns, sizeof(size_t));
    rc->hi = arena_calloc(&q->arena, ns, sizeof(size_t));
    rc->out_lbls = arena_alloc(&q->arena, ns * sizeof(labels_t));
    for (size_t i = 0; i < ns; i++)
        rc->out_lbls[i] = fn->id == F_LAST_OVER_TIME ? rc->st->lbls[i] : lbl_drop_name(&q->arena, rc->st->lbls[i]);
    rc->check_dups = fn->id != F_LAST_OVER_TIME && labels_collide(q, rc->out_lbls, ns);
    ev_node_cache_put(q, call, NCACHE_RANGE, rc);
}

/* rate / increase / delta over one series for every step of the block, O(1) per step plus the
 * counter resets inside the window: the reset positions are found once per series (res, room
 * for n entries), and each window's raw increase is last - first plus the corrections of the
 * resets it holds, added in sample order exactly as the kernel's own scan adds them, so
 * kern_rate_extrapolate returns the same bits as kern_rate on the window. */
static void rate_series(const rjob_t *j, size_t i, uint32_t *res)
{
    rcache_t *rc = j->rc;
    const sample_t *v = rc->st->data[i].v;
    size_t n = rc->st->data[i].n, lo = rc->lo[i], hi = rc->hi[i], ns = rc->ns;
    bool counter = rc->id != F_DELTA, is_rate = rc->id == F_RATE;
    size_t nres = 0, r0 = 0;
    if (counter)
        for (size_t x = 1; x < n; x++)
            if (v[x].v < v[x - 1].v) res[nres++] = (uint32_t)x;
    for (size_t b = 0; b < rc->nblk; b++) {
        if (j->reset[b]) lo = hi = r0 = 0;
        int64_t tp = j->tp[b];
        int64_t lower = tp - rc->range + rc->open;
        while (lo < n && v[lo].t < lower) lo++;
        if (hi < lo) hi = lo;
        while (hi < n && v[hi].t <= tp) hi++;
        double out = 0;
        bool ok = false;
        if (hi - lo >= 2) {
            double raw = v[hi - 1].v - v[lo].v;
            if (counter) {
                if (v[lo].v < 0) raw += 0.0; /* the scan's first comparison is against 0 */
                while (r0 < nres && res[r0] <= lo) r0++;
                for (size_t r = r0; r < nres && res[r] < hi; r++) raw += v[res[r] - 1].v;
            }
            ok = kern_rate_extrapolate(v + lo, hi - lo, raw, tp - rc->range, tp, counter, is_rate, &out);
        }
        rc->val[b * ns + i] = out;
        rc->has[b * ns + i] = ok;
    }
    rc->lo[i] = lo;
    rc->hi[i] = hi;
}

/* One tile of series [s0, s1) for every step of the block (ev_parallel_for callback). */
static void run_tile(void *arg, size_t s0, size_t s1)
{
    rjob_t *j = arg;
    rcache_t *rc = j->rc;
    size_t ns = rc->ns, nblk = rc->nblk;
    if (atomic_load_explicit(j->timed_out, memory_order_relaxed)) return;
    if (clock_mono_ns() > j->deadline_ns) {
        atomic_store(j->timed_out, 1);
        return;
    }
    if (rc->id == F_RATE || rc->id == F_INCREASE || rc->id == F_DELTA) {
        size_t most = 1;
        for (size_t i = s0; i < s1; i++)
            if (rc->st->data[i].n > most) most = rc->st->data[i].n;
        uint32_t *res = xmalloc(most * sizeof(uint32_t));
        for (size_t i = s0; i < s1; i++) rate_series(j, i, res);
        free(res);
        return;
    }
    for (size_t i = s0; i < s1; i++) {
        const sample_vec_t *sv = &rc->st->data[i];
        const sample_t *v = sv->v;
        size_t n = sv->n, lo = rc->lo[i], hi = rc->hi[i];
        for (size_t b = 0; b < nblk; b++) {
            if (j->reset[b]) lo = hi = 0;
            int64_t tp = j->tp[b];
            int64_t lower = tp - rc->range + rc->open;
            while (lo < n && v[lo].t < lower) lo++;
            if (hi < lo) hi = lo;
            while (hi < n && v[hi].t <= tp) hi++;
            double out = 0;
            bool ok = hi > lo &&
                      ev_range_kernel(rc->id, v + lo, hi - lo, tp - rc->range, tp, j->t[b], rc->sc, NULL, &out);
            rc->val[b * ns + i] = out;
            rc->has[b * ns + i] = ok;
        }
        rc->lo[i] = lo;
        rc->hi[i] = hi;
    }
}

/* Computes the block of steps starting at step k. */
static void compute_block(ev_query_t *q, rcache_t *rc, size_t k)
{
    size_t ns = rc->ns;
    if (!rc->val) {
        rc->val = arena_alloc(&q->arena, rc->blk_cap * ns * sizeof(double));
        rc->has = arena_alloc(&q->arena, rc->blk_cap * ns);
    }
    size_t nblk = rc->nsteps - k < rc->blk_cap ? rc->nsteps - k : rc->blk_cap;
    int64_t *tp = xmalloc(nblk * sizeof(int64_t)), *t = xmalloc(nblk * sizeof(int64_t));
    uint8_t *reset = xmalloc(nblk);
    for (size_t b = 0; b < nblk; b++) {
        ev_ctx_t ctx = {q, NULL, rc->run_start + (int64_t)(k + b) * rc->step, rc->run_start, rc->step};
        t[b] = ctx.t;
        tp[b] = rc->vs ? ev_vs_time(&ctx, rc->vs) : ev_sq_time(&ctx, rc->sq);
        reset[b] = rc->tp_started && tp[b] < rc->tp_last; /* as state_seek: moving back rescans */
        rc->tp_started = true;
        rc->tp_last = tp[b];
    }
    rc->blk0 = k;
    rc->nblk = nblk;
    atomic_int timed_out = 0;
    rjob_t job = {rc, tp, t, reset, q->deadline_ns, &timed_out};
    ev_parallel_for(ns * nblk < PAR_MIN_WORK ? 1 : q->nthreads, ns, TILE, run_tile, &job);
    free(tp);
    free(t);
    free(reset);
    if (atomic_load(&timed_out)) ev_fail(q, PROMQL_ERR_TIMEOUT, "query timed out in expression evaluation");
}

bool ev_range_lookup(ev_ctx_t *c, node_t *call, const double *sc, ev_val_t *out)
{
    if (c->step <= 0) return false;
    rcache_t *rc = ev_node_cache_get(c->q, call, NCACHE_RANGE);
    if (!rc || rc->run_start != c->run_start || rc->step != c->step) return false;
    if (memcmp(sc, rc->sc, sizeof rc->sc) != 0) return false;
    int64_t d = c->t - rc->run_start;
    if (d < 0 || d % rc->step != 0 || (uint64_t)(d / rc->step) >= rc->nsteps) return false;
    size_t k = (size_t)(d / rc->step);
    if (rc->nblk == 0 || k < rc->blk0 || k >= rc->blk0 + rc->nblk) compute_block(c->q, rc, k);
    size_t ns = rc->ns, row = (k - rc->blk0) * ns;
    const sel_state_t *st = rc->st;
    out->type = VT_VECTOR;
    out->vec.s = arena_alloc(c->a, (ns + 1) * sizeof(ev_sample_t));
    out->vec.n = 0;
    const double *val = rc->val + row;
    const uint8_t *has = rc->has + row;
    for (size_t i = 0; i < ns; i++)
        if (has[i])
            out->vec.s[out->vec.n++] =
                (ev_sample_t){rc->out_lbls[i], val[i], c->t, st->sid_base ? st->sid_base + (uint32_t)i : 0};
    if (rc->check_dups) vec_check_dups(c, &out->vec);
    return true;
}
