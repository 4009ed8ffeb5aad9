/* lex.h owns the PromQL tokenizer: it turns a query string into tokens with byte positions,
 * tracking brace/bracket/paren context the way Prometheus's lexer does, so that the parser can
 * report errors with Prometheus's "line:col" positions and wording.
 * Ownership: token text points into the query string; a lexer error message lives in the lexer. */
#ifndef MS_PROMQL_LEX_H
#define MS_PROMQL_LEX_H
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    T_EOF = 0,
    T_ERROR,
    T_IDENT,        /* foo, label names inside braces */
    T_METRIC_IDENT, /* foo:bar */
    T_NUMBER,
    T_DURATION,
    T_STRING,       /* raw token text including quotes; unquote with lex_unquote */
    T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE, T_LBRACKET, T_RBRACKET,
    T_COMMA, T_ASSIGN, T_COLON, T_AT,
    /* operators */
    T_ADD, T_SUB, T_MUL, T_DIV, T_MOD, T_POW,
    T_EQLC, T_NEQ, T_LTE, T_LSS, T_GTE, T_GTR,
    T_EQL_REGEX, T_NEQ_REGEX,
    T_LAND, T_LOR, T_LUNLESS, T_ATAN2,
    /* aggregators */
    T_AGG_FIRST,
    T_SUM = T_AGG_FIRST, T_AVG, T_COUNT, T_MIN, T_MAX, T_GROUP, T_STDDEV, T_STDVAR, T_TOPK, T_BOTTOMK,
    T_COUNT_VALUES, T_QUANTILE,
    T_AGG_LAST = T_QUANTILE,
    /* keywords */
    T_OFFSET, T_BY, T_WITHOUT, T_ON, T_IGNORING, T_GROUP_LEFT, T_GROUP_RIGHT, T_BOOL,
    T_START, T_END,
} tok_type_t;

typedef struct token {
    tok_type_t type;
    int pos;          /* byte offset in the query */
    int len;          /* byte length of the token text */
} token_t;

typedef struct lexer {
    const char *s;
    int n;
    token_t *toks;
    size_t ntoks, cap;
    char err[256];    /* message of the T_ERROR token, if any */
} lexer_t;

/* Tokenizes the whole input; always ends with T_EOF or T_ERROR. Comments are skipped. */
void lex_run(lexer_t *lx, const char *s, size_t n);
void lex_free(lexer_t *lx);

bool tok_is_operator(tok_type_t t);
bool tok_is_aggregator(tok_type_t t);
bool tok_is_keyword(tok_type_t t);
bool tok_is_comparison(tok_type_t t);
bool tok_is_set_op(tok_type_t t);
const char *tok_op_str(tok_type_t t); /* "+", "and", "sum", "offset", ... */

/* Writes Prometheus's description of a token for "unexpected X" messages. */
void tok_describe(const lexer_t *lx, const token_t *t, char *out, size_t outn);

/* Unquotes a string token ('..', "..", `..`) with Go escape rules into a malloc'd buffer.
 * Returns 0 or -1 with a message in err. */
int lex_unquote(const char *s, size_t n, char **out, size_t *out_len, char *err, size_t errn);

/* Parses a Prometheus duration ("1h30m", "5m", "10ms") into milliseconds; false if invalid. */
bool lex_parse_duration(const char *s, size_t n, long long *ms);

#endif
