/* engine.c owns the query lifecycle: the engine (options, a concurrency gate that refuses
 * rather than queues), parsing and type-checking a query, opening one querier for the whole
 * span, loading every selector's samples once (in parallel over series; lazily, and not at all
 * when a streamed range function reads the series itself, eval_range.c), handing out series
 * identities, materialising subqueries, the step loop with its deadline and cancellation
 * checks, selector evaluation with lookback and staleness, and building the result in
 * Prometheus's output order. */
#include "promql/eval.h"
#include "promql/parse.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/status.h"
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SUBQUERY_STEP_MS 60000

struct promql_engine {
    db_t *db;
    promql_options_t o;
    pthread_mutex_t mu;
    int active;
    int nthreads; /* online CPUs, capped: threads one query may use for series-parallel work */
};

void promql_options_default(promql_options_t *o)
{
    o->lookback_delta_ms = 5 * 60 * 1000;
    o->default_timeout_ms = 2 * 60 * 1000;
    o->max_samples = 50000000;
    o->max_concurrent = 20;
    o->max_points_per_series = 11000;
    o->left_open_windows = false;
}

int promql_engine_new(db_t *db, const promql_options_t *opts, promql_engine_t **out)
{
    promql_engine_t *e = xcalloc(1, sizeof *e);
    e->db = db;
    if (opts) e->o = *opts;
    else promql_options_default(&e->o);
    promql_options_t d;
    promql_options_default(&d);
    if (e->o.lookback_delta_ms <= 0) e->o.lookback_delta_ms = d.lookback_delta_ms;
    if (e->o.default_timeout_ms <= 0) e->o.default_timeout_ms = d.default_timeout_ms;
    if (e->o.max_samples == 0) e->o.max_samples = d.max_samples;
    if (e->o.max_concurrent <= 0) e->o.max_concurrent = d.max_concurrent;
    if (e->o.max_points_per_series == 0) e->o.max_points_per_series = d.max_points_per_series;
    pthread_mutex_init(&e->mu, NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    e->nthreads = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
    *out = e;
    return 0;
}

void promql_engine_free(promql_engine_t *e)
{
    if (!e) return;
    pthread_mutex_destroy(&e->mu);
    free(e);
}

const char *promql_error_type_str(promql_error_type_t t)
{
    switch (t) {
    case PROMQL_ERR_NONE: return "";
    case PROMQL_ERR_BAD_DATA: return "bad_data";
    case PROMQL_ERR_EXECUTION: return "execution";
    case PROMQL_ERR_TIMEOUT: return "timeout";
    case PROMQL_ERR_CANCELED: return "canceled";
    case PROMQL_ERR_INTERNAL: return "internal";
    case PROMQL_ERR_UNAVAILABLE: return "unavailable";
    }
    return "internal";
}

uint64_t promql_engine_max_samples(const promql_engine_t *e) { return e->o.max_samples; }

void promql_result_free(promql_result_t *res)
{
    if (!res) return;
    arena_free(&res->arena);
    memset(res, 0, sizeof *res);
}

_Noreturn void ev_fail(ev_query_t *q, promql_error_type_t type, const char *fmt, ...)
{
    q->err->type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err->message, sizeof q->err->message, fmt, ap);
    va_end(ap);
    longjmp(q->fail, 1);
}

#define CANCEL_POLL_NS 10000000 /* the cancel callback is polled at most this often */

promql_error_type_t ev_interrupted(ev_query_t *q)
{
    int64_t now = clock_mono_ns();
    if (now > q->deadline_ns) return PROMQL_ERR_TIMEOUT;
    if (q->cancelled && now >= q->next_cancel_poll_ns) {
        q->next_cancel_poll_ns = now + CANCEL_POLL_NS;
        if (q->cancelled(q->cancel_arg)) return PROMQL_ERR_CANCELED;
    }
    return PROMQL_ERR_NONE;
}

void ev_fail_interrupted(ev_query_t *q, promql_error_type_t why)
{
    if (why == PROMQL_ERR_CANCELED) ev_fail(q, why, "query was canceled in expression evaluation");
    if (why != PROMQL_ERR_NONE) ev_fail(q, PROMQL_ERR_TIMEOUT, "query timed out in expression evaluation");
}

void ev_check_deadline(ev_query_t *q)
{
    if ((++q->tick & 7) != 0) return;
    ev_fail_interrupted(q, ev_interrupted(q));
}

void *ev_node_cache_get(ev_query_t *q, const node_t *n, int kind)
{
    for (size_t i = 0; i < q->n_ncache; i++)
        if (q->ncache[i].n == n && q->ncache[i].kind == kind) return q->ncache[i].p;
    return NULL;
}

void ev_node_cache_put(ev_query_t *q, const node_t *n, int kind, void *p)
{
    for (size_t i = 0; i < q->n_ncache; i++)
        if (q->ncache[i].n == n && q->ncache[i].kind == kind) {
            q->ncache[i].p = p;
            return;
        }
    XGROW(q->ncache, q->cap_ncache, q->n_ncache + 1);
    q->ncache[q->n_ncache++] = (node_cache_t){n, kind, p};
}

/* Hands out the sids of a complete state's series. */
static void assign_sids(ev_query_t *q, sel_state_t *st)
{
    if ((uint64_t)q->n_sids + st->n + 1 > UINT32_MAX) {
        st->sid_base = 0; /* out of ids: this state's series carry no identity */
        return;
    }
    st->sid_base = q->n_sids + 1;
    q->n_sids += (uint32_t)st->n;
}

void ev_count_samples(ev_query_t *q, size_t n)
{
    q->samples += n;
    if (q->samples > q->max_samples)
        ev_fail(q, PROMQL_ERR_EXECUTION, "query processing would load too many samples into memory in query execution");
}

static sel_state_t *state_new(ev_query_t *q, size_t n)
{
    sel_state_t *st = xcalloc(1, sizeof *st);
    XGROW(q->states, q->cap_states, q->n_states + 1);
    q->states[q->n_states++] = st;
    st->n = n;
    st->lbls = xcalloc(n ? n : 1, sizeof(labels_t));
    st->data = xcalloc(n ? n : 1, sizeof(sample_vec_t));
    st->lo = xcalloc(n ? n : 1, sizeof(size_t));
    st->hi = xcalloc(n ? n : 1, sizeof(size_t));
    st->loaded = true;
    return st;
}

static void state_free(sel_state_t *st)
{
    for (size_t i = 0; i < st->n; i++) sample_vec_free(&st->data[i]);
    free(st->lbls);
    free(st->data);
    free(st->lo);
    free(st->hi);
    free(st);
}

static void state_grow(sel_state_t *st, size_t *cap, size_t need)
{
    if (need <= *cap) return;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    st->lbls = xrealloc(st->lbls, nc * sizeof(labels_t));
    st->data = xrealloc(st->data, nc * sizeof(sample_vec_t));
    st->lo = xrealloc(st->lo, nc * sizeof(size_t));
    st->hi = xrealloc(st->hi, nc * sizeof(size_t));
    memset(st->data + *cap, 0, (nc - *cap) * sizeof(sample_vec_t));
    memset(st->lo + *cap, 0, (nc - *cap) * sizeof(size_t));
    memset(st->hi + *cap, 0, (nc - *cap) * sizeof(size_t));
    *cap = nc;
}

static labels_t lbl_copy(arena_t *a, labels_t m)
{
    labels_t r = {arena_alloc(a, (m.n ? m.n : 1) * sizeof(label_t)), m.n};
    for (size_t i = 0; i < m.n; i++) {
        r.v[i].name = arena_strndup(a, m.v[i].name, m.v[i].name_len);
        r.v[i].value = arena_strndup(a, m.v[i].value, m.v[i].value_len);
        r.v[i].name_len = m.v[i].name_len;
        r.v[i].value_len = m.v[i].value_len;
    }
    return r;
}

static void push_sample(sample_vec_t *sv, int64_t t, double v)
{
    XGROW(sv->v, sv->cap, sv->n + 1);
    sv->v[sv->n++] = (sample_t){t, v};
}


/* ---- the time span each selector needs ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

/* The inner step range of a subquery evaluated for outer times [rs, re]. */
static void subquery_span(ev_query_t *q, node_t *n, int64_t rs, int64_t re, int64_t *is, int64_t *ie, int64_t *step)
{
    int64_t a = rs, b = re;
    if (n->sq.at_kind != AT_NONE) a = b = n->sq.at;
    a -= n->sq.offset;
    b -= n->sq.offset;
    int64_t iv = n->sq.step > 0 ? n->sq.step : DEFAULT_SUBQUERY_STEP_MS;
    int64_t lo = a - n->sq.range;
    int64_t s = floor_div(lo, iv) * iv;
    if (s < lo) s += iv;
    *is = s;
    *ie = b;
    *step = iv;
    (void)q;
}

static void resolve_at(ev_query_t *q, at_kind_t k, int64_t *at)
{
    if (k == AT_START) *at = q->start;
    else if (k == AT_END) *at = q->end;
}

static void span_bounds(ev_query_t *q, node_t *n, int64_t rs, int64_t re, int64_t *mint, int64_t *maxt)
{
    if (!n) return;
    switch (n->kind) {
    case N_VECTOR_SEL:
    case N_MATRIX_SEL: {
        node_t *vs = n->kind == N_VECTOR_SEL ? n : n->ms.vs;
        resolve_at(q, vs->vs.at_kind, &vs->vs.at);
        int64_t a = rs, b = re;
        if (vs->vs.at_kind != AT_NONE) a = b = vs->vs.at;
        a -= vs->vs.offset;
        b -= vs->vs.offset;
        int64_t back = n->kind == N_VECTOR_SEL ? q->lookback : n->ms.range;
        if (a - back + q->open < *mint) *mint = a - back + q->open;
        if (b > *maxt) *maxt = b;
        return;
    }
    case N_SUBQUERY: {
        resolve_at(q, n->sq.at_kind, &n->sq.at);
        int64_t is, ie, st;
        subquery_span(q, n, rs, re, &is, &ie, &st);
        if (is <= ie) span_bounds(q, n->sq.expr, is, ie, mint, maxt);
        return;
    }
    case N_PAREN: span_bounds(q, n->paren.expr, rs, re, mint, maxt); return;
    case N_UNARY: span_bounds(q, n->unary.expr, rs, re, mint, maxt); return;
    case N_BINARY:
        span_bounds(q, n->bin.lhs, rs, re, mint, maxt);
        span_bounds(q, n->bin.rhs, rs, re, mint, maxt);
        return;
    case N_AGG:
        span_bounds(q, n->agg.param, rs, re, mint, maxt);
        span_bounds(q, n->agg.expr, rs, re, mint, maxt);
        return;
    case N_CALL: {
        func_id_t id = n->call.fn->id;
        if ((id == F_PREDICT_LINEAR || id == F_TIMESTAMP) && n->call.nargs > 0) {
            node_t *a = node_unparen(n->call.args[0]);
            if (id == F_PREDICT_LINEAR && a->kind == N_MATRIX_SEL) a->ms.vs->vs.at_shift = true;
            if (id == F_PREDICT_LINEAR && a->kind == N_SUBQUERY) a->sq.at_shift = true;
            if (id == F_TIMESTAMP && a->kind == N_VECTOR_SEL) a->vs.at_ignores_offset = true;
        }
        for (size_t i = 0; i < n->call.nargs; i++) span_bounds(q, n->call.args[i], rs, re, mint, maxt);
        return;
    }
    default: return;
    }
}

/* ---- collecting step outputs into series (range queries and subqueries) ---- */

typedef struct coll {
    sel_state_t *st;
    size_t cap;
    hmap_t h;
    size_t hcap;
    uint32_t *idx_of_sid; /* output series index + 1 per input sid, 0 = not seen yet */
    uint32_t nsid;
} coll_t;

static void coll_rehash(ev_query_t *q, coll_t *c)
{
    size_t want = c->st->n * 2 + 16;
    hmap_init(&c->h, &q->arena, want);
    c->hcap = want;
    for (size_t i = 0; i < c->st->n; i++) {
        bool found;
        uint64_t hsh = lbl_hash(c->st->lbls[i]);
        size_t *slot = hmap_put(&c->h, hsh, &found);
        while (found) { /* collision: chain by perturbing the key deterministically */
            hsh = hsh * 0x9e3779b97f4a7c15ULL + 1;
            slot = hmap_put(&c->h, hsh, &found);
        }
        *slot = i;
    }
}

static void coll_add(ev_query_t *q, coll_t *c, labels_t m, uint32_t sid, int64_t t, double v)
{
    size_t idx = SIZE_MAX;
    if (sid >= c->nsid && sid <= q->n_sids) { /* sids handed out since the loop began: grow */
        uint32_t nn = q->n_sids + 1;
        if (nn < UINT32_MAX / 2 && nn < c->nsid * 2) nn = c->nsid * 2;
        uint32_t *g = arena_calloc(&q->arena, nn, sizeof(uint32_t));
        memcpy(g, c->idx_of_sid, c->nsid * sizeof(uint32_t));
        c->idx_of_sid = g;
        c->nsid = nn;
    }
    if (sid && sid < c->nsid && c->idx_of_sid[sid]) { /* same sid, same labels: found before */
        idx = c->idx_of_sid[sid] - 1;
        goto push;
    }
    if (c->st->n + 1 > c->hcap / 2) coll_rehash(q, c);
    uint64_t hsh = lbl_hash(m);
    while (1) {
        size_t *slot = hmap_get(&c->h, hsh);
        if (!slot) break;
        labels_t o = c->st->lbls[*slot];
        if (labels_equal(o.v, o.n, m.v, m.n)) {
            idx = *slot;
            break;
        }
        hsh = hsh * 0x9e3779b97f4a7c15ULL + 1;
    }
    if (idx == SIZE_MAX) {
        state_grow(c->st, &c->cap, c->st->n + 1);
        idx = c->st->n++;
        c->st->lbls[idx] = lbl_copy(&q->arena, m);
        c->st->data[idx] = (sample_vec_t){0};
        c->st->lo[idx] = c->st->hi[idx] = 0;
        bool found;
        size_t *slot = hmap_put(&c->h, hsh, &found);
        *slot = idx;
    }
    if (sid && sid < c->nsid && idx < UINT32_MAX) c->idx_of_sid[sid] = (uint32_t)(idx + 1);
push:;
    sample_vec_t *sv = &c->st->data[idx];
    if (sv->n && sv->v[sv->n - 1].t == t)
        ev_fail(q, PROMQL_ERR_EXECUTION, "vector cannot contain metrics with the same labelset");
    push_sample(sv, t, v);
    ev_count_samples(q, 1);
}

/* Scratch arenas in use, so that a failure can free them. */
typedef struct scratch_stack {
    arena_t *a[64];
    int n;
} scratch_stack_t;
static _Thread_local scratch_stack_t *tl_scratch;

static void prepare(ev_query_t *q, node_t *n, int64_t rs, int64_t re, int64_t step);

/* Evaluates root at every step of [start, end] and returns the outputs as series. */
static sel_state_t *run_steps(ev_query_t *q, node_t *root, int64_t start, int64_t end, int64_t step)
{
    coll_t c = {0};
    c.st = state_new(q, 0);
    coll_rehash(q, &c);
    if (start > end) return c.st;
    prepare(q, root, start, end, step);
    c.nsid = q->n_sids + 1; /* selector/subquery sids exist now; aggregations add more (grown) */
    c.idx_of_sid = arena_calloc(&q->arena, c.nsid, sizeof(uint32_t));
    scratch_stack_t *ss = tl_scratch;
    if (ss->n == 64) ev_fail(q, PROMQL_ERR_EXECUTION, "subqueries nested too deeply");
    arena_t *a = xcalloc(1, sizeof *a);
    ss->a[ss->n++] = a;
    for (int64_t t = start; t <= end; t += step) {
        ev_check_deadline(q);
        ev_ctx_t ctx = {q, a, t, start, step};
        ev_val_t v;
        ev_eval(&ctx, root, &v);
        if (v.type == VT_SCALAR) {
            labels_t none = {NULL, 0};
            coll_add(q, &c, none, 0, t, v.scalar);
        } else if (v.type == VT_VECTOR) {
            for (size_t i = 0; i < v.vec.n; i++)
                coll_add(q, &c, v.vec.s[i].metric, v.vec.s[i].sid, t, v.vec.s[i].v);
        }
        arena_free(a);
        if (step <= 0) break;
    }
    ss->n--;
    free(a);
    return c.st;
}

/* ---- loading a selector's samples, in parallel over series ---- */

#define LOAD_CHUNK 32        /* series per work item */
#define LOAD_BATCH 8192      /* series loaded between checks of max_samples and the deadline */
#define LOAD_PAR_MIN 256     /* fewer series than this load on the query thread alone */

typedef struct load_job {
    const series_set_t *set;
    sel_state_t *st;
    size_t base;
    int64_t mint, maxt;
    bool range, last_only;
    atomic_int rc;           /* first storage error */
} load_job_t;

/* Keeps what evaluation can use of a series just read into sv: its newest sample for a
 * last_only selector, otherwise all of it with the reader's chunk-sized slack given back, so a
 * selector over many series holds about what it loaded, not a spare chunk per series. */
static void load_trim(sample_vec_t *sv, bool last_only)
{
    if (last_only && sv->n > 1) {
        sv->v[0] = sv->v[sv->n - 1];
        sv->n = 1;
    }
    if (sv->cap > sv->n + sv->n / 4 + 16) {
        size_t nc = sv->n ? sv->n : 1;
        sv->v = xrealloc(sv->v, nc * sizeof(sample_t));
        sv->cap = nc;
    }
}

/* ev_parallel_for callback. Relies on series_set_samples being safe to call from several
 * threads at once for distinct series of one set: the head reader locks each series, the block
 * reader only reads its mapped files. */
static void load_chunk(void *arg, size_t i0, size_t i1)
{
    load_job_t *j = arg;
    size_t guess = 0; /* series of one selector tend to hold alike counts: size for the last one */
    for (size_t i = j->base + i0; i < j->base + i1; i++) {
        sample_vec_t *sv = &j->st->data[i];
        if (guess && !sv->cap) {
            sv->cap = guess + guess / 4 + 128; /* readers reserve a whole chunk ahead */
            sv->v = xmalloc(sv->cap * sizeof(sample_t));
        }
        int rc = series_set_samples(j->set, i, j->mint, j->maxt, sv);
        guess = sv->n;
        if (rc != 0) {
            int none = 0;
            atomic_compare_exchange_strong(&j->rc, &none, rc);
            return;
        }
        if (j->range) { /* range vectors never contain stale markers */
            size_t k = 0;
            for (size_t x = 0; x < sv->n; x++)
                if (!ev_is_stale(sv->v[x].v)) sv->v[k++] = sv->v[x];
            sv->n = k;
        }
        load_trim(sv, j->last_only);
    }
}

void ev_sel_load(ev_query_t *q, sel_state_t *st)
{
    if (st->loaded) return;
    st->loaded = true;
    size_t ns = st->n;
    load_job_t job = {st->set, st, 0, st->mint, st->maxt, st->range, st->last_only, 0};
    int nth = ns >= LOAD_PAR_MIN ? q->nthreads : 1;
    for (size_t b0 = 0; b0 < ns; b0 += LOAD_BATCH) {
        ev_fail_interrupted(q, ev_interrupted(q));
        size_t b1 = b0 + LOAD_BATCH < ns ? b0 + LOAD_BATCH : ns;
        job.base = b0;
        ev_parallel_for(nth, b1 - b0, LOAD_CHUNK, load_chunk, &job);
        int rc = atomic_load(&job.rc);
        if (rc != 0) ev_fail(q, PROMQL_ERR_INTERNAL, "storage read failed: %s", ms_strerror(rc));
        for (size_t i = b0; i < b1; i++) ev_count_samples(q, st->data[i].n);
    }
}

sel_state_t *ev_sel_open(ev_query_t *q, node_t *n, int64_t rs, int64_t re)
{
    node_t *vs = n->kind == N_VECTOR_SEL ? n : n->ms.vs;
    int64_t a = rs, b = re;
    if (vs->vs.at_kind != AT_NONE) a = b = vs->vs.at;
    a -= vs->vs.offset;
    b -= vs->vs.offset;
    bool range = n->kind == N_MATRIX_SEL;
    int64_t mint = a - (range ? n->ms.range : q->lookback) + q->open, maxt = b;
    if (maxt > q->load_maxt_cap) maxt = q->load_maxt_cap;
    series_set_t *set;
    int rc = querier_select(q->q, (const matcher_t *const *)vs->vs.ms, vs->vs.n_ms, &set);
    if (rc != 0) ev_fail(q, PROMQL_ERR_INTERNAL, "storage select failed: %s", ms_strerror(rc));
    XGROW(q->sets, q->cap_sets, q->n_sets + 1);
    q->sets[q->n_sets++] = set;
    size_t ns = series_set_len(set);
    sel_state_t *st = state_new(q, ns);
    for (size_t i = 0; i < ns; i++) st->lbls[i] = series_set_labels(set, i);
    st->set = set;
    st->mint = mint;
    st->maxt = maxt;
    st->range = range;
    /* one evaluation time at maxt: eval_vector_sel only ever looks at the newest sample there
     * (not so for the @ quirks, whose evaluation time is not the end of the span read) */
    st->last_only = !range && rs == re && !vs->vs.at_shift && !vs->vs.at_ignores_offset;
    st->loaded = false;
    vs->vs.st = st;
    assign_sids(q, st);
    return st;
}

/* Loads selectors and materialises subqueries for evaluation over outer times [rs, re] every
 * step (0: one instant evaluation), and sets up per-node caches for that loop. */
static void prepare(ev_query_t *q, node_t *n, int64_t rs, int64_t re, int64_t step)
{
    if (!n) return;
    switch (n->kind) {
    case N_VECTOR_SEL:
    case N_MATRIX_SEL: ev_sel_load(q, ev_sel_open(q, n, rs, re)); return;
    case N_SUBQUERY: {
        int64_t is, ie, istep;
        subquery_span(q, n, rs, re, &is, &ie, &istep);
        if (n->sq.at_shift && n->sq.at_kind != AT_NONE && re > rs) {
            /* steps run on past `at`, as far as the shifted window end reaches; data stops at `at` */
            int64_t cap = q->load_maxt_cap;
            if (ie < q->load_maxt_cap) q->load_maxt_cap = ie;
            n->sq.st = run_steps(q, n->sq.expr, is, ie + (re - rs), istep);
            q->load_maxt_cap = cap;
        } else {
            n->sq.st = run_steps(q, n->sq.expr, is, ie, istep);
        }
        assign_sids(q, n->sq.st);
        return;
    }
    case N_PAREN: prepare(q, n->paren.expr, rs, re, step); return;
    case N_UNARY: prepare(q, n->unary.expr, rs, re, step); return;
    case N_BINARY:
        prepare(q, n->bin.lhs, rs, re, step);
        prepare(q, n->bin.rhs, rs, re, step);
        return;
    case N_AGG:
        prepare(q, n->agg.param, rs, re, step);
        prepare(q, n->agg.expr, rs, re, step);
        return;
    case N_CALL:
        if (ev_range_prepare_streamed(q, n, rs, re, step)) return;
        for (size_t i = 0; i < n->call.nargs; i++) prepare(q, n->call.args[i], rs, re, step);
        ev_range_prepare(q, n, rs, re, step);
        return;
    default: return;
    }
}

/* ---- selector evaluation ---- */

int64_t ev_sel_time(int64_t t, at_kind_t k, int64_t at, int64_t offset)
{
    return (k != AT_NONE ? at : t) - offset;
}

int64_t ev_vs_time(const ev_ctx_t *c, const node_t *vs)
{
    if (vs->vs.at_kind != AT_NONE && vs->vs.at_shift) return vs->vs.at + (c->t - c->run_start) - vs->vs.offset;
    if (vs->vs.at_kind != AT_NONE && vs->vs.at_ignores_offset) return vs->vs.at;
    return ev_sel_time(c->t, vs->vs.at_kind, vs->vs.at, vs->vs.offset);
}

int64_t ev_sq_time(const ev_ctx_t *c, const node_t *sq)
{
    if (sq->sq.at_kind != AT_NONE && sq->sq.at_shift) return sq->sq.at + (c->t - c->run_start) - sq->sq.offset;
    return ev_sel_time(c->t, sq->sq.at_kind, sq->sq.at, sq->sq.offset);
}

static void state_seek(sel_state_t *st, int64_t tp)
{
    if (st->started && tp < st->last_t) {
        memset(st->lo, 0, st->n * sizeof(size_t));
        memset(st->hi, 0, st->n * sizeof(size_t));
    }
    st->started = true;
    st->last_t = tp;
}

static void eval_vector_sel(ev_ctx_t *c, node_t *n, ev_val_t *out)
{
    sel_state_t *st = n->vs.st;
    ev_sel_load(c->q, st);
    int64_t tp = ev_vs_time(c, n);
    state_seek(st, tp);
    out->type = VT_VECTOR;
    out->vec.s = arena_alloc(c->a, (st->n ? st->n : 1) * sizeof(ev_sample_t));
    out->vec.n = 0;
    for (size_t i = 0; i < st->n; i++) {
        const sample_vec_t *sv = &st->data[i];
        size_t hi = st->hi[i];
        while (hi < sv->n && sv->v[hi].t <= tp) hi++;
        st->hi[i] = hi;
        if (hi == 0) continue;
        const sample_t *s = &sv->v[hi - 1];
        if (s->t < tp - c->q->lookback + c->q->open || ev_is_stale(s->v)) continue;
        out->vec.s[out->vec.n++] = (ev_sample_t){st->lbls[i], s->v, s->t, st->sid_base ? st->sid_base + (uint32_t)i : 0};
    }
}

static void eval_window(ev_ctx_t *c, sel_state_t *st, int64_t tp, int64_t range, ev_val_t *out)
{
    ev_sel_load(c->q, st);
    state_seek(st, tp);
    out->type = VT_MATRIX;
    out->mat.s = arena_alloc(c->a, (st->n ? st->n : 1) * sizeof(ev_rser_t));
    out->mat.n = 0;
    out->mat.range_start = tp - range;
    out->mat.range_end = tp;
    for (size_t i = 0; i < st->n; i++) {
        const sample_vec_t *sv = &st->data[i];
        size_t lo = st->lo[i], hi = st->hi[i];
        while (lo < sv->n && sv->v[lo].t < tp - range + c->q->open) lo++;
        if (hi < lo) hi = lo;
        while (hi < sv->n && sv->v[hi].t <= tp) hi++;
        st->lo[i] = lo;
        st->hi[i] = hi;
        if (hi > lo)
            out->mat.s[out->mat.n++] =
                (ev_rser_t){st->lbls[i], sv->v + lo, hi - lo, st->sid_base ? st->sid_base + (uint32_t)i : 0};
    }
}

void ev_eval(ev_ctx_t *c, node_t *n, ev_val_t *out)
{
    memset(out, 0, sizeof *out);
    switch (n->kind) {
    case N_NUMBER:
        out->type = VT_SCALAR;
        out->scalar = n->num;
        return;
    case N_STRING:
        out->type = VT_STRING;
        out->str = n->str;
        return;
    case N_PAREN: ev_eval(c, n->paren.expr, out); return;
    case N_VECTOR_SEL: eval_vector_sel(c, n, out); return;
    case N_MATRIX_SEL: {
        node_t *vs = n->ms.vs;
        eval_window(c, vs->vs.st, ev_vs_time(c, vs), n->ms.range, out);
        return;
    }
    case N_SUBQUERY:
        eval_window(c, n->sq.st, ev_sq_time(c, n), n->sq.range, out);
        return;
    case N_UNARY: {
        ev_eval(c, n->unary.expr, out);
        if (n->unary.op != T_SUB) return;
        if (out->type == VT_SCALAR) {
            out->scalar = -out->scalar;
            return;
        }
        ev_sample_t *s = arena_alloc(c->a, (out->vec.n ? out->vec.n : 1) * sizeof *s);
        for (size_t i = 0; i < out->vec.n; i++) {
            s[i] = out->vec.s[i];
            s[i].metric = lbl_drop_name(c->a, s[i].metric);
            s[i].v = -s[i].v;
        }
        out->vec.s = s;
        vec_check_dups(c, &out->vec);
        return;
    }
    case N_BINARY: ev_binary(c, n, out); return;
    case N_AGG: ev_aggregate(c, n, out); return;
    case N_CALL: ev_call(c, n, out); return;
    }
}

/* ---- result building ---- */

static int label_set_cmp(const void *a, const void *b)
{
    const promql_series_t *x = a, *y = b;
    return labels_cmp(x->metric.v, x->metric.n, y->metric.v, y->metric.n);
}

static void result_from_state(promql_result_t *res, const sel_state_t *st)
{
    size_t n = 0;
    for (size_t i = 0; i < st->n; i++)
        if (st->data[i].n) n++;
    res->type = PROMQL_MATRIX;
    res->series = arena_calloc(&res->arena, n ? n : 1, sizeof(promql_series_t));
    res->n_series = 0;
    for (size_t i = 0; i < st->n; i++) {
        const sample_vec_t *sv = &st->data[i];
        if (!sv->n) continue;
        promql_series_t *s = &res->series[res->n_series++];
        s->metric = lbl_copy(&res->arena, st->lbls[i]);
        s->points = arena_alloc(&res->arena, sv->n * sizeof(promql_point_t));
        for (size_t j = 0; j < sv->n; j++) s->points[j] = (promql_point_t){sv->v[j].t, sv->v[j].v};
        s->n_points = sv->n;
    }
    qsort(res->series, res->n_series, sizeof(promql_series_t), label_set_cmp);
}

/* Takes one of the engine's max_concurrent query slots, or returns false at once when all are
 * taken: an overloaded engine refuses (the caller answers 503 with Retry-After) instead of
 * queueing requests without bound. The HTTP layer admits queries against the same limit before
 * they get here; this bounds every other caller too. */
static bool gate_enter(promql_engine_t *e)
{
    pthread_mutex_lock(&e->mu);
    bool ok = e->active < e->o.max_concurrent;
    if (ok) e->active++;
    pthread_mutex_unlock(&e->mu);
    return ok;
}

static void gate_leave(promql_engine_t *e)
{
    pthread_mutex_lock(&e->mu);
    e->active--;
    pthread_mutex_unlock(&e->mu);
}

static int status_for(promql_error_type_t t)
{
    switch (t) {
    case PROMQL_ERR_TIMEOUT: return MS_ETIMEOUT;
    case PROMQL_ERR_CANCELED: return MS_ECANCELED;
    case PROMQL_ERR_INTERNAL: return MS_EIO;
    case PROMQL_ERR_EXECUTION: return MS_ELIMIT;
    case PROMQL_ERR_UNAVAILABLE: return MS_EBUSY;
    default: return MS_EINVAL;
    }
}

static void set_err(promql_error_t *err, promql_error_type_t t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(promql_error_t *err, promql_error_type_t t, const char *fmt, ...)
{
    err->type = t;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* Runs one query: instant when step == 0. */
static int run_query(promql_engine_t *e, const char *query, int64_t start, int64_t end, int64_t step,
                     const promql_exec_t *x, promql_result_t *res, promql_error_t *err)
{
    int64_t timeout_ms = x->timeout_ms;
    memset(err, 0, sizeof *err);
    memset(res, 0, sizeof *res);
    ev_query_t *q = xcalloc(1, sizeof *q);
    q->e = e;
    q->db = e->db;
    q->start = start;
    q->end = end;
    q->step = step;
    q->lookback = e->o.lookback_delta_ms;
    q->load_maxt_cap = INT64_MAX;
    q->open = e->o.left_open_windows ? 1 : 0;
    q->max_samples = e->o.max_samples;
    q->nthreads = e->nthreads;
    q->err = err;
    node_t *root = NULL;
    char perr[1024];
    if (promql_parse(query, strlen(query), &q->arena, &root, perr, sizeof perr) != 0) {
        set_err(err, PROMQL_ERR_BAD_DATA, "%s", perr);
        arena_free(&q->arena);
        free(q);
        return MS_EINVAL;
    }
    val_type_t rt = node_type(root);
    if (step > 0 && rt != VT_SCALAR && rt != VT_VECTOR) {
        set_err(err, PROMQL_ERR_BAD_DATA, "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
                val_type_str(rt));
        ast_free_matchers(root);
        arena_free(&q->arena);
        free(q);
        return MS_EINVAL;
    }
    if (!gate_enter(e)) {
        set_err(err, PROMQL_ERR_UNAVAILABLE, "too many concurrent queries (limit %d, --query.max-concurrency); retry later",
                e->o.max_concurrent);
        ast_free_matchers(root);
        arena_free(&q->arena);
        free(q);
        return MS_EBUSY;
    }
    q->deadline_ns = clock_mono_ns() + (timeout_ms > 0 ? timeout_ms : e->o.default_timeout_ms) * 1000000LL;
    q->cancelled = x->cancelled;
    q->cancel_arg = x->cancel_arg;
    scratch_stack_t ss = {{0}, 0};
    scratch_stack_t *prev_ss = tl_scratch;
    tl_scratch = &ss;
    volatile int rc = 0;
    if (setjmp(q->fail) == 0) {
        int64_t mint = INT64_MAX, maxt = INT64_MIN;
        span_bounds(q, root, start, end, &mint, &maxt);
        if (mint > maxt) mint = maxt = start;
        int qrc = db_querier(e->db, mint, maxt, &q->q);
        if (qrc == 0 && x->tenant) qrc = querier_set_tenant(q->q, x->tenant, x->tenant_len);
        if (qrc != 0) ev_fail(q, PROMQL_ERR_INTERNAL, "opening querier: %s", ms_strerror(qrc));
        if (step > 0) {
            sel_state_t *st = run_steps(q, root, start, end, step);
            result_from_state(res, st);
        } else {
            prepare(q, root, start, start, 0);
            arena_t *a = xcalloc(1, sizeof *a);
            ss.a[ss.n++] = a;
            ev_ctx_t ctx = {q, a, start, start, 0};
            ev_val_t v;
            ev_eval(&ctx, root, &v);
            switch (v.type) {
            case VT_SCALAR:
                res->type = PROMQL_SCALAR;
                res->scalar = (promql_point_t){start, v.scalar};
                break;
            case VT_STRING:
                res->type = PROMQL_STRING;
                res->scalar.t = start;
                res->string = arena_strndup(&res->arena, v.str.s, v.str.len);
                break;
            case VT_VECTOR:
                res->type = PROMQL_VECTOR;
                res->n_series = v.vec.n;
                res->series = arena_calloc(&res->arena, v.vec.n ? v.vec.n : 1, sizeof(promql_series_t));
                for (size_t i = 0; i < v.vec.n; i++) {
                    promql_series_t *s = &res->series[i];
                    s->metric = lbl_copy(&res->arena, v.vec.s[i].metric);
                    s->points = arena_alloc(&res->arena, sizeof(promql_point_t));
                    s->points[0] = (promql_point_t){start, v.vec.s[i].v};
                    s->n_points = 1;
                }
                break;
            case VT_MATRIX:
                res->type = PROMQL_MATRIX;
                res->n_series = v.mat.n;
                res->series = arena_calloc(&res->arena, v.mat.n ? v.mat.n : 1, sizeof(promql_series_t));
                for (size_t i = 0; i < v.mat.n; i++) {
                    promql_series_t *s = &res->series[i];
                    s->metric = lbl_copy(&res->arena, v.mat.s[i].metric);
                    s->points = arena_alloc(&res->arena, v.mat.s[i].n * sizeof(promql_point_t));
                    for (size_t j = 0; j < v.mat.s[i].n; j++)
                        s->points[j] = (promql_point_t){v.mat.s[i].pts[j].t, v.mat.s[i].pts[j].v};
                    s->n_points = v.mat.s[i].n;
                }
                qsort(res->series, res->n_series, sizeof(promql_series_t), label_set_cmp);
                break;
            default: break;
            }
        }
    } else {
        rc = status_for(err->type);
        promql_result_free(res);
    }
    for (int i = 0; i < ss.n; i++) {
        arena_free(ss.a[i]);
        free(ss.a[i]);
    }
    tl_scratch = prev_ss;
    for (size_t i = 0; i < q->n_states; i++) state_free(q->states[i]);
    free(q->states);
    for (size_t i = 0; i < q->n_sets; i++) series_set_free(q->sets[i]);
    free(q->sets);
    querier_close(q->q);
    buf_free(&q->hbuf);
    free(q->ncache); /* the caches themselves live in q->arena */
    ev_regex_cache_free(q);
    ast_free_matchers(root);
    arena_free(&q->arena);
    free(q);
    gate_leave(e);
    return rc;
}

int promql_query_instant(promql_engine_t *e, const char *query, int64_t t_ms, int64_t timeout_ms, promql_result_t *res,
                         promql_error_t *err)
{
    promql_exec_t x = {timeout_ms, NULL, 0, NULL, NULL};
    return promql_query_instant_exec(e, query, t_ms, &x, res, err);
}

int promql_query_instant_exec(promql_engine_t *e, const char *query, int64_t t_ms, const promql_exec_t *x,
                              promql_result_t *res, promql_error_t *err)
{
    promql_error_t dummy;
    return run_query(e, query, t_ms, t_ms, 0, x, res, err ? err : &dummy);
}

int promql_query_range(promql_engine_t *e, const char *query, int64_t start_ms, int64_t end_ms, int64_t step_ms,
                       int64_t timeout_ms, promql_result_t *res, promql_error_t *err)
{
    promql_exec_t x = {timeout_ms, NULL, 0, NULL, NULL};
    return promql_query_range_exec(e, query, start_ms, end_ms, step_ms, &x, res, err);
}

int promql_query_range_exec(promql_engine_t *e, const char *query, int64_t start_ms, int64_t end_ms, int64_t step_ms,
                            const promql_exec_t *x, promql_result_t *res, promql_error_t *err)
{
    promql_error_t dummy;
    if (!err) err = &dummy;
    memset(res, 0, sizeof *res);
    if (step_ms <= 0) {
        set_err(err, PROMQL_ERR_BAD_DATA, "zero or negative query resolution step widths are not accepted. Try a positive integer");
        return MS_EINVAL;
    }
    if (end_ms < start_ms) {
        set_err(err, PROMQL_ERR_BAD_DATA, "end timestamp must not be before start time");
        return MS_EINVAL;
    }
    if ((uint64_t)((end_ms - start_ms) / step_ms) > e->o.max_points_per_series) {
        char num[32], grouped[48];
        int len = snprintf(num, sizeof num, "%llu", (unsigned long long)e->o.max_points_per_series), k = 0;
        for (int i = 0; i < len; i++) {
            if (i > 0 && (len - i) % 3 == 0) grouped[k++] = ',';
            grouped[k++] = num[i];
        }
        grouped[k] = 0;
        set_err(err, PROMQL_ERR_BAD_DATA,
                "exceeded maximum resolution of %s points per timeseries. Try decreasing the query resolution (?step=XX)",
                grouped);
        return MS_EINVAL;
    }
    return run_query(e, query, start_ms, end_ms, step_ms, x, res, err);  /* err set above */
}
