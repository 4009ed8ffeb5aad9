/* binop.c owns binary operator evaluation at one step: scalar/scalar, vector/scalar and
 * vector/vector with on/ignoring, group_left/group_right, bool, and the set operators, with
 * Prometheus's result labels, output order and matching errors. */
#include "promql/eval.h"
#include "promql/kernels.h"
#include <stdio.h>
#include <string.h>

static promql_binop_t op_of(tok_type_t t)
{
    switch (t) {
    case T_ADD: return PROMQL_OP_ADD;
    case T_SUB: return PROMQL_OP_SUB;
    case T_MUL: return PROMQL_OP_MUL;
    case T_DIV: return PROMQL_OP_DIV;
    case T_MOD: return PROMQL_OP_MOD;
    case T_POW: return PROMQL_OP_POW;
    case T_ATAN2: return PROMQL_OP_ATAN2;
    case T_EQLC: return PROMQL_OP_EQL;
    case T_NEQ: return PROMQL_OP_NEQ;
    case T_GTR: return PROMQL_OP_GTR;
    case T_LSS: return PROMQL_OP_LSS;
    case T_GTE: return PROMQL_OP_GTE;
    case T_LTE: return PROMQL_OP_LTE;
    case T_LAND: return PROMQL_OP_LAND;
    case T_LOR: return PROMQL_OP_LOR;
    default: return PROMQL_OP_LUNLESS;
    }
}

/* Arithmetic operators drop the metric name (atan2 and comparisons keep it). */
static bool drops_name(tok_type_t t)
{
    return t == T_ADD || t == T_SUB || t == T_MUL || t == T_DIV || t == T_MOD || t == T_POW;
}

/* Renders labels as Prometheus's Labels.String(): {a="b", c="d"}. */
static void labels_str(labels_t m, char *out, size_t n)
{
    size_t k = 0;
    k += (size_t)snprintf(out + k, n - k, "{");
    for (size_t i = 0; i < m.n && k < n; i++)
        k += (size_t)snprintf(out + k, n - k, "%s%.*s=\"%.*s\"", i ? ", " : "", (int)m.v[i].name_len, m.v[i].name,
                              (int)m.v[i].value_len, m.v[i].value);
    if (k < n) snprintf(out + k, n - k, "}");
}

static void set_op(ev_ctx_t *c, node_t *n, const ev_vec_t *l, const ev_vec_t *r, ev_val_t *out)
{
    const vm_t *vm = &n->bin.vm;
    ev_vec_t res = {arena_alloc(c->a, (l->n + r->n + 1) * sizeof(ev_sample_t)), 0};
    hmap_t h;
    switch (n->bin.op) {
    case T_LAND:
    case T_LUNLESS: {
        hmap_init(&h, c->a, r->n);
        bool found;
        for (size_t i = 0; i < r->n; i++) hmap_put(&h, lbl_sig(c->q, r->s[i].metric, vm->on, vm->labels, vm->n_labels), &found);
        bool want = n->bin.op == T_LAND;
        for (size_t i = 0; i < l->n; i++) {
            bool in = hmap_get(&h, lbl_sig(c->q, l->s[i].metric, vm->on, vm->labels, vm->n_labels)) != NULL;
            if (in == want) res.s[res.n++] = l->s[i];
        }
        break;
    }
    default: { /* or */
        hmap_init(&h, c->a, l->n);
        bool found;
        for (size_t i = 0; i < l->n; i++) {
            hmap_put(&h, lbl_sig(c->q, l->s[i].metric, vm->on, vm->labels, vm->n_labels), &found);
            res.s[res.n++] = l->s[i];
        }
        for (size_t i = 0; i < r->n; i++)
            if (!hmap_get(&h, lbl_sig(c->q, r->s[i].metric, vm->on, vm->labels, vm->n_labels))) res.s[res.n++] = r->s[i];
        break;
    }
    }
    out->type = VT_VECTOR;
    out->vec = res;
}

static void vector_vector(ev_ctx_t *c, node_t *n, ev_vec_t *lhs, ev_vec_t *rhs, ev_val_t *out)
{
    const vm_t *vm = &n->bin.vm;
    promql_binop_t op = op_of(n->bin.op);
    bool ret_bool = n->bin.ret_bool;
    ev_vec_t *l = lhs, *r = rhs;
    if (vm->card == CARD_ONE_TO_MANY) {
        l = rhs;
        r = lhs;
    }
    hmap_t rs;
    hmap_init(&rs, c->a, r->n);
    for (size_t i = 0; i < r->n; i++) {
        uint64_t sig = lbl_sig(c->q, r->s[i].metric, vm->on, vm->labels, vm->n_labels);
        bool found;
        size_t *slot = hmap_put(&rs, sig, &found);
        if (found) {
            char a[400], b[400], g[400];
            labels_t mg = vm->on ? lbl_keep(c->a, r->s[i].metric, vm->labels, vm->n_labels)
                                 : lbl_del(c->a, r->s[i].metric, vm->labels, vm->n_labels, true);
            labels_str(mg, g, sizeof g);
            labels_str(r->s[i].metric, a, sizeof a);
            labels_str(r->s[*slot].metric, b, sizeof b);
            ev_fail(c->q, PROMQL_ERR_EXECUTION,
                    "found duplicate series for the match group %s on the %s hand-side of the operation: [%s, %s];"
                    "many-to-many matching not allowed: matching labels must be unique on one side",
                    g, vm->card == CARD_ONE_TO_MANY ? "left" : "right", a, b);
        }
        *slot = i;
    }
    ev_vec_t res = {arena_alloc(c->a, (l->n + 1) * sizeof(ev_sample_t)), 0};
    hmap_t matched;   /* signature -> index into `inserted` arrays (one-to-one: existence) */
    hmap_init(&matched, c->a, l->n);
    hmap_t inserted;  /* many-to-one: (signature, result labels) pairs seen */
    hmap_init(&inserted, c->a, l->n);
    for (size_t i = 0; i < l->n; i++) {
        uint64_t sig = lbl_sig(c->q, l->s[i].metric, vm->on, vm->labels, vm->n_labels);
        size_t *ri = hmap_get(&rs, sig);
        if (!ri) continue;
        const ev_sample_t *ls = &l->s[i], *rsm = &r->s[*ri];
        double vl = ls->v, vr = rsm->v;
        if (vm->card == CARD_ONE_TO_MANY) {
            vl = rsm->v;
            vr = ls->v;
        }
        bool keep;
        double value = kern_binop_apply(op, vl, vr, &keep);
        if (ret_bool) {
            value = keep ? 1.0 : 0.0;
        } else if (!keep) {
            continue;
        }
        /* result labels */
        labels_t m = ls->metric;
        if (drops_name(n->bin.op)) m = lbl_drop_name(c->a, m);
        if (vm->card == CARD_ONE_TO_ONE) {
            if (vm->on) m = lbl_keep(c->a, m, vm->labels, vm->n_labels);
            else m = lbl_del(c->a, m, vm->labels, vm->n_labels, false);
        }
        for (size_t k = 0; k < vm->n_include; k++) {
            uint32_t vlen;
            const char *v = lbl_get(rsm->metric, vm->include[k].s, vm->include[k].len, &vlen);
            m = lbl_set(c->a, m, vm->include[k].s, vm->include[k].len, v, vlen);
        }
        if (ret_bool) m = lbl_drop_name(c->a, m);
        bool found;
        if (vm->card == CARD_ONE_TO_ONE) {
            hmap_put(&matched, sig, &found);
            if (found)
                ev_fail(c->q, PROMQL_ERR_EXECUTION,
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
        } else {
            uint64_t key = sig * 0x9e3779b97f4a7c15ULL ^ lbl_hash(m);
            hmap_put(&inserted, key, &found);
            if (found)
                ev_fail(c->q, PROMQL_ERR_EXECUTION, "multiple matches for labels: grouping labels must ensure unique matches");
        }
        res.s[res.n++] = (ev_sample_t){m, value, c->t, 0};
    }
    out->type = VT_VECTOR;
    out->vec = res;
}

static void vector_scalar(ev_ctx_t *c, node_t *n, ev_vec_t *v, double s, bool swap, ev_val_t *out)
{
    promql_binop_t op = op_of(n->bin.op);
    ev_vec_t res = {arena_alloc(c->a, (v->n + 1) * sizeof(ev_sample_t)), 0};
    for (size_t i = 0; i < v->n; i++) {
        double lv = v->s[i].v, rv = s;
        if (swap) {
            lv = s;
            rv = v->s[i].v;
        }
        bool keep;
        double value = kern_binop_apply(op, lv, rv, &keep);
        if (kern_binop_is_comparison(op) && swap) value = rv;
        if (n->bin.ret_bool) {
            value = keep ? 1.0 : 0.0;
            keep = true;
        }
        if (!keep) continue;
        labels_t m = v->s[i].metric;
        if (drops_name(n->bin.op) || n->bin.ret_bool) m = lbl_drop_name(c->a, m);
        res.s[res.n++] = (ev_sample_t){m, value, c->t, v->s[i].sid}; /* labels: fixed function of the input's */
    }
    out->type = VT_VECTOR;
    out->vec = res;
}

void ev_binary(ev_ctx_t *c, node_t *n, ev_val_t *out)
{
    ev_val_t l, r;
    ev_eval(c, n->bin.lhs, &l);
    ev_eval(c, n->bin.rhs, &r);
    promql_binop_t op = op_of(n->bin.op);
    if (l.type == VT_SCALAR && r.type == VT_SCALAR) {
        out->type = VT_SCALAR;
        out->scalar = kern_binop_scalar(op, l.scalar, r.scalar);
        return;
    }
    if (l.type == VT_VECTOR && r.type == VT_VECTOR) {
        if (tok_is_set_op(n->bin.op)) {
            set_op(c, n, &l.vec, &r.vec, out);
            return;
        }
        vector_vector(c, n, &l.vec, &r.vec, out);
    } else if (l.type == VT_VECTOR) {
        vector_scalar(c, n, &l.vec, r.scalar, false, out);
    } else {
        vector_scalar(c, n, &r.vec, l.scalar, true, out);
    }
    vec_check_dups(c, &out->vec);
}
