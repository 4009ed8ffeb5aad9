/* kernels_math.c owns PromQL's elementwise math functions (abs ... atanh, deg, rad, pi, round,
 * clamp family) and binary-operator arithmetic, with Go's math package semantics and bits:
 * transcendental functions, ^, % and atan2 come from gomath.c (Go 1.19 amd64 algorithms), the
 * exact operations (abs, floor, ceil, sqrt, + - * /) from C, and math.Max/Min's NaN and Inf
 * rules are spelled out here. */
#include "promql/gomath.h"
#include "promql/kernels.h"
#include <math.h>
#include <string.h>

/* Go's math.Pi rounded to double (our own constant: strict C11 math.h declares no pi). */
static const double PI = 3.14159265358979323846264338327950288;

static const char *const math_names[KERN_MATH__COUNT] = {
    [KERN_MATH_ABS] = "abs",     [KERN_MATH_CEIL] = "ceil",   [KERN_MATH_FLOOR] = "floor",
    [KERN_MATH_EXP] = "exp",     [KERN_MATH_LN] = "ln",       [KERN_MATH_LOG2] = "log2",
    [KERN_MATH_LOG10] = "log10", [KERN_MATH_SQRT] = "sqrt",   [KERN_MATH_SGN] = "sgn",
    [KERN_MATH_SIN] = "sin",     [KERN_MATH_COS] = "cos",     [KERN_MATH_TAN] = "tan",
    [KERN_MATH_ASIN] = "asin",   [KERN_MATH_ACOS] = "acos",   [KERN_MATH_ATAN] = "atan",
    [KERN_MATH_SINH] = "sinh",   [KERN_MATH_COSH] = "cosh",   [KERN_MATH_TANH] = "tanh",
    [KERN_MATH_ASINH] = "asinh", [KERN_MATH_ACOSH] = "acosh", [KERN_MATH_ATANH] = "atanh",
    [KERN_MATH_DEG] = "deg",     [KERN_MATH_RAD] = "rad",
};

bool kern_math_lookup(const char *name, size_t len, kern_math_fn_t *out)
{
    for (int i = 0; i < KERN_MATH__COUNT; i++) {
        if (strlen(math_names[i]) == len && memcmp(math_names[i], name, len) == 0) {
            *out = (kern_math_fn_t)i;
            return true;
        }
    }
    return false;
}

double kern_math_apply(kern_math_fn_t fn, double v)
{
    switch (fn) {
    case KERN_MATH_ABS: return fabs(v);
    case KERN_MATH_CEIL: return ceil(v);
    case KERN_MATH_FLOOR: return floor(v);
    case KERN_MATH_EXP: return go_exp(v);
    case KERN_MATH_LN: return go_log(v);
    case KERN_MATH_LOG2: return go_log2(v);
    case KERN_MATH_LOG10: return go_log10(v);
    case KERN_MATH_SQRT: return sqrt(v);
    case KERN_MATH_SGN: return v < 0 ? -1.0 : (v > 0 ? 1.0 : v);
    case KERN_MATH_SIN: return go_sin(v);
    case KERN_MATH_COS: return go_cos(v);
    case KERN_MATH_TAN: return go_tan(v);
    case KERN_MATH_ASIN: return go_asin(v);
    case KERN_MATH_ACOS: return go_acos(v);
    case KERN_MATH_ATAN: return go_atan(v);
    case KERN_MATH_SINH: return go_sinh(v);
    case KERN_MATH_COSH: return go_cosh(v);
    case KERN_MATH_TANH: return go_tanh(v);
    case KERN_MATH_ASINH: return go_asinh(v);
    case KERN_MATH_ACOSH: return go_acosh(v);
    case KERN_MATH_ATANH: return go_atanh(v);
    case KERN_MATH_DEG: return v * 180 / PI;
    case KERN_MATH_RAD: return v * PI / 180;
    case KERN_MATH__COUNT: break;
    }
    return NAN;
}

double kern_pi(void) { return PI; }

double kern_round(double v, double to_nearest)
{
    double inv = 1.0 / to_nearest;
    return floor(v * inv + 0.5) / inv;
}

/* Go math.Max: +Inf wins over everything (even NaN), then NaN propagates, +0 beats -0. */
double kern_go_max(double a, double b)
{
    if (isinf(a) && a > 0)
        return a;
    if (isinf(b) && b > 0)
        return b;
    if (isnan(a) || isnan(b))
        return NAN;
    if (a == 0 && a == b)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

/* Go math.Min: -Inf wins over everything (even NaN), then NaN propagates, -0 beats +0. */
double kern_go_min(double a, double b)
{
    if (isinf(a) && a < 0)
        return a;
    if (isinf(b) && b < 0)
        return b;
    if (isnan(a) || isnan(b))
        return NAN;
    if (a == 0 && a == b)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

bool kern_clamp(double v, double min, double max, double *out)
{
    if (max < min)
        return false;
    *out = kern_go_max(min, kern_go_min(max, v));
    return true;
}

double kern_clamp_min(double v, double min) { return kern_go_max(min, v); }
double kern_clamp_max(double v, double max) { return kern_go_min(max, v); }

bool kern_binop_is_comparison(promql_binop_t op)
{
    return op >= PROMQL_OP_EQL && op <= PROMQL_OP_LTE;
}

bool kern_binop_is_set(promql_binop_t op)
{
    return op == PROMQL_OP_LAND || op == PROMQL_OP_LOR || op == PROMQL_OP_LUNLESS;
}

int kern_binop_precedence(promql_binop_t op)
{
    switch (op) {
    case PROMQL_OP_POW: return 6;
    case PROMQL_OP_MUL: case PROMQL_OP_DIV: case PROMQL_OP_MOD: case PROMQL_OP_ATAN2: return 5;
    case PROMQL_OP_ADD: case PROMQL_OP_SUB: return 4;
    case PROMQL_OP_EQL: case PROMQL_OP_NEQ: case PROMQL_OP_GTR: case PROMQL_OP_LSS:
    case PROMQL_OP_GTE: case PROMQL_OP_LTE: return 3;
    case PROMQL_OP_LAND: case PROMQL_OP_LUNLESS: return 2;
    case PROMQL_OP_LOR: return 1;
    case PROMQL_OP__COUNT: break;
    }
    return 0;
}

const char *kern_binop_str(promql_binop_t op)
{
    static const char *const names[PROMQL_OP__COUNT] = {
        [PROMQL_OP_ADD] = "+",   [PROMQL_OP_SUB] = "-",   [PROMQL_OP_MUL] = "*",        [PROMQL_OP_DIV] = "/",
        [PROMQL_OP_MOD] = "%",   [PROMQL_OP_POW] = "^",   [PROMQL_OP_ATAN2] = "atan2",  [PROMQL_OP_EQL] = "==",
        [PROMQL_OP_NEQ] = "!=",  [PROMQL_OP_GTR] = ">",   [PROMQL_OP_LSS] = "<",        [PROMQL_OP_GTE] = ">=",
        [PROMQL_OP_LTE] = "<=",  [PROMQL_OP_LAND] = "and", [PROMQL_OP_LOR] = "or",      [PROMQL_OP_LUNLESS] = "unless",
    };
    return (unsigned)op < PROMQL_OP__COUNT ? names[op] : "?";
}

double kern_binop_apply(promql_binop_t op, double a, double b, bool *keep)
{
    *keep = true;
    switch (op) {
    case PROMQL_OP_ADD: return a + b;
    case PROMQL_OP_SUB: return a - b;
    case PROMQL_OP_MUL: return a * b;
    case PROMQL_OP_DIV: return a / b;
    case PROMQL_OP_MOD: return go_mod(a, b);
    case PROMQL_OP_POW: return go_pow(a, b);
    case PROMQL_OP_ATAN2: return go_atan2(a, b);
    case PROMQL_OP_EQL: *keep = a == b; return a;
    case PROMQL_OP_NEQ: *keep = a != b; return a;
    case PROMQL_OP_GTR: *keep = a > b; return a;
    case PROMQL_OP_LSS: *keep = a < b; return a;
    case PROMQL_OP_GTE: *keep = a >= b; return a;
    case PROMQL_OP_LTE: *keep = a <= b; return a;
    case PROMQL_OP_LAND: case PROMQL_OP_LOR: case PROMQL_OP_LUNLESS: case PROMQL_OP__COUNT: break;
    }
    return a;
}

double kern_binop_scalar(promql_binop_t op, double a, double b)
{
    bool keep;
    double v = kern_binop_apply(op, a, b, &keep);
    if (kern_binop_is_comparison(op))
        return keep ? 1.0 : 0.0;
    return v;
}
