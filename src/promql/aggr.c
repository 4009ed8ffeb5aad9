/* aggr.c owns aggregation at one step (sum min max avg group stddev stdvar count count_values
 * bottomk topk quantile, by/without), streaming the input once through a hash of grouping
 * labels, with groups output in order of first appearance as Prometheus does. */
#include "promql/eval.h"
#include "promql/kernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct group {
    labels_t labels;
    double value, mean;
    double count;
    /* topk/bottomk: indexes into the input, a heap of at most k; quantile: all values */
    size_t *heap;
    size_t nheap;
    double *vals;
    size_t nvals;
} group_t;

/* Formats v like Go's strconv.FormatFloat(v, 'f', -1, 64). */
static int format_float_f(double v, char *out, size_t n)
{
    if (isnan(v)) return snprintf(out, n, "NaN");
    if (isinf(v)) return snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
    /* shortest round-trip digits, then render without exponent */
    char tmp[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* tmp is d.ddde[+-]XX */
    char digits[32];
    int nd = 0, exp10;
    const char *p = tmp;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    size_t k = 0;
    char buf[400];
    if (neg) buf[k++] = '-';
    if (exp10 < 0) {
        buf[k++] = '0';
        buf[k++] = '.';
        for (int i = 0; i < -exp10 - 1; i++) buf[k++] = '0';
        for (int i = 0; i < nd; i++) buf[k++] = digits[i];
    } else {
        for (int i = 0; i <= exp10; i++) buf[k++] = i < nd ? digits[i] : '0';
        if (nd > exp10 + 1) {
            buf[k++] = '.';
            for (int i = exp10 + 1; i < nd; i++) buf[k++] = digits[i];
        }
    }
    buf[k] = 0;
    return snprintf(out, n, "%s", buf);
}

/* Heap ordering: for topk the root is the smallest (NaN counts as smallest); bottomk reversed. */
static bool heap_less(const ev_vec_t *in, bool top, size_t a, size_t b)
{
    double x = in->s[a].v, y = in->s[b].v;
    if (top) {
        if (isnan(x)) return true;
        return x < y;
    }
    if (isnan(x)) return true;
    return x > y;
}

static void heap_down(const ev_vec_t *in, bool top, size_t *h, size_t n, size_t i)
{
    while (1) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && heap_less(in, top, h[l], h[m])) m = l;
        if (l + 1 < n && heap_less(in, top, h[l + 1], h[m])) m = l + 1;
        if (m == i) return;
        size_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(const ev_vec_t *in, bool top, size_t *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(in, top, h[i], h[p])) return;
        size_t t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* Orders a group's heap for output as Go's sort.Sort(sort.Reverse(heap)) does for small inputs
 * (insertion sort): descending for topk, ascending for bottomk, ties keeping heap order. */
typedef struct hsort {
    const ev_vec_t *in;
    bool top;
} hsort_t;
typedef struct hpos {
    size_t idx, pos;
} hpos_t;

static int cmp_hpos(const void *a, const void *b, void *arg)
{
    const hpos_t *x = a, *y = b;
    const hsort_t *hs = arg;
    if (heap_less(hs->in, hs->top, y->idx, x->idx)) return -1;
    if (heap_less(hs->in, hs->top, x->idx, y->idx)) return 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void sort_heap_output(arena_t *a, const ev_vec_t *in, bool top, size_t *h, size_t n)
{
    if (n > 12) { /* large k: a stable O(n log n) sort instead */
        hpos_t *v = arena_alloc(a, n * sizeof *v);
        for (size_t i = 0; i < n; i++) v[i] = (hpos_t){h[i], i};
        hsort_t hs = {in, top};
        qsort_r(v, n, sizeof *v, cmp_hpos, &hs);
        for (size_t i = 0; i < n; i++) h[i] = v[i].idx;
        return;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && heap_less(in, top, h[j - 1], h[j]); j--) {
            size_t t = h[j];
            h[j] = h[j - 1];
            h[j - 1] = t;
        }
}

void ev_aggregate(ev_ctx_t *c, node_t *n, ev_val_t *out)
{
    tok_type_t op = n->agg.op;
    ev_val_t pv = {0}, in;
    if (n->agg.param) ev_eval(c, n->agg.param, &pv);
    ev_eval(c, n->agg.expr, &in);
    out->type = VT_VECTOR;
    out->vec.n = 0;
    out->vec.s = arena_alloc(c->a, (in.vec.n + 1) * sizeof(ev_sample_t));
    int64_t k = 0;
    if (op == T_TOPK || op == T_BOTTOMK) {
        double f = pv.scalar;
        if (isnan(f) || f >= 9.223372036854775807e18 || f <= -9.223372036854775807e18) {
            char fv[48];
            if (isnan(f)) snprintf(fv, sizeof fv, "NaN");
            else if (isinf(f)) snprintf(fv, sizeof fv, f > 0 ? "+Inf" : "-Inf");
            else snprintf(fv, sizeof fv, "%g", f);
            ev_fail(c->q, PROMQL_ERR_EXECUTION, "Scalar value %s overflows int64", fv);
        }
        k = (int64_t)f;
        if (k < 1) return;
    }
    const str_t *grouping = n->agg.grouping;
    size_t ngrouping = n->agg.n_grouping;
    const char *value_label = NULL;
    size_t value_label_len = 0;
    if (op == T_COUNT_VALUES) {
        value_label = pv.str.s;
        value_label_len = pv.str.len;
        if (!label_name_valid(value_label, value_label_len))
            ev_fail(c->q, PROMQL_ERR_EXECUTION, "invalid label name \"%.*s\"", (int)value_label_len, value_label);
        if (!n->agg.without) {
            str_t *g = arena_alloc(c->a, (ngrouping + 1) * sizeof(str_t));
            if (ngrouping) memcpy(g, grouping, ngrouping * sizeof(str_t));
            g[ngrouping++] = (str_t){value_label, value_label_len};
            grouping = g;
        }
    }
    group_t *groups = arena_alloc(c->a, (in.vec.n + 1) * sizeof(group_t));
    size_t ng = 0;
    hmap_t h;
    hmap_init(&h, c->a, in.vec.n);
    bool top = op == T_TOPK;
    for (size_t i = 0; i < in.vec.n; i++) {
        ev_sample_t *s = &in.vec.s[i];
        labels_t metric = s->metric;
        if (op == T_COUNT_VALUES) {
            char buf[400];
            int len = format_float_f(s->v, buf, sizeof buf);
            char *v = arena_strndup(c->a, buf, (size_t)len);
            metric = lbl_set(c->a, metric, value_label, value_label_len, v, (size_t)len);
        }
        uint64_t key = n->agg.without ? lbl_sig(c->q, metric, false, grouping, ngrouping)
                                      : lbl_sig(c->q, metric, true, grouping, ngrouping);
        bool found;
        size_t *slot = hmap_put(&h, key, &found);
        if (!found) {
            group_t *g = &groups[ng];
            *slot = ng++;
            memset(g, 0, sizeof *g);
            if (n->agg.without) g->labels = lbl_del(c->a, metric, grouping, ngrouping, true);
            else if (ngrouping) g->labels = lbl_keep(c->a, metric, grouping, ngrouping);
            else g->labels = (labels_t){NULL, 0};
            g->value = s->v;
            g->mean = s->v;
            g->count = 1;
            switch (op) {
            case T_STDVAR:
            case T_STDDEV: g->value = 0; break;
            case T_GROUP: g->value = 1; break;
            case T_TOPK:
            case T_BOTTOMK: {
                size_t cap = (size_t)k < in.vec.n ? (size_t)k : in.vec.n;
                g->heap = arena_alloc(c->a, (cap + 1) * sizeof(size_t));
                g->heap[0] = i;
                g->nheap = 1;
                break;
            }
            case T_QUANTILE:
                g->vals = arena_alloc(c->a, (in.vec.n + 1) * sizeof(double));
                g->vals[0] = s->v;
                g->nvals = 1;
                break;
            default: break;
            }
            continue;
        }
        group_t *g = &groups[*slot];
        double v = s->v;
        switch (op) {
        case T_SUM: g->value += v; break;
        case T_AVG:
            g->count++;
            if (isinf(g->mean)) {
                if (isinf(v) && (g->mean > 0) == (v > 0)) break;
                if (!isinf(v) && !isnan(v)) break;
            }
            g->mean += v / g->count - g->mean / g->count;
            break;
        case T_GROUP: break;
        case T_MAX:
            if (g->value < v || isnan(g->value)) g->value = v;
            break;
        case T_MIN:
            if (g->value > v || isnan(g->value)) g->value = v;
            break;
        case T_COUNT:
        case T_COUNT_VALUES: g->count++; break;
        case T_STDVAR:
        case T_STDDEV: {
            g->count++;
            double delta = v - g->mean;
            g->mean += delta / g->count;
            g->value += delta * (v - g->mean);
            break;
        }
        case T_TOPK:
        case T_BOTTOMK: {
            double rv = in.vec.s[g->heap[0]].v;
            bool better = top ? rv < v : rv > v;
            if ((int64_t)g->nheap < k || better || isnan(rv)) {
                if ((int64_t)g->nheap == k) {
                    if (k == 1) {
                        g->heap[0] = i;
                        break;
                    }
                    g->heap[0] = g->heap[--g->nheap];
                    heap_down(&in.vec, top, g->heap, g->nheap, 0);
                }
                g->heap[g->nheap++] = i;
                heap_up(&in.vec, top, g->heap, g->nheap - 1);
            }
            break;
        }
        case T_QUANTILE: g->vals[g->nvals++] = v; break;
        default: break;
        }
    }
    for (size_t gi = 0; gi < ng; gi++) {
        group_t *g = &groups[gi];
        double v = g->value;
        switch (op) {
        case T_AVG: v = g->mean; break;
        case T_COUNT:
        case T_COUNT_VALUES: v = g->count; break;
        case T_STDVAR: v = g->value / g->count; break;
        case T_STDDEV: v = sqrt(g->value / g->count); break;
        case T_TOPK:
        case T_BOTTOMK:
            sort_heap_output(c->a, &in.vec, top, g->heap, g->nheap);
            for (size_t j = 0; j < g->nheap; j++) {
                ev_sample_t s = in.vec.s[g->heap[j]];
                s.t = c->t;
                out->vec.s[out->vec.n++] = s;
            }
            continue;
        case T_QUANTILE: v = kern_quantile(pv.scalar, g->vals, g->nvals); break;
        default: break;
        }
        out->vec.s[out->vec.n++] = (ev_sample_t){g->labels, v, c->t};
    }
}
