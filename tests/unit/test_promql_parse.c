/* test_promql_parse.c tests the PromQL lexer (tokens, numbers, durations, strings, context
 * errors) and parser (every construct, precedence and associativity, modifiers, type checking,
 * error texts with positions) and promql_parse_selector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "promql/lex.h"
#include "promql/parse.h"
#include "promql/promql.h"
#include "util/status.h"

static void expect_tokens(const char *q, const tok_type_t *want, size_t n)
{
    lexer_t lx;
    lex_run(&lx, q, strlen(q));
    if (lx.ntoks != n) {
        for (size_t i = 0; i < lx.ntoks; i++) print_error("tok %zu type %d\n", i, lx.toks[i].type);
    }
    assert_int_equal(lx.ntoks, n);
    for (size_t i = 0; i < n; i++) assert_int_equal(lx.toks[i].type, want[i]);
    lex_free(&lx);
}

static void test_lex_tokens(void **state)
{
    (void)state;
    tok_type_t a[] = {T_SUM, T_BY, T_LPAREN, T_IDENT, T_RPAREN, T_LPAREN, T_IDENT, T_LBRACE, T_IDENT,
                      T_EQL_REGEX, T_STRING, T_COMMA, T_IDENT, T_NEQ, T_STRING, T_RBRACE, T_LBRACKET,
                      T_DURATION, T_COLON, T_DURATION, T_RBRACKET, T_RPAREN, T_EOF};
    expect_tokens("sum by (job) (rate{job=~\"a\", x!='b'}[1h30m:1m]) # comment", a, sizeof a / sizeof a[0]);
    tok_type_t b[] = {T_METRIC_IDENT, T_OFFSET, T_SUB, T_DURATION, T_AT, T_START, T_LPAREN, T_RPAREN, T_EOF};
    expect_tokens("job:rate5m offset -5m @ start()", b, sizeof b / sizeof b[0]);
    tok_type_t c[] = {T_NUMBER, T_POW, T_NUMBER, T_LAND, T_NUMBER, T_GTE, T_NUMBER, T_LUNLESS, T_NUMBER,
                      T_ATAN2, T_NUMBER, T_EQLC, T_NUMBER, T_LOR, T_NUMBER, T_EOF};
    expect_tokens("1 ^ Inf AND NaN >= 0x1F unless 1e3 atan2 .5 == 5. or 2", c, sizeof c / sizeof c[0]);
}

static void test_lex_strings_durations(void **state)
{
    (void)state;
    char *s;
    size_t n;
    char err[64];
    const char *q = "\"a\\n\\t\\\"\\x41\\101\\u00e9\"";
    assert_int_equal(lex_unquote(q, strlen(q), &s, &n, err, sizeof err), 0);
    assert_int_equal(n, 8);
    assert_memory_equal(s, "a\n\t\"AA\xc3\xa9", 8);
    free(s);
    assert_int_equal(lex_unquote("`a\\n`", 5, &s, &n, err, sizeof err), 0);
    assert_string_equal(s, "a\\n");
    free(s);
    assert_int_equal(lex_unquote("'it\\'s'", 7, &s, &n, err, sizeof err), 0);
    assert_string_equal(s, "it's");
    free(s);
    assert_int_not_equal(lex_unquote("\"\\q\"", 4, &s, &n, err, sizeof err), 0);

    long long ms;
    assert_true(lex_parse_duration("1h30m", 5, &ms));
    assert_int_equal(ms, 5400000);
    assert_true(lex_parse_duration("10ms", 4, &ms));
    assert_int_equal(ms, 10);
    assert_true(lex_parse_duration("1y2w3d", 6, &ms));
    assert_int_equal(ms, (365LL + 14 + 3) * 86400000);
    assert_false(lex_parse_duration("30m1h", 5, &ms));
    assert_false(lex_parse_duration("1.5h", 4, &ms));
    assert_false(lex_parse_duration("5", 1, &ms));
}

static node_t *parsed[64];
static size_t nparsed;

static void free_parsed(void)
{
    for (size_t i = 0; i < nparsed; i++) ast_free_matchers(parsed[i]);
    nparsed = 0;
}

static node_t *parse_ok(arena_t *a, const char *q)
{
    node_t *n = NULL;
    char err[512];
    int rc = promql_parse(q, strlen(q), a, &n, err, sizeof err);
    if (rc != 0) print_error("parse of %s failed: %s\n", q, err);
    assert_int_equal(rc, 0);
    assert_non_null(n);
    if (nparsed < 64) parsed[nparsed++] = n;
    return n;
}

static void expect_err(const char *q, const char *msg)
{
    arena_t a = ARENA_INIT;
    node_t *n = NULL;
    char err[512];
    int rc = promql_parse(q, strlen(q), &a, &n, err, sizeof err);
    if (rc == 0 || strcmp(err, msg) != 0) print_error("query %s: got '%s', want '%s'\n", q, rc ? err : "(ok)", msg);
    assert_int_equal(rc, MS_EINVAL);
    assert_string_equal(err, msg);
    free_parsed();
    arena_free(&a);
}

static void test_parse_numbers(void **state)
{
    (void)state;
    arena_t a = ARENA_INIT;
    struct { const char *q; double v; } cases[] = {
        {"1", 1}, {".5", 0.5}, {"5.", 5}, {"5e-3", 0.005}, {"0xc", 12}, {"0755", 493}, {"-0755", -493},
        {"+5.5e-3", 0.0055}, {"-1", -1}, {"08", 8}, {"1E3", 1000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        node_t *n = parse_ok(&a, cases[i].q);
        assert_int_equal(n->kind, N_NUMBER);
        assert_true(n->num == cases[i].v);
    }
    node_t *n = parse_ok(&a, "+Inf");
    assert_true(isinf(n->num) && n->num > 0);
    n = parse_ok(&a, "-inf");
    assert_true(isinf(n->num) && n->num < 0);
    n = parse_ok(&a, "NaN");
    assert_true(isnan(n->num));
    free_parsed();
    arena_free(&a);
}

static void test_parse_precedence(void **state)
{
    (void)state;
    arena_t a = ARENA_INIT;
    /* -1^2 is -(1^2) */
    node_t *n = parse_ok(&a, "-1^2");
    assert_int_equal(n->kind, N_UNARY);
    assert_int_equal(n->unary.expr->kind, N_BINARY);
    assert_int_equal(n->unary.expr->bin.op, T_POW);
    /* ^ is right-associative: 2^3^2 = 2^(3^2) */
    n = parse_ok(&a, "2 ^ 3 ^ 2");
    assert_int_equal(n->bin.op, T_POW);
    assert_int_equal(n->bin.rhs->kind, N_BINARY);
    /* 1 + 2 * 3 */
    n = parse_ok(&a, "1 + 2 * 3");
    assert_int_equal(n->bin.op, T_ADD);
    assert_int_equal(n->bin.rhs->bin.op, T_MUL);
    /* left assoc: 1 - 2 - 3 = (1-2)-3 */
    n = parse_ok(&a, "1 - 2 - 3");
    assert_int_equal(n->bin.lhs->kind, N_BINARY);
    /* a or b and c unless d  = a or ((b and c) unless d) */
    n = parse_ok(&a, "a or b and c unless d");
    assert_int_equal(n->bin.op, T_LOR);
    assert_int_equal(n->bin.rhs->bin.op, T_LUNLESS);
    assert_int_equal(n->bin.rhs->bin.lhs->bin.op, T_LAND);
    /* comparisons bind looser than arithmetic: a > b + 1 */
    n = parse_ok(&a, "a > b + 1");
    assert_int_equal(n->bin.op, T_GTR);
    /* atan2 has * precedence */
    n = parse_ok(&a, "a + b atan2 c");
    assert_int_equal(n->bin.op, T_ADD);
    assert_int_equal(n->bin.rhs->bin.op, T_ATAN2);
    /* unary binds tighter than *: -a * b = (-a) * b */
    n = parse_ok(&a, "-a * b");
    assert_int_equal(n->kind, N_BINARY);
    assert_int_equal(n->bin.lhs->kind, N_UNARY);
    /* 2 ^ -1 */
    n = parse_ok(&a, "2 ^ -1");
    assert_int_equal(n->bin.rhs->kind, N_NUMBER);
    assert_true(n->bin.rhs->num == -1);
    /* offset binds tighter than binary operators */
    n = parse_ok(&a, "a + b offset 5m");
    assert_int_equal(n->bin.rhs->kind, N_VECTOR_SEL);
    assert_int_equal(n->bin.rhs->vs.offset, 300000);
    
    free_parsed();
    arena_free(&a);
}

static void test_parse_constructs(void **state)
{
    (void)state;
    arena_t a = ARENA_INIT;
    node_t *n = parse_ok(&a, "foo{a=\"b\", c!~'d.*',}[5m] offset -1h @ 100.5");
    assert_int_equal(n->kind, N_MATRIX_SEL);
    assert_int_equal(n->ms.range, 300000);
    assert_int_equal(n->ms.vs->vs.n_ms, 3);
    assert_int_equal(n->ms.vs->vs.offset, -3600000);
    assert_int_equal(n->ms.vs->vs.at_kind, AT_TIME);
    assert_int_equal(n->ms.vs->vs.at, 100500);
    

    n = parse_ok(&a, "rate(foo[5m])[30m:1m] @ end() offset 1m");
    assert_int_equal(n->kind, N_SUBQUERY);
    assert_int_equal(n->sq.range, 1800000);
    assert_int_equal(n->sq.step, 60000);
    assert_int_equal(n->sq.at_kind, AT_END);
    assert_int_equal(n->sq.offset, 60000);
    

    n = parse_ok(&a, "max_over_time((a + b)[10m:])");
    assert_int_equal(n->kind, N_CALL);
    assert_int_equal(n->call.args[0]->kind, N_SUBQUERY);
    assert_int_equal(n->call.args[0]->sq.step, 0);
    

    n = parse_ok(&a, "sum without (instance) (foo)");
    assert_int_equal(n->kind, N_AGG);
    assert_true(n->agg.without);
    assert_int_equal(n->agg.n_grouping, 1);
    

    n = parse_ok(&a, "topk(3, foo) by (job, \"service.name\")");
    assert_int_equal(n->agg.op, T_TOPK);
    assert_non_null(n->agg.param);
    assert_int_equal(n->agg.n_grouping, 2);
    assert_int_equal(n->agg.grouping[1].len, 12);
    

    n = parse_ok(&a, "SUM(foo)");
    assert_int_equal(n->agg.op, T_SUM);
    

    n = parse_ok(&a, "count_values(\"v\", foo)");
    assert_int_equal(n->agg.param->kind, N_STRING);
    

    n = parse_ok(&a, "a * on(job) group_left(instance) b");
    assert_int_equal(n->bin.vm.card, CARD_MANY_TO_ONE);
    assert_true(n->bin.vm.on);
    assert_int_equal(n->bin.vm.n_labels, 1);
    assert_int_equal(n->bin.vm.n_include, 1);
    

    n = parse_ok(&a, "a / ignoring(x) group_right b");
    assert_int_equal(n->bin.vm.card, CARD_ONE_TO_MANY);
    assert_false(n->bin.vm.on);
    

    n = parse_ok(&a, "a > bool 1");
    assert_true(n->bin.ret_bool);
    

    n = parse_ok(&a, "a and on() b");
    assert_int_equal(n->bin.vm.card, CARD_MANY_TO_MANY);
    

    /* keywords and aggregator names as metric names / label names */
    n = parse_ok(&a, "foo * sum");
    assert_int_equal(n->bin.rhs->kind, N_VECTOR_SEL);
    
    n = parse_ok(&a, "sum by (on, by, offset) (foo)");
    assert_int_equal(n->agg.n_grouping, 3);
    

    n = parse_ok(&a, "{\"my.metric\", \"service.name\"=\"x\"}");
    assert_int_equal(n->vs.n_ms, 2);
    assert_string_equal(n->vs.ms[0]->name, "__name__");
    assert_string_equal(n->vs.ms[0]->value, "my.metric");
    assert_string_equal(n->vs.ms[1]->name, "service.name");
    

    n = parse_ok(&a, "label_join(foo, \"d\", \",\", \"a\", \"b\", \"c\")");
    assert_int_equal(n->call.nargs, 6);
    

    n = parse_ok(&a, "day_of_week()");
    assert_int_equal(n->call.nargs, 0);
    n = parse_ok(&a, "round(foo, 5)");
    
    n = parse_ok(&a, "# comment\nfoo # trailing\n");
    
    free_parsed();
    arena_free(&a);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_err("", "1:1: parse error: no expression found in input");
    expect_err("# just a comment\n\n", "1:1: parse error: no expression found in input");
    expect_err("1+", "1:3: parse error: unexpected end of input");
    expect_err(".", "1:1: parse error: unexpected character: '.'");
    expect_err("0deadbeef", "1:1: parse error: bad number or duration syntax: \"0de\"");
    expect_err("*1", "1:1: parse error: unexpected <op:*>");
    expect_err("(1))", "1:4: parse error: unexpected right parenthesis ')'");
    expect_err("((1)", "1:5: parse error: unclosed left parenthesis");
    expect_err("1 and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression");
    expect_err("1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier");
    expect_err("1 !~ 1", "1:3: parse error: unexpected character after '!': '~'");
    expect_err("1 =~ 1", "1:3: parse error: unexpected character after '=': '~'");
    expect_err("-\"string\"",
               "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\"");
    expect_err("-test[5m]",
               "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\"");
    expect_err("1 offset 1d",
               "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
    expect_err("foo offset 1s offset 2s", "1:1: parse error: offset may not be set multiple times");
    expect_err("foo @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times");
    expect_err("a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>");
    expect_err("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher");
    expect_err("foo{a=~\".*\"} + {x=\"\"}", "1:16: parse error: vector selector must contain at least one non-empty matcher");
    expect_err("foo{__name__=\"bar\"}", "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\"");
    expect_err("rate(foo)",
               "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector");
    expect_err("abs(foo[5m])",
               "1:5: parse error: expected type instant vector in call to function \"abs\", got range vector");
    expect_err("foo()", "1:1: parse error: unknown function with name \"foo\"");
    expect_err("floor()", "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 0");
    expect_err("round(a, 1, 2)", "1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3");
    expect_err("label_join(a, \"b\")", "1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 2");
    expect_err("sum(foo[5m])", "1:5: parse error: expected type instant vector in aggregation expression, got range vector");
    expect_err("topk(foo)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1");
    expect_err("topk(\"a\", foo)", "1:6: parse error: expected type scalar in aggregation parameter, got string");
    expect_err("count_values(1, foo)", "1:14: parse error: expected type string in aggregation parameter, got scalar");
    expect_err("foo[5m] + 1", "1:1: parse error: binary expression must contain only scalar and instant vector types");
    expect_err("foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators");
    expect_err("1 + on(a) foo", "1:1: parse error: vector matching only allowed between instant vectors");
    expect_err("a and on(x) group_left b", "1:1: parse error: no grouping allowed for \"and\" operation");
    expect_err("a * on(x) group_left(x) b", "1:3: parse error: label \"x\" must not occur in ON and GROUP clause at once");
    expect_err("(foo)[5m]", "1:6: parse error: ranges only allowed for vector selectors");
    expect_err("foo offset 5m[5m]", "1:14: parse error: no offset modifiers allowed before range");
    expect_err("foo @ 5 [5m]", "1:9: parse error: no @ modifiers allowed before range");
    expect_err("foo[0s]", "1:5: parse error: duration must be greater than 0");
    expect_err("foo[]", "1:5: parse error: unexpected \"]\" in subquery selector, expected duration");
    expect_err("foo[5m 1m]", "1:8: parse error: unexpected duration \"1m\" in subquery or range, expected \":\" or \"]\"");
    expect_err("foo[5m:1m 1m]", "1:11: parse error: unexpected duration \"1m\" in subquery selector, expected \"]\"");
    expect_err("foo offset", "1:11: parse error: unexpected end of input in offset, expected duration");
    expect_err("foo @ bar", "1:7: parse error: unexpected identifier \"bar\" in @, expected timestamp");
    expect_err("rate(foo[5m],)", "1:13: parse error: trailing commas not allowed in function call args");
    expect_err("sum(a, b, c)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 1, got 3");
    expect_err("sum()", "1:1: parse error: no arguments for aggregate expression provided");
    expect_err("sum by (a) b", "1:12: parse error: unexpected identifier \"b\" in aggregation");
    expect_err("sum without(==)(x)", "1:13: parse error: unexpected <op:==> in grouping opts, expected label");
    expect_err("foo{a=b}", "1:7: parse error: unexpected identifier \"b\" in label matching, expected string");
    expect_err("foo{a=\"b\" c=\"d\"}", "1:11: parse error: unexpected identifier \"c\" in label matching, expected \",\" or \"}\"");
    expect_err("foo{a*\"b\"}", "1:6: parse error: unexpected character inside braces: '*'");
    expect_err("some}", "1:5: parse error: unexpected right brace '}'");
    expect_err("(foo[5m", "1:8: parse error: unclosed left parenthesis");
    expect_err("foo bar", "1:5: parse error: unexpected identifier \"bar\"");
    expect_err("foo[5m][1m:]", "1:1: parse error: subquery is only allowed on instant vector, got range vector instead");
    expect_err("foo[5m", "1:7: parse error: unclosed left bracket");
    expect_err("foo{a=\"b\"", "1:10: parse error: unexpected end of input inside braces");
    expect_err("foo{a}", "1:6: parse error: unexpected \"}\" in label matching, expected label matching operator");
    expect_err("\"unterminated", "1:14: parse error: unterminated quoted string");
    expect_err("foo[1.5h]", "1:5: parse error: not a valid duration string: \"1.5h\"");
    expect_err("sum by (a) (x) by (b)", "1:16: parse error: unexpected <by>");
    expect_err("1\n+ {}", "2:3: parse error: vector selector must contain at least one non-empty matcher");
}

static void test_re2_compat(void **state)
{
    (void)state;
    char e[256];
    const char *ok[] = {"a.*", "(?i)abc", "(?P<n>x)", "(?:a|b)+?", "a{2,3}?", "[(?=]\\d+", "\\p{Greek}x", "x*y+z?",
                        "\\.\\-", "\\012", "a|", "[]a]"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!promql_regex_re2_check(ok[i], strlen(ok[i]), e, sizeof e)) print_error("%s: %s\n", ok[i], e);
        assert_true(promql_regex_re2_check(ok[i], strlen(ok[i]), e, sizeof e));
    }
    struct { const char *re, *msg; } bad[] = {
        {"(?<n>api)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"},
        {"(?=a)pi", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"},
        {"a++", "error parsing regexp: invalid nested repetition operator: `++`"},
        {"a**", "error parsing regexp: invalid nested repetition operator: `**`"},
        {"\\N", "error parsing regexp: invalid escape sequence: `\\N`"},
        {"(a)\\1", "error parsing regexp: invalid escape sequence: `\\1`"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(promql_regex_re2_check(bad[i].re, strlen(bad[i].re), e, sizeof e));
        assert_string_equal(e, bad[i].msg);
    }
    expect_err("up{job=~\"a++\"}", "1:4: parse error: error parsing regexp: invalid nested repetition operator: `++`");
}

static void test_parse_selector(void **state)
{
    (void)state;
    matcher_t **ms;
    size_t n;
    promql_error_t err;
    assert_int_equal(promql_parse_selector("up{job=~\"a|b\", x!=\"\"}", &ms, &n, &err), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) matcher_free(ms[i]);
    free(ms);
    assert_int_equal(promql_parse_selector("{__name__=~\"a.*\"}", &ms, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ms[0]->type, MATCH_RE);
    matcher_free(ms[0]);
    free(ms);
    /* as Prometheus's ParseMetricSelector: the non-empty-matcher rule is the caller's (api) */
    assert_int_equal(promql_parse_selector("{a=\"\"}", &ms, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_true(ms[0]->matches_empty);
    matcher_free(ms[0]);
    free(ms);
    assert_int_equal(promql_parse_selector("up{a=~\"(\"}", &ms, &n, &err), MS_EINVAL);
    assert_int_equal(err.type, PROMQL_ERR_BAD_DATA);
    assert_int_equal(promql_parse_selector("{}", &ms, &n, &err), 0);
    assert_int_equal(n, 0);
    free(ms);
    assert_int_equal(promql_parse_selector("rate(x[5m])", &ms, &n, &err), MS_EINVAL);
    assert_int_equal(promql_parse_selector("up{", &ms, &n, &err), MS_EINVAL);
    assert_int_equal(promql_parse_selector("up[5m]", &ms, &n, &err), MS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lex_tokens),        cmocka_unit_test(test_lex_strings_durations),
        cmocka_unit_test(test_parse_numbers),     cmocka_unit_test(test_parse_precedence),
        cmocka_unit_test(test_parse_constructs),  cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_selector),    cmocka_unit_test(test_re2_compat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
