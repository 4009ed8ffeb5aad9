/* ast.h owns the PromQL syntax tree, the value types of expressions and the function table
 * (names, argument types, arities) shared by the parser's type checker and the evaluator.
 * Ownership: nodes and their strings live in the query's arena; selector matchers are malloc'd
 * and released by ast_free_matchers. */
#ifndef MS_PROMQL_AST_H
#define MS_PROMQL_AST_H
#include "model/matcher.h"
#include "promql/lex.h"
#include "util/arena.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { VT_NONE = 0, VT_SCALAR, VT_VECTOR, VT_MATRIX, VT_STRING } val_type_t;
const char *val_type_str(val_type_t t); /* "scalar", "instant vector", "range vector", "string" */

typedef enum {
    N_NUMBER, N_STRING, N_VECTOR_SEL, N_MATRIX_SEL, N_SUBQUERY, N_PAREN, N_UNARY, N_BINARY, N_AGG, N_CALL,
} node_kind_t;

typedef enum { AT_NONE = 0, AT_TIME, AT_START, AT_END } at_kind_t;

typedef enum { CARD_ONE_TO_ONE, CARD_MANY_TO_ONE, CARD_ONE_TO_MANY, CARD_MANY_TO_MANY } card_t;

typedef struct str {
    const char *s;
    size_t len;
} str_t;

typedef enum {
    F_ABS, F_ABSENT, F_ABSENT_OVER_TIME, F_ACOS, F_ACOSH, F_ASIN, F_ASINH, F_ATAN, F_ATANH,
    F_AVG_OVER_TIME, F_CEIL, F_CHANGES, F_CLAMP, F_CLAMP_MAX, F_CLAMP_MIN, F_COS, F_COSH,
    F_COUNT_OVER_TIME, F_DAYS_IN_MONTH, F_DAY_OF_MONTH, F_DAY_OF_WEEK, F_DAY_OF_YEAR, F_DEG,
    F_DELTA, F_DERIV, F_EXP, F_FLOOR, F_HISTOGRAM_COUNT, F_HISTOGRAM_SUM, F_HISTOGRAM_FRACTION,
    F_HISTOGRAM_QUANTILE, F_HOLT_WINTERS, F_HOUR, F_IDELTA, F_INCREASE, F_IRATE, F_LABEL_REPLACE,
    F_LABEL_JOIN, F_LAST_OVER_TIME, F_LN, F_LOG10, F_LOG2, F_MAX_OVER_TIME, F_MIN_OVER_TIME,
    F_MINUTE, F_MONTH, F_PI, F_PREDICT_LINEAR, F_PRESENT_OVER_TIME, F_QUANTILE_OVER_TIME, F_RAD,
    F_RATE, F_RESETS, F_ROUND, F_SCALAR, F_SGN, F_SIN, F_SINH, F_SORT, F_SORT_DESC, F_SQRT,
    F_STDDEV_OVER_TIME, F_STDVAR_OVER_TIME, F_SUM_OVER_TIME, F_TAN, F_TANH, F_TIME, F_TIMESTAMP,
    F_VECTOR, F_YEAR,
    F__COUNT
} func_id_t;

typedef struct func_def {
    const char *name;
    func_id_t id;
    val_type_t args[5];
    int nargs;
    int variadic;      /* 0: exact; n > 0: up to n optional trailing args of the last type; -1: unlimited */
    val_type_t ret;
} func_def_t;

const func_def_t *func_lookup(const char *name, size_t len);

typedef struct node node_t;
struct sel_state;

typedef struct vm {
    card_t card;
    bool on;             /* on(...) rather than ignoring(...) */
    bool has_matching;   /* on/ignoring written explicitly */
    str_t *labels;       /* matching labels */
    size_t n_labels;
    str_t *include;      /* group_left/right labels */
    size_t n_include;
} vm_t;

struct node {
    node_kind_t kind;
    int pos, end;        /* byte range in the query */
    union {
        double num;
        str_t str;
        struct {
            str_t name;              /* metric name written before braces, or empty */
            matcher_t **ms;
            size_t n_ms;
            int64_t offset;          /* ms */
            at_kind_t at_kind;
            int64_t at;              /* ms; resolved for AT_START/AT_END before evaluation */
            bool has_offset;
            /* Prometheus 2.42 quirks for functions unsafe for @, reproduced on purpose:
             * under predict_linear an @ selector's window end moves with the step,
             * at + (t - start of the evaluation) - offset, over data loaded for `at` only;
             * under timestamp() an @ selector looks up at `at` itself, ignoring offset. */
            bool at_shift, at_ignores_offset;
            struct sel_state *st;    /* evaluation state, owned by the evaluator */
        } vs;
        struct {
            node_t *vs;              /* N_VECTOR_SEL carrying offset/@ */
            int64_t range;
        } ms;
        struct {
            node_t *expr;
            int64_t range, step;     /* step 0: default evaluation interval */
            int64_t offset;
            bool has_offset;
            at_kind_t at_kind;
            int64_t at;
            /* Prometheus 2.42 quirk, as for selectors: under predict_linear an @ subquery's
             * window end moves with the step (at + (t - start of the evaluation) - offset), the
             * inner steps run that far, but its selectors see data up to `at - offset` only. */
            bool at_shift;
            struct sel_state *st;    /* materialised inner result */
        } sq;
        struct {
            node_t *expr;
        } paren;
        struct {
            tok_type_t op;
            node_t *expr;
        } unary;
        struct {
            tok_type_t op;
            node_t *lhs, *rhs;
            bool ret_bool;
            vm_t vm;
            bool has_vm;             /* vector matching applies (both sides vectors) */
            int op_pos;
        } bin;
        struct {
            tok_type_t op;
            node_t *expr, *param;
            str_t *grouping;
            size_t n_grouping;
            bool without, has_grouping;
        } agg;
        struct {
            const func_def_t *fn;
            node_t **args;
            size_t nargs;
        } call;
    };
};

/* Static type of an expression. */
val_type_t node_type(const node_t *n);
/* Frees the matchers of every selector in the tree. Accepts NULL. */
void ast_free_matchers(node_t *n);
/* Strips parentheses. */
node_t *node_unparen(node_t *n);

#endif
