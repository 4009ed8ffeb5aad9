/* test_model.c tests label sets (sort, validate, compare, hash) and matchers (all kinds, fast
 * paths agreeing with the regex engine, anchoring, empty matching). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "model/labels.h"
#include "model/matcher.h"
#include "util/status.h"

#define L(n, v) {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)}

static void test_labels_sort_validate(void **state)
{
    (void)state;
    label_t ls[] = {L("job", "a"), L("__name__", "up"), L("instance", "x"), L("empty", "")};
    size_t n = labels_drop_empty(ls, 4);
    assert_int_equal(n, 3);
    labels_sort(ls, n);
    assert_memory_equal(ls[0].name, "__name__", 8);
    assert_memory_equal(ls[1].name, "instance", 8);
    assert_memory_equal(ls[2].name, "job", 3);
    assert_int_equal(labels_validate(ls, n), LABELS_OK);

    label_t dup[] = {L("a", "1"), L("a", "2")};
    assert_int_equal(labels_validate(dup, 2), LABELS_DUPLICATE_NAME);
    label_t empty_name[] = {L("", "1")};
    assert_int_equal(labels_validate(empty_name, 1), LABELS_EMPTY_NAME);
    assert_int_equal(labels_validate(NULL, 0), LABELS_EMPTY_SET);
    label_t bad_name[] = {{"a\xff", "v", 2, 1}};
    assert_int_equal(labels_validate(bad_name, 1), LABELS_NAME_NOT_UTF8);
    label_t bad_val[] = {{"a", "\xc3\x28", 1, 2}};
    assert_int_equal(labels_validate(bad_val, 1), LABELS_VALUE_NOT_UTF8);
    label_t utf8_name[] = {L("service.name", "x"), L("\xc3\xa9t\xc3\xa9", "y")};
    labels_sort(utf8_name, 2);
    assert_int_equal(labels_validate(utf8_name, 2), LABELS_OK);
    /* NUL bytes are valid UTF-8 and kept by length */
    label_t nul[] = {{"a", "x\0y", 1, 3}};
    assert_int_equal(labels_validate(nul, 1), LABELS_OK);
}

static void test_labels_cmp_hash(void **state)
{
    (void)state;
    label_t a[] = {L("__name__", "up"), L("job", "a")};
    label_t b[] = {L("__name__", "up"), L("job", "b")};
    label_t c[] = {L("__name__", "up")};
    assert_true(labels_cmp(a, 2, b, 2) < 0);
    assert_true(labels_cmp(b, 2, a, 2) > 0);
    assert_true(labels_cmp(c, 1, a, 2) < 0);
    assert_int_equal(labels_cmp(a, 2, a, 2), 0);
    assert_true(labels_equal(a, 2, a, 2));
    assert_false(labels_equal(a, 2, b, 2));
    assert_true(labels_hash(a, 2) == labels_hash(a, 2));
    assert_true(labels_hash(a, 2) != labels_hash(b, 2));
    /* the separator makes ("ab","c") differ from ("a","bc") */
    label_t x[] = {L("ab", "c")};
    label_t y[] = {L("a", "bc")};
    assert_true(labels_hash(x, 1) != labels_hash(y, 1));
    uint32_t len = 0;
    const char *v = labels_get(a, 2, "job", 3, &len);
    assert_non_null(v);
    assert_int_equal(len, 1);
    assert_null(labels_get(a, 2, "nope", 4, &len));
}

static matcher_t *mk(match_type_t t, const char *v)
{
    matcher_t *m = NULL;
    char err[256];
    assert_int_equal(matcher_new(t, "l", 1, v, strlen(v), &m, err, sizeof err), MS_OK);
    return m;
}

static bool mm(matcher_t *m, const char *v) { return matcher_matches(m, v, strlen(v)); }

static void test_matchers(void **state)
{
    (void)state;
    matcher_t *eq = mk(MATCH_EQ, "foo"), *neq = mk(MATCH_NEQ, "foo"), *eqe = mk(MATCH_EQ, "");
    assert_true(mm(eq, "foo"));
    assert_false(mm(eq, "foobar"));
    assert_false(eq->matches_empty);
    assert_true(mm(neq, "bar"));
    assert_false(mm(neq, "foo"));
    assert_true(neq->matches_empty);
    assert_true(eqe->matches_empty);

    /* regexes are fully anchored */
    matcher_t *re = mk(MATCH_RE, "fo+");
    assert_true(mm(re, "foo"));
    assert_false(mm(re, "xfoo"));
    assert_false(mm(re, "foox"));
    assert_false(re->matches_empty);
    matcher_t *nre = mk(MATCH_NRE, "fo+");
    assert_true(nre->matches_empty);
    assert_false(mm(nre, "foo"));

    /* fast paths */
    matcher_t *set = mk(MATCH_RE, "a|bc|");
    assert_true(set->is_literal_set);
    assert_int_equal(set->n_alts, 3);
    assert_true(mm(set, "bc"));
    assert_true(mm(set, ""));
    assert_true(set->matches_empty);
    assert_false(mm(set, "abc"));
    matcher_t *pre = mk(MATCH_RE, "api_.*");
    assert_non_null(pre->prefix);
    assert_true(mm(pre, "api_x"));
    assert_true(mm(pre, "api_"));
    assert_false(mm(pre, "ap"));
    assert_false(mm(pre, "api_a\nb")); /* . does not match newline, as in RE2 */
    matcher_t *all = mk(MATCH_RE, ".*");
    assert_true(all->matches_empty);
    matcher_t *plus = mk(MATCH_RE, ".+");
    assert_false(plus->matches_empty);
    assert_true(mm(plus, "x"));
    /* alternation is grouped inside the anchors: "a|b" must not match "ab" */
    matcher_t *alt = mk(MATCH_RE, "a.|b");
    assert_false(mm(alt, "ab b"));
    assert_true(mm(alt, "ab"));
    assert_true(mm(alt, "b"));
    /* UTF-8 aware */
    matcher_t *u = mk(MATCH_RE, "caf.");
    assert_true(mm(u, "caf\xc3\xa9"));

    matcher_t *bad = NULL;
    char err[256] = "";
    assert_int_equal(matcher_new(MATCH_RE, "l", 1, "(", 1, &bad, err, sizeof err), MS_EINVAL);
    assert_null(bad);
    assert_true(strlen(err) > 0);

    matcher_t *all_m[] = {eq, neq, eqe, re, nre, set, pre, all, plus, alt, u};
    for (size_t i = 0; i < sizeof all_m / sizeof *all_m; i++) matcher_free(all_m[i]);
    matcher_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_sort_validate),
        cmocka_unit_test(test_labels_cmp_hash),
        cmocka_unit_test(test_matchers),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
