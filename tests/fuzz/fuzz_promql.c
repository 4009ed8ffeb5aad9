/* fuzz_promql.c is the libFuzzer target for the PromQL front end: arbitrary bytes go through the
 * lexer, the full parser (promql_parse, with type checking), the match[] selector parser, the
 * string unquoter and the duration parser; none may crash, hang, leak or fail without a message. */
#include "promql/lex.h"
#include "promql/parse.h"
#include "promql/promql.h"
#include "model/matcher.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0;
    /* Exact-size NUL-terminated copy: reads past the end are caught by ASan. */
    char *q = malloc(size + 1);
    memcpy(q, data, size);
    q[size] = 0;

    lexer_t lx;
    memset(&lx, 0, sizeof lx);
    lex_run(&lx, q, size);
    if (lx.ntoks == 0) abort(); /* always ends with T_EOF or T_ERROR */
    tok_type_t last = lx.toks[lx.ntoks - 1].type;
    if (last != T_EOF && last != T_ERROR) abort();
    for (size_t i = 0; i < lx.ntoks; i++) {
        const token_t *t = &lx.toks[i];
        if (t->pos < 0 || t->len < 0 || (size_t)t->pos + (size_t)t->len > size) abort();
        char desc[128];
        tok_describe(&lx, t, desc, sizeof desc);
        if (t->type == T_STRING) {
            char *u = NULL, err[256];
            size_t ul = 0;
            if (lex_unquote(q + t->pos, (size_t)t->len, &u, &ul, err, sizeof err) == 0) free(u);
        } else if (t->type == T_DURATION) {
            long long ms;
            (void)lex_parse_duration(q + t->pos, (size_t)t->len, &ms);
        }
    }
    lex_free(&lx);

    arena_t a = ARENA_INIT;
    node_t *root = NULL;
    char err[1024];
    err[0] = 0;
    if (promql_parse(q, size, &a, &root, err, sizeof err) == 0)
        ast_free_matchers(root);
    else if (!err[0])
        abort(); /* every rejection says why */
    arena_free(&a);

    matcher_t **ms = NULL;
    size_t n = 0;
    promql_error_t perr;
    memset(&perr, 0, sizeof perr);
    if (promql_parse_selector(q, &ms, &n, &perr) == 0) {
        for (size_t i = 0; i < n; i++) matcher_free(ms[i]);
        free(ms);
    } else if (!perr.message[0]) {
        abort();
    }
    free(q);
    return 0;
}
