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
 * time.
 *
 * Streaming: when a call's argument is a matrix selector and every step of the loop fits in
 * one block, the selector's samples are never materialised: each worker reads one series into
 * its own reused buffer, computes all the series' steps from it and moves on (so a query over
 * thousands of series touches a few KiB per thread instead of every series' samples at once).
 * The selector state keeps labels and sids; its samples load lazily if anything else ever
 * evaluates the selector. */
#include "promql/eval.h"
#include "promql/kernels.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/status.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CELLS_PER_BLOCK ((size_t)1 << 21) /* series x steps held at once (16 MiB of values) */
#define TILE 64                           /* series per tile: their output columns stay cached */
#define PAR_MIN_WORK 20000                /* series x steps below which one thread does it all */
#define STREAM_PAR_MIN 256                /* streaming: from this many series on, read in parallel */

typedef struct rcache {
    func_id_t id;
    sel_state_t *st;
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
    bool (*cancelled)(void *arg); /* the query's cancel callback, polled once per tile */
    void *cancel_arg;
    atomic_int *timed_out;   /* set to a promql_error_type_t: TIMEOUT or CANCELED */
    /* streaming only: samples are read here, per series, from the selector's set */
    size_t *nread;           /* per series: samples read (for the query's sample budget) */
    atomic_int read_rc;      /* first storage error */
    atomic_ullong read_total;/* samples read so far by all workers */
    uint64_t budget;         /* the query's samples left: past it the workers stop early */
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

/* The call's literal scalar arguments into sc; false when one is not a literal (or too many). */
static bool literal_args(const node_t *call, double sc[2])
{
    size_t k = 0;
    sc[0] = sc[1] = 0;
    for (size_t i = 1; i < call->call.nargs; i++) {
        node_t *a = node_unparen(call->call.args[i]);
        if (a->kind != N_NUMBER || k >= 2) return false;
        sc[k++] = a->num;
    }
    return true;
}

/* The step a cache records for a loop of step: an instant evaluation (step 0) is a loop of one
 * step, recorded as step 1 so the row arithmetic below holds for it too. */
static int64_t loop_step(int64_t step) { return step > 0 ? step : 1; }

/* A cache for call over the loop [start, end] / step reading state st (ns > 0 series). */
static rcache_t *rcache_new(ev_query_t *q, const node_t *call, sel_state_t *st, const node_t *m,
                            int64_t start, int64_t end, int64_t step, const double sc[2])
{
    func_id_t id = call->call.fn->id;
    rcache_t *rc = arena_calloc(&q->arena, 1, sizeof *rc);
    rc->st = st;
    if (m->kind == N_MATRIX_SEL) {
        rc->vs = m->ms.vs;
        rc->range = m->ms.range;
    } else {
        rc->sq = m;
        rc->range = m->sq.range;
    }
    size_t ns = st->n;
    rc->id = id;
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
        rc->out_lbls[i] = id == F_LAST_OVER_TIME ? st->lbls[i] : lbl_drop_name(&q->arena, st->lbls[i]);
    rc->check_dups = id != F_LAST_OVER_TIME && labels_collide(q, rc->out_lbls, ns);
    return rc;
}

void ev_range_prepare(ev_query_t *q, node_t *call, int64_t start, int64_t end, int64_t step)
{
    if (step <= 0 || end <= start || call->kind != N_CALL) return;
    const func_def_t *fn = call->call.fn;
    if (!eligible_fn(fn->id) || call->call.nargs < 1) return;
    double sc[2];
    if (!literal_args(call, sc)) return;
    node_t *m = node_unparen(call->call.args[0]);
    sel_state_t *st;
    if (m->kind == N_MATRIX_SEL && m->ms.vs->vs.st) st = m->ms.vs->vs.st;
    else if (m->kind == N_SUBQUERY && m->sq.st) st = m->sq.st;
    else return;
    if (st->n == 0) return;
    ev_sel_load(q, st);
    ev_node_cache_put(q, call, NCACHE_RANGE, rcache_new(q, call, st, m, start, end, step, sc));
}

/* rate / increase / delta over one series' samples (v, n) for every step of the block, O(1) per
 * step plus the counter resets inside the window: the reset positions are found once per
 * series (res, room for n entries), and each window's raw increase is last - first plus the
 * corrections of the resets it holds, added in sample order exactly as the kernel's own scan
 * adds them, so kern_rate_extrapolate returns the same bits as kern_rate on the window. */
static void rate_series(const rjob_t *j, size_t i, const sample_t *v, size_t n, size_t *plo, size_t *phi,
                        uint32_t *res)
{
    const rcache_t *rc = j->rc;
    size_t lo = *plo, hi = *phi, ns = rc->ns, nblk = rc->nblk;
    bool counter = rc->id != F_DELTA, is_rate = rc->id == F_RATE;
    int64_t range = rc->range, open = rc->open; /* locals: the stores below may not alias them */
    double *val = rc->val + i;
    uint8_t *has = rc->has + i;
    const uint8_t *reset = j->reset;
    const int64_t *tps = j->tp;
    size_t nres = 0, r0 = 0;
    if (counter)
        for (size_t x = 1; x < n; x++)
            if (v[x].v < v[x - 1].v) res[nres++] = (uint32_t)x;
    for (size_t b = 0; b < nblk; b++) {
        if (reset[b]) lo = hi = r0 = 0;
        int64_t tp = tps[b];
        int64_t lower = tp - range + open;
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
            ok = kern_rate_extrapolate(v + lo, hi - lo, raw, tp - range, tp, counter, is_rate, &out);
        }
        val[b * ns] = out;
        has[b * ns] = ok;
    }
    *plo = lo;
    *phi = hi;
}

/* Any other eligible function over one series' samples (v, n), for every step of the block. */
static void kernel_series(const rjob_t *j, size_t i, const sample_t *v, size_t n, size_t *plo, size_t *phi)
{
    rcache_t *rc = j->rc;
    size_t lo = *plo, hi = *phi, ns = rc->ns;
    for (size_t b = 0; b < rc->nblk; b++) {
        if (j->reset[b]) lo = hi = 0;
        int64_t tp = j->tp[b];
        int64_t lower = tp - rc->range + rc->open;
        while (lo < n && v[lo].t < lower) lo++;
        if (hi < lo) hi = lo;
        while (hi < n && v[hi].t <= tp) hi++;
        double out = 0;
        bool ok = hi > lo && ev_range_kernel(rc->id, v + lo, hi - lo, tp - rc->range, tp, j->t[b], rc->sc, NULL, &out);
        rc->val[b * ns + i] = out;
        rc->has[b * ns + i] = ok;
    }
    *plo = lo;
    *phi = hi;
}

static bool is_rate_fn(func_id_t id) { return id == F_RATE || id == F_INCREASE || id == F_DELTA; }

/* False (and the job flagged) once the deadline has passed or the query was cancelled. */
static bool tile_in_time(rjob_t *j)
{
    if (atomic_load_explicit(j->timed_out, memory_order_relaxed)) return false;
    if (clock_mono_ns() > j->deadline_ns) {
        atomic_store(j->timed_out, PROMQL_ERR_TIMEOUT);
        return false;
    }
    if (j->cancelled && j->cancelled(j->cancel_arg)) {
        atomic_store(j->timed_out, PROMQL_ERR_CANCELED);
        return false;
    }
    return true;
}

/* One tile of series [s0, s1) for every step of the block (ev_parallel_for callback). */
static void run_tile(void *arg, size_t s0, size_t s1)
{
    rjob_t *j = arg;
    rcache_t *rc = j->rc;
    if (!tile_in_time(j)) return;
    uint32_t *res = NULL;
    if (is_rate_fn(rc->id)) {
        size_t most = 1;
        for (size_t i = s0; i < s1; i++)
            if (rc->st->data[i].n > most) most = rc->st->data[i].n;
        res = xmalloc(most * sizeof(uint32_t));
    }
    for (size_t i = s0; i < s1; i++) {
        const sample_vec_t *sv = &rc->st->data[i];
        if (res) rate_series(j, i, sv->v, sv->n, &rc->lo[i], &rc->hi[i], res);
        else kernel_series(j, i, sv->v, sv->n, &rc->lo[i], &rc->hi[i]);
    }
    free(res);
}

/* Streaming: reads each series of the tile into one reused buffer and computes all its steps. */
static void stream_tile(void *arg, size_t s0, size_t s1)
{
    rjob_t *j = arg;
    rcache_t *rc = j->rc;
    if (!tile_in_time(j) || atomic_load_explicit(&j->read_total, memory_order_relaxed) > j->budget) return;
    sample_vec_t buf = {0};
    uint32_t *res = NULL;
    size_t res_cap = 0;
    for (size_t i = s0; i < s1; i++) {
        buf.n = 0;
        int rc_read = series_set_samples(rc->st->set, i, rc->st->mint, rc->st->maxt, &buf);
        if (rc_read != 0) {
            int none = 0;
            atomic_compare_exchange_strong(&j->read_rc, &none, rc_read);
            break;
        }
        j->nread[i] = buf.n;
        if (atomic_fetch_add(&j->read_total, buf.n) + buf.n > j->budget) break; /* the caller fails the query */
        size_t k = 0; /* range vectors never contain stale markers */
        for (size_t x = 0; x < buf.n; x++)
            if (!ev_is_stale(buf.v[x].v)) buf.v[k++] = buf.v[x];
        buf.n = k;
        size_t lo = 0, hi = 0;
        if (is_rate_fn(rc->id)) {
            if (buf.n > res_cap) {
                res_cap = buf.n;
                free(res);
                res = xmalloc(res_cap * sizeof(uint32_t));
            }
            rate_series(j, i, buf.v, buf.n, &lo, &hi, res);
        } else {
            kernel_series(j, i, buf.v, buf.n, &lo, &hi);
        }
    }
    free(res);
    sample_vec_free(&buf);
}

/* The window end and evaluation time of the block's steps [k, k + nblk), and where the window
 * moves back (as state_seek: the window is then rescanned from the start). */
static void block_times(ev_query_t *q, rcache_t *rc, size_t k, size_t nblk, int64_t *tp, int64_t *t, uint8_t *reset)
{
    for (size_t b = 0; b < nblk; b++) {
        ev_ctx_t ctx = {q, NULL, rc->run_start + (int64_t)(k + b) * rc->step, rc->run_start, rc->step};
        t[b] = ctx.t;
        tp[b] = rc->vs ? ev_vs_time(&ctx, rc->vs) : ev_sq_time(&ctx, rc->sq);
        reset[b] = rc->tp_started && tp[b] < rc->tp_last;
        rc->tp_started = true;
        rc->tp_last = tp[b];
    }
    rc->blk0 = k;
    rc->nblk = nblk;
}

bool ev_range_prepare_streamed(ev_query_t *q, node_t *call, int64_t start, int64_t end, int64_t step)
{
    if (end < start || call->kind != N_CALL) return false;
    if (end == start) step = loop_step(step); /* one evaluation (an instant query): one step */
    if (step <= 0) return false;
    if (!eligible_fn(call->call.fn->id) || call->call.nargs < 1) return false;
    double sc[2];
    if (!literal_args(call, sc)) return false;
    node_t *m = node_unparen(call->call.args[0]);
    if (m->kind != N_MATRIX_SEL) return false;
    size_t nsteps = (size_t)((end - start) / step) + 1;
    sel_state_t *st = ev_sel_open(q, m, start, end);
    if (st->n == 0) return true;
    if (st->n * nsteps > CELLS_PER_BLOCK) { /* several blocks: they re-read the samples */
        ev_sel_load(q, st);
        ev_node_cache_put(q, call, NCACHE_RANGE, rcache_new(q, call, st, m, start, end, step, sc));
        return true;
    }
    rcache_t *rc = rcache_new(q, call, st, m, start, end, step, sc);
    size_t ns = st->n;
    rc->val = arena_alloc(&q->arena, nsteps * ns * sizeof(double));
    rc->has = arena_alloc(&q->arena, nsteps * ns);
    int64_t *tp = xmalloc(nsteps * sizeof(int64_t)), *t = xmalloc(nsteps * sizeof(int64_t));
    uint8_t *reset = xmalloc(nsteps);
    size_t *nread = xcalloc(ns, sizeof(size_t));
    block_times(q, rc, 0, nsteps, tp, t, reset);
    atomic_int timed_out = 0;
    rjob_t job = {rc, tp, t, reset, q->deadline_ns, q->cancelled, q->cancel_arg, &timed_out, nread, 0, 0,
                  q->max_samples > q->samples ? q->max_samples - q->samples : 0};
    bool par = ns * nsteps >= PAR_MIN_WORK || ns >= STREAM_PAR_MIN;
    ev_parallel_for(par ? q->nthreads : 1, ns, TILE, stream_tile, &job);
    size_t total = 0;
    for (size_t i = 0; i < ns; i++) total += nread[i];
    free(tp);
    free(t);
    free(reset);
    free(nread);
    int rrc = atomic_load(&job.read_rc);
    if (rrc != 0) ev_fail(q, PROMQL_ERR_INTERNAL, "storage read failed: %s", ms_strerror(rrc));
    ev_fail_interrupted(q, (promql_error_type_t)atomic_load(&timed_out));
    ev_count_samples(q, total);
    ev_node_cache_put(q, call, NCACHE_RANGE, rc);
    return true;
}

/* Computes the block of steps starting at step k. */
static void compute_block(ev_query_t *q, rcache_t *rc, size_t k)
{
    size_t ns = rc->ns;
    ev_sel_load(q, rc->st);
    if (!rc->val) {
        rc->val = arena_alloc(&q->arena, rc->blk_cap * ns * sizeof(double));
        rc->has = arena_alloc(&q->arena, rc->blk_cap * ns);
    }
    size_t nblk = rc->nsteps - k < rc->blk_cap ? rc->nsteps - k : rc->blk_cap;
    int64_t *tp = xmalloc(nblk * sizeof(int64_t)), *t = xmalloc(nblk * sizeof(int64_t));
    uint8_t *reset = xmalloc(nblk);
    block_times(q, rc, k, nblk, tp, t, reset);
    atomic_int timed_out = 0;
    rjob_t job = {rc, tp, t, reset, q->deadline_ns, q->cancelled, q->cancel_arg, &timed_out, NULL, 0, 0, 0};
    ev_parallel_for(ns * nblk < PAR_MIN_WORK ? 1 : q->nthreads, ns, TILE, run_tile, &job);
    free(tp);
    free(t);
    free(reset);
    ev_fail_interrupted(q, (promql_error_type_t)atomic_load(&timed_out));
}

/* The cache of call for c's loop and the row of c->t in it (computed if need be), or NULL. */
static rcache_t *cached_row(ev_ctx_t *c, const node_t *call, const double *sc, size_t *row)
{
    rcache_t *rc = ev_node_cache_get(c->q, call, NCACHE_RANGE);
    if (!rc || rc->run_start != c->run_start || rc->step != loop_step(c->step)) return NULL;
    if (memcmp(sc, rc->sc, sizeof rc->sc) != 0) return NULL;
    int64_t d = c->t - rc->run_start;
    if (d < 0 || d % rc->step != 0 || (uint64_t)(d / rc->step) >= rc->nsteps) return NULL;
    size_t k = (size_t)(d / rc->step);
    if (rc->nblk == 0 || k < rc->blk0 || k >= rc->blk0 + rc->nblk) compute_block(c->q, rc, k);
    *row = (k - rc->blk0) * rc->ns;
    return rc;
}

bool ev_range_row(ev_ctx_t *c, const node_t *expr, ev_range_row_t *out)
{
    const node_t *call = node_unparen((node_t *)expr);
    if (call->kind != N_CALL || call->call.nargs != 1) return false; /* no scalar arguments to evaluate */
    const double none[2] = {0, 0};
    size_t row;
    rcache_t *rc = cached_row(c, call, none, &row);
    if (!rc || rc->check_dups) return false;
    out->n = rc->ns;
    out->val = rc->val + row;
    out->has = rc->has + row;
    out->lbls = rc->out_lbls;
    out->sid_base = rc->st->sid_base;
    return true;
}

bool ev_range_lookup(ev_ctx_t *c, node_t *call, const double *sc, ev_val_t *out)
{
    size_t row;
    rcache_t *rc = cached_row(c, call, sc, &row);
    if (!rc) return false;
    size_t ns = rc->ns;
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
