/* ast.c owns the function table of Prometheus 2.42 and the static typing helpers of the AST. */
#include "promql/ast.h"
#include <stdlib.h>
#include <string.h>

const char *val_type_str(val_type_t t)
{
    switch (t) {
    case VT_SCALAR: return "scalar";
    case VT_VECTOR: return "instant vector";
    case VT_MATRIX: return "range vector";
    case VT_STRING: return "string";
    default: return "none";
    }
}

#define S VT_SCALAR
#define V VT_VECTOR
#define M VT_MATRIX
#define STR VT_STRING
/* Sorted by name for bsearch. */
static const func_def_t FUNCS[] = {
    {"abs", F_ABS, {V}, 1, 0, V},
    {"absent", F_ABSENT, {V}, 1, 0, V},
    {"absent_over_time", F_ABSENT_OVER_TIME, {M}, 1, 0, V},
    {"acos", F_ACOS, {V}, 1, 0, V},
    {"acosh", F_ACOSH, {V}, 1, 0, V},
    {"asin", F_ASIN, {V}, 1, 0, V},
    {"asinh", F_ASINH, {V}, 1, 0, V},
    {"atan", F_ATAN, {V}, 1, 0, V},
    {"atanh", F_ATANH, {V}, 1, 0, V},
    {"avg_over_time", F_AVG_OVER_TIME, {M}, 1, 0, V},
    {"ceil", F_CEIL, {V}, 1, 0, V},
    {"changes", F_CHANGES, {M}, 1, 0, V},
    {"clamp", F_CLAMP, {V, S, S}, 3, 0, V},
    {"clamp_max", F_CLAMP_MAX, {V, S}, 2, 0, V},
    {"clamp_min", F_CLAMP_MIN, {V, S}, 2, 0, V},
    {"cos", F_COS, {V}, 1, 0, V},
    {"cosh", F_COSH, {V}, 1, 0, V},
    {"count_over_time", F_COUNT_OVER_TIME, {M}, 1, 0, V},
    {"day_of_month", F_DAY_OF_MONTH, {V}, 1, 1, V},
    {"day_of_week", F_DAY_OF_WEEK, {V}, 1, 1, V},
    {"day_of_year", F_DAY_OF_YEAR, {V}, 1, 1, V},
    {"days_in_month", F_DAYS_IN_MONTH, {V}, 1, 1, V},
    {"deg", F_DEG, {V}, 1, 0, V},
    {"delta", F_DELTA, {M}, 1, 0, V},
    {"deriv", F_DERIV, {M}, 1, 0, V},
    {"exp", F_EXP, {V}, 1, 0, V},
    {"floor", F_FLOOR, {V}, 1, 0, V},
    {"histogram_count", F_HISTOGRAM_COUNT, {V}, 1, 0, V},
    {"histogram_fraction", F_HISTOGRAM_FRACTION, {S, S, V}, 3, 0, V},
    {"histogram_quantile", F_HISTOGRAM_QUANTILE, {S, V}, 2, 0, V},
    {"histogram_sum", F_HISTOGRAM_SUM, {V}, 1, 0, V},
    {"holt_winters", F_HOLT_WINTERS, {M, S, S}, 3, 0, V},
    {"hour", F_HOUR, {V}, 1, 1, V},
    {"idelta", F_IDELTA, {M}, 1, 0, V},
    {"increase", F_INCREASE, {M}, 1, 0, V},
    {"irate", F_IRATE, {M}, 1, 0, V},
    {"label_join", F_LABEL_JOIN, {V, STR, STR, STR}, 4, -1, V},
    {"label_replace", F_LABEL_REPLACE, {V, STR, STR, STR, STR}, 5, 0, V},
    {"last_over_time", F_LAST_OVER_TIME, {M}, 1, 0, V},
    {"ln", F_LN, {V}, 1, 0, V},
    {"log10", F_LOG10, {V}, 1, 0, V},
    {"log2", F_LOG2, {V}, 1, 0, V},
    {"max_over_time", F_MAX_OVER_TIME, {M}, 1, 0, V},
    {"min_over_time", F_MIN_OVER_TIME, {M}, 1, 0, V},
    {"minute", F_MINUTE, {V}, 1, 1, V},
    {"month", F_MONTH, {V}, 1, 1, V},
    {"pi", F_PI, {0}, 0, 0, S},
    {"predict_linear", F_PREDICT_LINEAR, {M, S}, 2, 0, V},
    {"present_over_time", F_PRESENT_OVER_TIME, {M}, 1, 0, V},
    {"quantile_over_time", F_QUANTILE_OVER_TIME, {S, M}, 2, 0, V},
    {"rad", F_RAD, {V}, 1, 0, V},
    {"rate", F_RATE, {M}, 1, 0, V},
    {"resets", F_RESETS, {M}, 1, 0, V},
    {"round", F_ROUND, {V, S}, 2, 1, V},
    {"scalar", F_SCALAR, {V}, 1, 0, S},
    {"sgn", F_SGN, {V}, 1, 0, V},
    {"sin", F_SIN, {V}, 1, 0, V},
    {"sinh", F_SINH, {V}, 1, 0, V},
    {"sort", F_SORT, {V}, 1, 0, V},
    {"sort_desc", F_SORT_DESC, {V}, 1, 0, V},
    {"sqrt", F_SQRT, {V}, 1, 0, V},
    {"stddev_over_time", F_STDDEV_OVER_TIME, {M}, 1, 0, V},
    {"stdvar_over_time", F_STDVAR_OVER_TIME, {M}, 1, 0, V},
    {"sum_over_time", F_SUM_OVER_TIME, {M}, 1, 0, V},
    {"tan", F_TAN, {V}, 1, 0, V},
    {"tanh", F_TANH, {V}, 1, 0, V},
    {"time", F_TIME, {0}, 0, 0, S},
    {"timestamp", F_TIMESTAMP, {V}, 1, 0, V},
    {"vector", F_VECTOR, {S}, 1, 0, V},
    {"year", F_YEAR, {V}, 1, 1, V},
};
#undef S
#undef V
#undef M
#undef STR

const func_def_t *func_lookup(const char *name, size_t len)
{
    size_t lo = 0, hi = sizeof FUNCS / sizeof FUNCS[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        size_t fl = strlen(FUNCS[mid].name);
        int c = memcmp(FUNCS[mid].name, name, fl < len ? fl : len);
        if (c == 0) c = fl < len ? -1 : fl > len ? 1 : 0;
        if (c == 0) return &FUNCS[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

val_type_t node_type(const node_t *n)
{
    switch (n->kind) {
    case N_NUMBER: return VT_SCALAR;
    case N_STRING: return VT_STRING;
    case N_VECTOR_SEL: return VT_VECTOR;
    case N_MATRIX_SEL: return VT_MATRIX;
    case N_SUBQUERY: return VT_MATRIX;
    case N_PAREN: return node_type(n->paren.expr);
    case N_UNARY: return node_type(n->unary.expr);
    case N_BINARY: {
        val_type_t l = node_type(n->bin.lhs), r = node_type(n->bin.rhs);
        return (l == VT_SCALAR && r == VT_SCALAR) ? VT_SCALAR : VT_VECTOR;
    }
    case N_AGG: return VT_VECTOR;
    case N_CALL: return n->call.fn->ret;
    }
    return VT_NONE;
}

node_t *node_unparen(node_t *n)
{
    while (n && n->kind == N_PAREN) n = n->paren.expr;
    return n;
}

void ast_free_matchers(node_t *n)
{
    if (!n) return;
    switch (n->kind) {
    case N_VECTOR_SEL:
        for (size_t i = 0; i < n->vs.n_ms; i++) matcher_free(n->vs.ms[i]);
        n->vs.n_ms = 0;
        break;
    case N_MATRIX_SEL: ast_free_matchers(n->ms.vs); break;
    case N_SUBQUERY: ast_free_matchers(n->sq.expr); break;
    case N_PAREN: ast_free_matchers(n->paren.expr); break;
    case N_UNARY: ast_free_matchers(n->unary.expr); break;
    case N_BINARY:
        ast_free_matchers(n->bin.lhs);
        ast_free_matchers(n->bin.rhs);
        break;
    case N_AGG:
        ast_free_matchers(n->agg.expr);
        ast_free_matchers(n->agg.param);
        break;
    case N_CALL:
        for (size_t i = 0; i < n->call.nargs; i++) ast_free_matchers(n->call.args[i]);
        break;
    default: break;
    }
}
