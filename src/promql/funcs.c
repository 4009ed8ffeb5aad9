/* funcs.c owns function-call evaluation at one step: it evaluates arguments, applies the
 * numeric kernels (kernels.h) per series, and implements the functions that need labels or the
 * AST (label_replace, label_join, absent, absent_over_time, histogram_quantile grouping, vector,
 * scalar, time, timestamp, sort, sort_desc), with Prometheus's metric-name dropping rules. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "promql/eval.h"
#include "promql/kernels.h"
#include "promql/parse.h"
#include "util/alloc.h"
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ev_vec_t new_vec(ev_ctx_t *c, size_t cap)
{
    return (ev_vec_t){arena_alloc(c->a, (cap + 1) * sizeof(ev_sample_t)), 0};
}

/* Labels for absent()/absent_over_time(): the equality matchers of a selector argument. */
static labels_t absent_labels(ev_ctx_t *c, node_t *arg)
{
    labels_t m = {NULL, 0};
    node_t *n = arg;
    if (n->kind == N_MATRIX_SEL) n = n->ms.vs;
    if (n->kind != N_VECTOR_SEL) return m;
    str_t *empty = arena_alloc(c->a, (n->vs.n_ms + 1) * sizeof(str_t));
    size_t ne = 0;
    for (size_t i = 0; i < n->vs.n_ms; i++) {
        matcher_t *ma = n->vs.ms[i];
        if (strcmp(ma->name, METRIC_NAME_LABEL) == 0) continue;
        uint32_t vl;
        bool has = false;
        for (size_t j = 0; j < m.n; j++)
            if (m.v[j].name_len == ma->name_len && memcmp(m.v[j].name, ma->name, ma->name_len) == 0) has = true;
        (void)vl;
        if (ma->type == MATCH_EQ && !has) m = lbl_set(c->a, m, ma->name, ma->name_len, ma->value, ma->value_len);
        else empty[ne++] = (str_t){ma->name, ma->name_len};
    }
    if (ne) m = lbl_del(c->a, m, empty, ne, false);
    return m;
}

bool ev_range_kernel(func_id_t id, const sample_t *pts, size_t n, int64_t range_start, int64_t range_end, int64_t t,
                     const double *sc, arena_t *a, double *out)
{
    switch (id) {
    case F_RATE: return kern_rate(pts, n, range_start, range_end, out);
    case F_INCREASE: return kern_increase(pts, n, range_start, range_end, out);
    case F_DELTA: return kern_delta(pts, n, range_start, range_end, out);
    case F_IRATE: return kern_irate(pts, n, out);
    case F_IDELTA: return kern_idelta(pts, n, out);
    case F_DERIV: return kern_deriv(pts, n, out);
    case F_PREDICT_LINEAR: return kern_predict_linear(pts, n, t, sc[0], out);
    case F_RESETS: return kern_resets(pts, n, out);
    case F_CHANGES: return kern_changes(pts, n, out);
    case F_HOLT_WINTERS: return kern_holt_winters(pts, n, sc[0], sc[1], out);
    case F_AVG_OVER_TIME: return kern_avg_over_time(pts, n, out);
    case F_MIN_OVER_TIME: return kern_min_over_time(pts, n, out);
    case F_MAX_OVER_TIME: return kern_max_over_time(pts, n, out);
    case F_SUM_OVER_TIME: return kern_sum_over_time(pts, n, out);
    case F_COUNT_OVER_TIME: return kern_count_over_time(pts, n, out);
    case F_LAST_OVER_TIME: return kern_last_over_time(pts, n, out);
    case F_PRESENT_OVER_TIME: return kern_present_over_time(pts, n, out);
    case F_STDDEV_OVER_TIME: return kern_stddev_over_time(pts, n, out);
    case F_STDVAR_OVER_TIME: return kern_stdvar_over_time(pts, n, out);
    case F_QUANTILE_OVER_TIME: {
        if (!a) return false;
        double *scratch = arena_alloc(a, (n + 1) * sizeof(double));
        return kern_quantile_over_time(sc[0], pts, n, scratch, out);
    }
    default: return false;
    }
}

static void call_range(ev_ctx_t *c, node_t *n, ev_val_t *out)
{
    func_id_t id = n->call.fn->id;
    size_t mi = id == F_QUANTILE_OVER_TIME ? 1 : 0;
    double sc[2] = {0, 0};
    size_t k = 0;
    for (size_t i = 0; i < n->call.nargs; i++) {
        if (i == mi) continue;
        ev_val_t v;
        ev_eval(c, n->call.args[i], &v);
        if (k < 2) sc[k++] = v.scalar;
    }
    if (id == F_HOLT_WINTERS && !kern_holt_winters_check_args(sc[0], sc[1])) {
        if (!(sc[0] > 0 && sc[0] < 1))
            ev_fail(c->q, PROMQL_ERR_EXECUTION, "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sc[0]);
        ev_fail(c->q, PROMQL_ERR_EXECUTION, "invalid trend factor. Expected: 0 < tf < 1, got: %f", sc[1]);
    }
    if (ev_range_lookup(c, n, sc, out)) return;
    ev_val_t mv;
    ev_eval(c, n->call.args[mi], &mv);
    const ev_mat_t *mat = &mv.mat;
    out->type = VT_VECTOR;
    out->vec = new_vec(c, mat->n);
    if (id == F_ABSENT_OVER_TIME) {
        if (mat->n == 0)
            out->vec.s[out->vec.n++] = (ev_sample_t){absent_labels(c, node_unparen(n->call.args[0])), 1, c->t, 0};
        return;
    }
    for (size_t i = 0; i < mat->n; i++) {
        double v;
        const ev_rser_t *rs = &mat->s[i];
        if (!ev_range_kernel(id, rs->pts, rs->n, mat->range_start, mat->range_end, c->t, sc, c->a, &v)) continue;
        labels_t m = id == F_LAST_OVER_TIME ? rs->metric : lbl_drop_name(c->a, rs->metric);
        out->vec.s[out->vec.n++] = (ev_sample_t){m, v, c->t, rs->sid};
    }
    vec_check_dups(c, &out->vec);
}

/* ---- label_replace / label_join ---- */

struct re_cache {
    const node_t *n;
    pcre2_code *re;
    pcre2_match_data *md;
};

void ev_regex_cache_free(ev_query_t *q)
{
    for (size_t i = 0; i < q->n_recache; i++) {
        pcre2_match_data_free(q->recache[i].md);
        pcre2_code_free(q->recache[i].re);
    }
    free(q->recache);
    q->recache = NULL;
    q->n_recache = q->cap_recache = 0;
}

/* Go regexp.Expand semantics: $1, ${1}, $name, ${name}; $$ is a literal $. */
static void expand(buf_t *o, const char *tpl, size_t tn, const char *src, const PCRE2_SIZE *ov, uint32_t npairs,
                   pcre2_code *re)
{
    for (size_t i = 0; i < tn;) {
        if (tpl[i] != '$') {
            buf_putc(o, tpl[i++]);
            continue;
        }
        if (i + 1 < tn && tpl[i + 1] == '$') {
            buf_putc(o, '$');
            i += 2;
            continue;
        }
        size_t j = i + 1, ns, ne;
        bool brace = j < tn && tpl[j] == '{';
        if (brace) j++;
        ns = j;
        while (j < tn && (tpl[j] == '_' || (tpl[j] >= 'a' && tpl[j] <= 'z') || (tpl[j] >= 'A' && tpl[j] <= 'Z') ||
                          (tpl[j] >= '0' && tpl[j] <= '9')))
            j++;
        ne = j;
        if (ns == ne || (brace && (j >= tn || tpl[j] != '}'))) { /* malformed: literal $ */
            buf_putc(o, '$');
            i++;
            continue;
        }
        if (brace) j++;
        i = j;
        long grp = -1;
        bool numeric = true;
        for (size_t x = ns; x < ne; x++)
            if (tpl[x] < '0' || tpl[x] > '9') numeric = false;
        if (numeric) {
            grp = 0;
            for (size_t x = ns; x < ne && grp < 100000; x++) grp = grp * 10 + (tpl[x] - '0');
        } else {
            char name[256];
            size_t nl = ne - ns < sizeof name - 1 ? ne - ns : sizeof name - 1;
            memcpy(name, tpl + ns, nl);
            name[nl] = 0;
            int g = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
            grp = g > 0 ? g : -1;
        }
        if (grp >= 0 && (uint32_t)grp < npairs && ov[2 * grp] != PCRE2_UNSET)
            buf_append(o, src + ov[2 * grp], ov[2 * grp + 1] - ov[2 * grp]);
    }
}

static void call_label_replace(ev_ctx_t *c, node_t *n, ev_val_t *out)
{
    ev_val_t in, dst, repl, src, rx;
    ev_eval(c, n->call.args[0], &in);
    ev_eval(c, n->call.args[1], &dst);
    ev_eval(c, n->call.args[2], &repl);
    ev_eval(c, n->call.args[3], &src);
    ev_eval(c, n->call.args[4], &rx);
    pcre2_code *re = NULL;
    pcre2_match_data *md = NULL;
    for (size_t i = 0; i < c->q->n_recache; i++)
        if (c->q->recache[i].n == n) {
            re = c->q->recache[i].re;
            md = c->q->recache[i].md;
        }
    if (!re) {
        char rerr[256];
        if (!promql_regex_re2_check(rx.str.s, rx.str.len, rerr, sizeof rerr))
            ev_fail(c->q, PROMQL_ERR_EXECUTION, "invalid regular expression in label_replace(): %.*s", (int)rx.str.len,
                    rx.str.s);
        buf_t pat = BUF_INIT;
        buf_puts(&pat, "^(?:");
        buf_append(&pat, rx.str.s, rx.str.len);
        buf_puts(&pat, ")$");
        int ec;
        PCRE2_SIZE eoff;
        re = pcre2_compile((PCRE2_SPTR)pat.data, pat.len, PCRE2_UTF, &ec, &eoff, NULL);
        buf_free(&pat);
        if (!re)
            ev_fail(c->q, PROMQL_ERR_EXECUTION, "invalid regular expression in label_replace(): %.*s", (int)rx.str.len,
                    rx.str.s);
        if (!label_name_valid(dst.str.s, dst.str.len)) {
            pcre2_code_free(re);
            ev_fail(c->q, PROMQL_ERR_EXECUTION, "invalid destination label name in label_replace(): %.*s",
                    (int)dst.str.len, dst.str.s);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter is used if JIT is unavailable */
        md = pcre2_match_data_create_from_pattern(re, NULL);
        XGROW(c->q->recache, c->q->cap_recache, c->q->n_recache + 1);
        c->q->recache[c->q->n_recache++] = (struct re_cache){n, re, md};
    }

    out->type = VT_VECTOR;
    out->vec = new_vec(c, in.vec.n);
    buf_t o = BUF_INIT;
    for (size_t i = 0; i < in.vec.n; i++) {
        ev_sample_t s = in.vec.s[i];
        uint32_t sl;
        const char *sv = lbl_get(s.metric, src.str.s, src.str.len, &sl);
        int rc = pcre2_match(re, (PCRE2_SPTR)sv, sl, 0, 0, md, NULL);
        if (rc >= 0) {
            buf_reset(&o);
            expand(&o, repl.str.s, repl.str.len, sv, pcre2_get_ovector_pointer(md), pcre2_get_ovector_count(md), re);
            char *v = arena_strndup(c->a, o.data ? (char *)o.data : "", o.len);
            s.metric = lbl_set(c->a, s.metric, dst.str.s, dst.str.len, v, o.len);
        }
        s.sid = 0;
        s.t = c->t;
        out->vec.s[out->vec.n++] = s;
    }
    buf_free(&o);
    vec_check_dups(c, &out->vec);
}

static void call_label_join(ev_ctx_t *c, node_t *n, ev_val_t *out)
{
    ev_val_t in, dst, sep;
    ev_eval(c, n->call.args[0], &in);
    ev_eval(c, n->call.args[1], &dst);
    ev_eval(c, n->call.args[2], &sep);
    size_t nsrc = n->call.nargs - 3;
    str_t *srcs = arena_alloc(c->a, (nsrc + 1) * sizeof(str_t));
    for (size_t i = 0; i < nsrc; i++) {
        ev_val_t v;
        ev_eval(c, n->call.args[3 + i], &v);
        if (!label_name_valid(v.str.s, v.str.len))
            ev_fail(c->q, PROMQL_ERR_EXECUTION, "invalid source label name in label_join(): %.*s", (int)v.str.len, v.str.s);
        srcs[i] = v.str;
    }
    if (!label_name_valid(dst.str.s, dst.str.len))
        ev_fail(c->q, PROMQL_ERR_EXECUTION, "invalid destination label name in label_join(): %.*s", (int)dst.str.len,
                dst.str.s);
    out->type = VT_VECTOR;
    out->vec = new_vec(c, in.vec.n);
    for (size_t i = 0; i < in.vec.n; i++) {
        ev_sample_t s = in.vec.s[i];
        size_t total = 0;
        for (size_t j = 0; j < nsrc; j++) {
            uint32_t vl;
            lbl_get(s.metric, srcs[j].s, srcs[j].len, &vl);
            total += vl + (j ? sep.str.len : 0);
        }
        char *v = arena_alloc(c->a, total + 1);
        size_t k = 0;
        for (size_t j = 0; j < nsrc; j++) {
            if (j) {
                memcpy(v + k, sep.str.s, sep.str.len);
                k += sep.str.len;
            }
            uint32_t vl;
            const char *sv = lbl_get(s.metric, srcs[j].s, srcs[j].len, &vl);
            memcpy(v + k, sv, vl);
            k += vl;
        }
        s.metric = lbl_set(c->a, s.metric, dst.str.s, dst.str.len, v, k);
        s.sid = 0;
        s.t = c->t;
        out->vec.s[out->vec.n++] = s;
    }
    vec_check_dups(c, &out->vec);
}

/* ---- histogram_quantile over classic buckets ---- */

static void call_histogram_quantile(ev_ctx_t *c, node_t *n, ev_val_t *out)
{
    ev_val_t qv, in;
    ev_eval(c, n->call.args[0], &qv);
    ev_eval(c, n->call.args[1], &in);
    size_t nin = in.vec.n;
    out->type = VT_VECTOR;
    out->vec = new_vec(c, nin);
    str_t le = {"le", 2};
    hmap_t h;
    hmap_init(&h, c->a, nin);
    labels_t *glabels = arena_alloc(c->a, (nin + 1) * sizeof(labels_t));
    size_t *gcount = arena_calloc(c->a, nin + 1, sizeof(size_t));
    size_t *gof = arena_alloc(c->a, (nin + 1) * sizeof(size_t));
    double *ub = arena_alloc(c->a, (nin + 1) * sizeof(double));
    size_t ng = 0;
    for (size_t i = 0; i < nin; i++) {
        gof[i] = SIZE_MAX;
        uint32_t vl;
        const char *v = lbl_get(in.vec.s[i].metric, "le", 2, &vl);
        char buf[64];
        if (vl == 0 || vl >= sizeof buf) continue;
        memcpy(buf, v, vl);
        buf[vl] = 0;
        char *end;
        double b = strtod(buf, &end);
        if (*end != 0) continue;
        ub[i] = b;
        labels_t m = lbl_del(c->a, in.vec.s[i].metric, &le, 1, true);
        bool found;
        size_t *slot = hmap_put(&h, lbl_hash(m), &found);
        if (!found) {
            *slot = ng;
            glabels[ng++] = m;
        }
        gof[i] = *slot;
        gcount[*slot]++;
    }
    kern_bucket_t *b = arena_alloc(c->a, (nin + 1) * sizeof(kern_bucket_t));
    for (size_t g = 0; g < ng; g++) {
        size_t nb = 0;
        for (size_t i = 0; i < nin; i++)
            if (gof[i] == g) b[nb++] = (kern_bucket_t){ub[i], in.vec.s[i].v};
        double v = kern_histogram_quantile(qv.scalar, b, nb);
        out->vec.s[out->vec.n++] = (ev_sample_t){glabels[g], v, c->t, 0};
    }
}

/* ---- sort ---- */

typedef struct sort_ctx {
    bool desc;
} sort_ctx_t;

typedef struct sort_item {
    ev_sample_t s;
    size_t idx;
} sort_item_t;

static int cmp_sort(const void *a, const void *b, void *arg)
{
    const sort_item_t *x = a, *y = b;
    bool desc = ((sort_ctx_t *)arg)->desc;
    bool xn = isnan(x->s.v), yn = isnan(y->s.v);
    if (xn != yn) return xn ? 1 : -1; /* NaN last either way */
    /* Go's insertion sort (used by sort.Sort for small inputs) moves each NaN in front of the
     * NaNs before it, so NaNs end up in reverse input order. */
    if (xn) return x->idx < y->idx ? 1 : x->idx > y->idx ? -1 : 0;
    if (!xn && x->s.v != y->s.v) return (desc ? x->s.v > y->s.v : x->s.v < y->s.v) ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void ev_call(ev_ctx_t *c, node_t *n, ev_val_t *out)
{
    const func_def_t *fn = n->call.fn;
    if (fn->nargs > 0 && fn->args[fn->id == F_QUANTILE_OVER_TIME ? 1 : 0] == VT_MATRIX) {
        call_range(c, n, out);
        return;
    }
    switch (fn->id) {
    case F_TIME:
        out->type = VT_SCALAR;
        out->scalar = (double)c->t / 1000.0;
        return;
    case F_PI:
        out->type = VT_SCALAR;
        out->scalar = kern_pi();
        return;
    case F_VECTOR: {
        ev_val_t v;
        ev_eval(c, n->call.args[0], &v);
        out->type = VT_VECTOR;
        out->vec = new_vec(c, 1);
        out->vec.s[out->vec.n++] = (ev_sample_t){{NULL, 0}, v.scalar, c->t, 0};
        return;
    }
    case F_SCALAR: {
        ev_val_t v;
        ev_eval(c, n->call.args[0], &v);
        out->type = VT_SCALAR;
        out->scalar = v.vec.n == 1 ? v.vec.s[0].v : NAN;
        return;
    }
    case F_LABEL_REPLACE: call_label_replace(c, n, out); return;
    case F_LABEL_JOIN: call_label_join(c, n, out); return;
    case F_HISTOGRAM_QUANTILE: call_histogram_quantile(c, n, out); return;
    default: break;
    }
    /* The remaining functions take an instant vector (date functions default to time()). */
    ev_val_t in;
    size_t vi = fn->id == F_HISTOGRAM_FRACTION ? 2 : 0;
    if (n->call.nargs > vi) {
        ev_eval(c, n->call.args[vi], &in);
    } else {
        in.type = VT_VECTOR;
        in.vec = new_vec(c, 1);
        in.vec.s[in.vec.n++] = (ev_sample_t){{NULL, 0}, (double)c->t / 1000.0, c->t, 0};
    }
    double sc[2] = {0, 0};
    for (size_t i = 1, k = 0; i < n->call.nargs && k < 2; i++) {
        if (i == vi) continue;
        ev_val_t v;
        ev_eval(c, n->call.args[i], &v);
        sc[k++] = v.scalar;
    }
    out->type = VT_VECTOR;
    out->vec = new_vec(c, in.vec.n);
    switch (fn->id) {
    case F_ABSENT:
        if (in.vec.n == 0)
            out->vec.s[out->vec.n++] = (ev_sample_t){absent_labels(c, node_unparen(n->call.args[0])), 1, c->t, 0};
        return;
    case F_SORT:
    case F_SORT_DESC: {
        sort_item_t *it = arena_alloc(c->a, (in.vec.n + 1) * sizeof *it);
        for (size_t i = 0; i < in.vec.n; i++) it[i] = (sort_item_t){in.vec.s[i], i};
        sort_ctx_t sc2 = {fn->id == F_SORT_DESC};
        qsort_r(it, in.vec.n, sizeof *it, cmp_sort, &sc2);
        for (size_t i = 0; i < in.vec.n; i++) out->vec.s[out->vec.n++] = it[i].s;
        return;
    }
    case F_HISTOGRAM_COUNT:
    case F_HISTOGRAM_SUM:
    case F_HISTOGRAM_FRACTION:
        return; /* native histograms only; float samples produce nothing */
    default: break;
    }
    node_t *arg0 = n->call.nargs > 0 ? node_unparen(n->call.args[0]) : NULL;
    bool is_sel = arg0 && arg0->kind == N_VECTOR_SEL;
    kern_math_fn_t mf;
    kern_date_fn_t df;
    bool math = kern_math_lookup(fn->name, strlen(fn->name), &mf);
    bool date = !math && kern_date_lookup(fn->name, strlen(fn->name), &df);
    for (size_t i = 0; i < in.vec.n; i++) {
        const ev_sample_t *s = &in.vec.s[i];
        double v = s->v;
        if (math) v = kern_math_apply(mf, v);
        else if (date) v = kern_date_apply(df, v);
        else {
            switch (fn->id) {
            case F_CLAMP:
                if (!kern_clamp(v, sc[0], sc[1], &v)) return;
                break;
            case F_CLAMP_MIN: v = kern_clamp_min(v, sc[0]); break;
            case F_CLAMP_MAX: v = kern_clamp_max(v, sc[0]); break;
            case F_ROUND: v = kern_round(v, n->call.nargs > 1 ? sc[0] : 1.0); break;
            case F_TIMESTAMP: v = (double)(is_sel ? s->t : c->t) / 1000.0; break;
            default:
                ev_fail(c->q, PROMQL_ERR_INTERNAL, "function %s is not implemented", fn->name);
            }
        }
        out->vec.s[out->vec.n++] = (ev_sample_t){lbl_drop_name(c->a, s->metric), v, c->t, s->sid};
    }
    vec_check_dups(c, &out->vec);
}
