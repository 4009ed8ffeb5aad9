/* parse.h owns turning a PromQL string into a type-checked AST, with Prometheus's error texts
 * ("1:5: parse error: ..."). */
#ifndef MS_PROMQL_PARSE_H
#define MS_PROMQL_PARSE_H
#include "promql/ast.h"
#include "util/arena.h"

/* Parses and type-checks q. Nodes live in arena a; on success the caller must eventually call
 * ast_free_matchers(*out). Returns 0 or MS_EINVAL with the message in err (matchers already
 * freed). */
int promql_parse(const char *q, size_t n, arena_t *a, node_t **out, char *err, size_t errn);

/* True if Go's RE2 accepts regex re (the PCRE-only constructs are refused); else writes Go's
 * "error parsing regexp: ..." message to err. */
bool promql_regex_re2_check(const char *re, size_t n, char *err, size_t errn);

#endif
