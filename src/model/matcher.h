/* matcher.h owns label matchers (= != =~ !~). Regexes are fully anchored and use PCRE2 with JIT
 * (Prometheus uses RE2 syntax; the common subset behaves the same). Literal, prefix and
 * literal-alternation regexes are detected so the index can use fast paths.
 * Ownership: matcher_new copies name and value; matcher_free releases everything.
 * Threading: a matcher holds its own PCRE2 match data, so one matcher is used by one thread
 * at a time (queries parse their own matchers). */
#ifndef MS_MODEL_MATCHER_H
#define MS_MODEL_MATCHER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { MATCH_EQ, MATCH_NEQ, MATCH_RE, MATCH_NRE } match_type_t;

typedef struct matcher {
    match_type_t type;
    char *name;          /* NUL-terminated copy */
    size_t name_len;
    char *value;         /* NUL-terminated copy (the pattern for regex types) */
    size_t value_len;
    /* Regex fast paths (only for MATCH_RE / MATCH_NRE). When is_literal_set, the regex matches
     * exactly the strings in alts (e.g. "a|b|c" or a plain literal "abc", n_alts == 1). When
     * prefix is non-NULL, the regex is prefix followed by ".*" (e.g. "api_.*"). */
    bool is_literal_set;
    char **alts;
    size_t *alt_lens;
    size_t n_alts;
    char *prefix;
    size_t prefix_len;
    bool matches_empty;  /* does the matcher accept ""? then series lacking the label match */
    void *re;            /* pcre2_code_8 *, NULL when a fast path decides alone */
    void *md;            /* pcre2_match_data_8 * */
} matcher_t;

/* Creates a matcher. On a bad regex returns MS_EINVAL and writes a message to err. */
int matcher_new(match_type_t type, const char *name, size_t name_len, const char *value, size_t value_len,
                matcher_t **out, char *err, size_t err_len);
void matcher_free(matcher_t *m);
/* Does the matcher accept this value? (An absent label is the value "".) */
bool matcher_matches(const matcher_t *m, const char *value, size_t len);
const char *match_type_str(match_type_t t); /* "=", "!=", "=~", "!~" */

#endif
