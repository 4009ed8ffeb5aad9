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

/* Per aggregation node, for the whole query: the group of each input series (by sid), so the
 * grouping labels of a series are hashed once per query instead of once per step. Groups are
 * still told apart by the same grouping-label hash as on the uncached path; gids only number
 * the distinct hashes seen. Everything lives in the query arena. */
typedef struct agg_cache {
    uint32_t *gid_of_sid;  /* gid + 1 per sid; 0 = not seen yet */
    uint32_t nsid;
    uint64_t *keys;        /* grouping-label hash -> gid, open addressing */
    uint32_t *kgid;
    uint8_t *kused;
    size_t kmask, kcount;
    uint64_t *stamp;       /* per gid: the evaluation (gen) it last appeared in */
    uint32_t *slot;        /* per gid: its group index in that evaluation */
    labels_t *glabels;     /* per gid: output labels, once built from a member with a sid */
    uint32_t *gsid;        /* per gid: the output's sid when glabels is set, else 0 */
    uint32_t ngid, cap_gid;
    uint64_t gen;
} agg_cache_t;

static void agg_keys_init(arena_t *a, agg_cache_t *ac, size_t cap)
{
    ac->keys = arena_alloc(a, cap * sizeof(uint64_t));
    ac->kgid = arena_alloc(a, cap * sizeof(uint32_t));
    ac->kused = arena_calloc(a, cap, 1);
    ac->kmask = cap - 1;
    ac->kcount = 0;
}

static uint32_t agg_key_gid(ev_query_t *q, agg_cache_t *ac, uint64_t key)
{
    if ((ac->kcount + 1) * 2 > ac->kmask + 1) { /* grow: rehash into twice the slots */
        uint64_t *ok = ac->keys;
        uint32_t *og = ac->kgid;
        uint8_t *ou = ac->kused;
        size_t ocap = ac->kmask + 1;
        agg_keys_init(&q->arena, ac, ocap * 2);
        for (size_t i = 0; i < ocap; i++) {
            if (!ou[i]) continue;
            size_t j = (size_t)(ok[i] ^ (ok[i] >> 29)) & ac->kmask;
            while (ac->kused[j]) j = (j + 1) & ac->kmask;
            ac->kused[j] = 1;
            ac->keys[j] = ok[i];
            ac->kgid[j] = og[i];
            ac->kcount++;
        }
    }
    size_t j = (size_t)(key ^ (key >> 29)) & ac->kmask;
    while (ac->kused[j]) {
        if (ac->keys[j] == key) return ac->kgid[j];
        j = (j + 1) & ac->kmask;
    }
    if (ac->ngid == ac->cap_gid) {
        uint32_t nc = ac->cap_gid ? ac->cap_gid * 2 : 64;
        uint64_t *st = arena_calloc(&q->arena, nc, sizeof(uint64_t));
        uint32_t *sl = arena_alloc(&q->arena, nc * sizeof(uint32_t));
        labels_t *gl = arena_alloc(&q->arena, nc * sizeof(labels_t));
        uint32_t *gs = arena_alloc(&q->arena, nc * sizeof(uint32_t));
        if (ac->ngid) {
            memcpy(st, ac->stamp, ac->ngid * sizeof(uint64_t));
            memcpy(sl, ac->slot, ac->ngid * sizeof(uint32_t));
            memcpy(gl, ac->glabels, ac->ngid * sizeof(labels_t));
            memcpy(gs, ac->gsid, ac->ngid * sizeof(uint32_t));
        }
        ac->stamp = st;
        ac->slot = sl;
        ac->glabels = gl;
        ac->gsid = gs;
        ac->cap_gid = nc;
    }
    ac->kused[j] = 1;
    ac->keys[j] = key;
    ac->kgid[j] = ac->ngid;
    ac->kcount++;
    ac->stamp[ac->ngid] = 0;
    ac->gsid[ac->ngid] = 0;
    return ac->ngid++;
}

static agg_cache_t *agg_cache_for(ev_query_t *q, const node_t *n)
{
    agg_cache_t *ac = ev_node_cache_get(q, n, NCACHE_AGG);
    if (!ac) {
        ac = arena_calloc(&q->arena, 1, sizeof *ac);
        agg_keys_init(&q->arena, ac, 64);
        ev_node_cache_put(q, n, NCACHE_AGG, ac);
    }
    if (ac->nsid <= q->n_sids) { /* sids handed out since (subqueries, groups): grow */
        uint32_t nn = q->n_sids + 1;
        if (ac->nsid && nn < UINT32_MAX / 2 && nn < ac->nsid * 2) nn = ac->nsid * 2;
        uint32_t *g = arena_calloc(&q->arena, nn, sizeof(uint32_t));
        if (ac->nsid) memcpy(g, ac->gid_of_sid, ac->nsid * sizeof(uint32_t));
        ac->gid_of_sid = g;
        ac->nsid = nn;
    }
    return ac;
}

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

/* Adds a further value to a group of one of the elementwise operators (sum avg group max min
 * count stddev stdvar), with Prometheus 2.42's arithmetic; false for any other operator. */
static inline bool group_add(group_t *g, tok_type_t op, double v)
{
    switch (op) {
    case T_SUM: g->value += v; return true;
    case T_AVG:
        g->count++;
        if (isinf(g->mean)) {
            if (isinf(v) && (g->mean > 0) == (v > 0)) return true;
            if (!isinf(v) && !isnan(v)) return true;
        }
        g->mean += v / g->count - g->mean / g->count;
        return true;
    case T_GROUP: return true;
    case T_MAX:
        if (g->value < v || isnan(g->value)) g->value = v;
        return true;
    case T_MIN:
        if (g->value > v || isnan(g->value)) g->value = v;
        return true;
    case T_COUNT: g->count++; return true;
    case T_STDVAR:
    case T_STDDEV: {
        g->count++;
        double delta = v - g->mean;
        g->mean += delta / g->count;
        g->value += delta * (v - g->mean);
        return true;
    }
    default: return false;
    }
}

/* A group's first value for the elementwise operators (labels and sid set by the caller). */
static inline void group_start(group_t *g, tok_type_t op, double v)
{
    memset(g, 0, sizeof *g);
    g->value = op == T_STDVAR || op == T_STDDEV ? 0 : op == T_GROUP ? 1 : v;
    g->mean = v;
    g->count = 1;
}

/* The elementwise operators over a range function's row once every series in it has a known
 * group whose labels are built (from the second step on): the same groups, in the same order
 * of first appearance, with the same additions as the general loop, without its per-element
 * label work. Returns the number of groups, or SIZE_MAX (nothing to undo: the caller starts a
 * new generation) when some series is not known yet. */
static size_t agg_row_groups(agg_cache_t *ac, tok_type_t op, const ev_range_row_t *row, group_t *groups,
                             uint32_t *group_sid)
{
    if (!row->sid_base || (uint64_t)row->sid_base + row->n > ac->nsid) return SIZE_MAX;
    size_t ng = 0;
    uint64_t gen = ac->gen;
    const uint32_t *gid1 = ac->gid_of_sid + row->sid_base; /* per series of the row: gid + 1 */
    const uint8_t *has = row->has;
    const double *val = row->val;
    for (size_t i = 0; i < row->n; i++) {
        if (!has[i]) continue;
        uint32_t g1 = gid1[i];
        if (!g1) return SIZE_MAX;
        uint32_t gid = g1 - 1;
        double v = val[i];
        if (ac->stamp[gid] != gen) {
            if (!ac->gsid[gid]) return SIZE_MAX;
            ac->stamp[gid] = gen;
            ac->slot[gid] = (uint32_t)ng;
            group_start(&groups[ng], op, v);
            groups[ng].labels = ac->glabels[gid];
            group_sid[ng] = ac->gsid[gid];
            ng++;
        } else {
            group_add(&groups[ac->slot[gid]], op, v);
        }
    }
    return ng;
}

void ev_aggregate(ev_ctx_t *c, node_t *n, ev_val_t *out)
{
    tok_type_t op = n->agg.op;
    ev_val_t pv = {0}, in = {0};
    if (n->agg.param) ev_eval(c, n->agg.param, &pv);
    /* the elementwise operators over a range function's cache read its row in place */
    bool elementwise = op != T_TOPK && op != T_BOTTOMK && op != T_QUANTILE && op != T_COUNT_VALUES;
    ev_range_row_t row = {0};
    bool use_row = elementwise && ev_range_row(c, n->agg.expr, &row);
    if (!use_row) ev_eval(c, n->agg.expr, &in);
    size_t nin = use_row ? row.n : in.vec.n; /* input slots; all are elements unless use_row */
    out->type = VT_VECTOR;
    out->vec.n = 0;
    out->vec.s = NULL; /* sized once the groups are known */
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
        if (k < 1) {
            out->vec.s = arena_alloc(c->a, sizeof(ev_sample_t));
            return;
        }
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
    size_t ng = 0;
    hmap_t h;
    /* count_values groups by a label made from the value: no per-series cache there */
    agg_cache_t *ac = op == T_COUNT_VALUES || nin == 0 ? NULL : agg_cache_for(c->q, n);
    if (ac) ac->gen++;
    else hmap_init(&h, c->a, nin);
    /* Groups are few next to the inputs as a rule (sum by (mode) over 4.5k series: 8), and
     * this runs once per step: room for every input at each step was ~0.5 MB of fresh pages
     * a step (a third of a range query's time in page faults), so the arrays start small and
     * double. Once every series of a row has a known group, those groups are all there is. */
    size_t gcap = nin < 16 ? nin + 1 : 17;
    if (use_row && ac && ac->ngid < nin) gcap = ac->ngid + 1 > gcap ? ac->ngid + 1 : gcap;
    group_t *groups = arena_alloc(c->a, gcap * sizeof(group_t));
    uint32_t *group_sid = arena_alloc(c->a, gcap * sizeof(uint32_t));
    bool top = op == T_TOPK;
    if (use_row && ac && ac->ngid < gcap) {
        ng = agg_row_groups(ac, op, &row, groups, group_sid);
        if (ng != SIZE_MAX) {
            nin = 0; /* done: straight to the output */
        } else {
            ng = 0;
            ac->gen++; /* forget the partial pass */
        }
    }
    for (size_t i = 0; i < nin; i++) {
        ev_sample_t row_s, *s = &row_s;
        if (!use_row) {
            s = &in.vec.s[i];
        } else if (!row.has[i]) {
            continue;
        } else {
            row_s = (ev_sample_t){row.lbls[i], row.val[i], c->t, row.sid_base ? row.sid_base + (uint32_t)i : 0};
        }
        labels_t metric = s->metric;
        if (op == T_COUNT_VALUES) {
            char buf[400];
            int len = format_float_f(s->v, buf, sizeof buf);
            char *v = arena_strndup(c->a, buf, (size_t)len);
            metric = lbl_set(c->a, metric, value_label, value_label_len, v, (size_t)len);
        }
        bool found;
        size_t gslot, *slot = &gslot;
        uint32_t gid = 0;
        if (ac) {
            if (s->sid && s->sid < ac->nsid && ac->gid_of_sid[s->sid]) {
                gid = ac->gid_of_sid[s->sid] - 1;
            } else {
                uint64_t key = lbl_sig(c->q, metric, !n->agg.without, grouping, ngrouping);
                gid = agg_key_gid(c->q, ac, key);
                if (s->sid && s->sid < ac->nsid) ac->gid_of_sid[s->sid] = gid + 1;
            }
            found = ac->stamp[gid] == ac->gen;
            if (!found) {
                ac->stamp[gid] = ac->gen;
                ac->slot[gid] = (uint32_t)ng;
            }
            gslot = ac->slot[gid];
        } else {
            uint64_t key = lbl_sig(c->q, metric, !n->agg.without, grouping, ngrouping);
            slot = hmap_put(&h, key, &found);
        }
        if (!found) {
            if (ng + 1 >= gcap) {
                size_t nc = gcap * 2 < nin + 1 ? gcap * 2 : nin + 1;
                group_t *ngs = arena_alloc(c->a, nc * sizeof(group_t));
                uint32_t *nsid = arena_alloc(c->a, nc * sizeof(uint32_t));
                memcpy(ngs, groups, ng * sizeof(group_t));
                memcpy(nsid, group_sid, ng * sizeof(uint32_t));
                groups = ngs;
                group_sid = nsid;
                gcap = nc;
            }
            group_t *g = &groups[ng];
            group_sid[ng] = 0;
            *slot = ng++;
            memset(g, 0, sizeof *g);
            if (ac && ac->gsid[gid]) { /* built before, from query-lifetime labels */
                g->labels = ac->glabels[gid];
                group_sid[ng - 1] = ac->gsid[gid];
            } else {
                /* a member with a sid has query-lifetime labels: build the group's once */
                bool keep = ac && s->sid && c->q->n_sids < UINT32_MAX - 1;
                arena_t *la = keep ? &c->q->arena : c->a;
                if (n->agg.without) g->labels = lbl_del(la, metric, grouping, ngrouping, true);
                else if (ngrouping) g->labels = lbl_keep(la, metric, grouping, ngrouping);
                else g->labels = (labels_t){NULL, 0};
                if (keep) {
                    ac->glabels[gid] = g->labels;
                    ac->gsid[gid] = ++c->q->n_sids; /* the group's output keeps these labels */
                    group_sid[ng - 1] = ac->gsid[gid];
                }
            }
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
        if (group_add(g, op, v)) continue;
        switch (op) {
        case T_COUNT_VALUES: g->count++; break;
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
    size_t nout = ng;
    if (op == T_TOPK || op == T_BOTTOMK) {
        nout = 0;
        for (size_t gi = 0; gi < ng; gi++) nout += groups[gi].nheap;
    }
    out->vec.s = arena_alloc(c->a, (nout + 1) * sizeof(ev_sample_t));
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
        out->vec.s[out->vec.n++] = (ev_sample_t){g->labels, v, c->t, group_sid[gi]};
    }
}
