/* test_promql_scripts.c runs the data-driven PromQL scripts in tests/promql/ scripts (*.test) against a real
 * db (db_open on a mkdtemp dir, data written through the appender) via promql_query_instant /
 * promql_query_range.
 *
 * Script format (one command per line; '#' starts a comment line):
 *   clear                                   fresh empty database
 *   windows left_open|closed                engine window boundaries (left_open_windows option)
 *   load <step>                             then indented lines: <series> <values...>
 *       values: 1 -2.5 Inf NaN _ (no sample) stale (staleness marker) a+bxN a-bxN axN (N+1 values)
 *   eval instant at <time> <expr>           then indented expected lines (any order)
 *   eval_ordered instant at <time> <expr>   same, order must match
 *   eval range from <t0> to <t1> step <s> <expr>   expected lines: <series> <values...> ('_' = no point)
 *   eval_fail instant at <time> <expr>      (or range ...) then optionally `  error <substring>`
 *                                           and/or `  type <bad_data|execution|timeout>`
 * Expected lines for vectors: <series> <value>; for a scalar: <value>; for a string: "<text>";
 * for an instant query returning a range vector: <series> <value>@<time> ... Times are durations
 * from the Unix epoch (0, 90s, 5m, 1h30m). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "promql/lex.h"
#include "promql/promql.h"
#include "storage/storage.h"
#include "util/alloc.h"

#define STALE_BITS 0x7ff0000000000002ULL

typedef struct script {
    const char *path;
    char dir[256];
    db_t *db;
    promql_engine_t *eng;
    bool left_open;
    int failures;
} script_t;

static double stale_nan(void)
{
    uint64_t b = STALE_BITS;
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static void open_db(script_t *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/promql_scripts_XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    db_options_t o;
    db_options_default(&o);
    o.data_dir = s->dir;
    o.retention_ms = 0;
    o.wal_fsync = WAL_FSYNC_NEVER;
    char err[256];
    assert_int_equal(db_open(&o, &s->db, err, sizeof err), 0);
    promql_options_t po;
    promql_options_default(&po);
    po.left_open_windows = s->left_open;
    assert_int_equal(promql_engine_new(s->db, &po, &s->eng), 0);
}

static void close_db(script_t *s)
{
    promql_engine_free(s->eng);
    db_close(s->db);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", s->dir);
    s->eng = NULL;
    s->db = NULL;
}

static bool parse_time(const char *tok, int64_t *ms)
{
    long long v;
    if (!lex_parse_duration(tok, strlen(tok), &v)) return false;
    *ms = v;
    return true;
}

/* Splits off the series part (up to the closing brace, or the first space). */
static char *split_series(char *line, char **rest)
{
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    char *start = p;
    int depth = 0;
    bool inq = false;
    for (; *p; p++) {
        if (inq) {
            if (*p == '\\' && p[1]) p++;
            else if (*p == '"') inq = false;
            continue;
        }
        if (*p == '"') inq = true;
        else if (*p == '{') depth++;
        else if (*p == '}') {
            depth--;
            if (depth == 0) {
                p++;
                break;
            }
        } else if ((*p == ' ' || *p == '\t') && depth == 0) break;
    }
    if (*p) *p++ = 0;
    *rest = p;
    return start;
}

/* Labels of a series description, as a sorted array (strings malloc'd into *pool). */
static labels_t series_labels(script_t *s, const char *desc, arena_t *a)
{
    labels_t l = {NULL, 0};
    if (strcmp(desc, "{}") == 0) return l;
    matcher_t **ms;
    size_t n;
    promql_error_t err;
    if (promql_parse_selector(desc, &ms, &n, &err) != 0) {
        fprintf(stderr, "%s: bad series %s: %s\n", s->path, desc, err.message);
        fail();
    }
    l.v = arena_alloc(a, (n ? n : 1) * sizeof(label_t));
    for (size_t i = 0; i < n; i++) {
        l.v[l.n].name = arena_strndup(a, ms[i]->name, ms[i]->name_len);
        l.v[l.n].name_len = (uint32_t)ms[i]->name_len;
        l.v[l.n].value = arena_strndup(a, ms[i]->value, ms[i]->value_len);
        l.v[l.n].value_len = (uint32_t)ms[i]->value_len;
        l.n++;
        matcher_free(ms[i]);
    }
    free(ms);
    labels_sort(l.v, l.n);
    return l;
}

typedef struct vals {
    double *v;
    bool *present;
    int64_t *t; /* only for v@t */
    size_t n, cap;
} vals_t;

static void vals_push(vals_t *vs, double v, bool present, int64_t t)
{
    if (vs->n == vs->cap) {
        vs->cap = vs->cap ? vs->cap * 2 : 16;
        vs->v = xrealloc(vs->v, vs->cap * sizeof(double));
        vs->present = xrealloc(vs->present, vs->cap * sizeof(bool));
        vs->t = xrealloc(vs->t, vs->cap * sizeof(int64_t));
    }
    vs->v[vs->n] = v;
    vs->present[vs->n] = present;
    vs->t[vs->n] = t;
    vs->n++;
}

static bool parse_num(const char *s, double *v)
{
    if (strcmp(s, "stale") == 0) {
        *v = stale_nan();
        return true;
    }
    char *end;
    *v = strtod(s, &end);
    return *end == 0 && end != s;
}

/* Parses value tokens, expanding a+bxN etc. */
static bool parse_values(const char *path, char *rest, vals_t *out)
{
    char *save;
    for (char *tok = strtok_r(rest, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (strcmp(tok, "_") == 0) {
            vals_push(out, 0, false, 0);
            continue;
        }
        char *at = strchr(tok, '@');
        if (at) {
            *at = 0;
            double v;
            int64_t t;
            if (!parse_num(tok, &v) || !parse_time(at + 1, &t)) goto bad;
            vals_push(out, v, true, t);
            continue;
        }
        char *x = strchr(tok, 'x');
        if (x && strncmp(tok, "NaN", 3) != 0) {
            *x = 0;
            long n = strtol(x + 1, NULL, 10);
            /* find the +/- separating start and increment (not a leading sign or exponent sign) */
            char *op = NULL;
            for (char *p = tok + 1; *p; p++)
                if ((*p == '+' || *p == '-') && p[-1] != 'e' && p[-1] != 'E') op = p;
            double start, inc = 0;
            if (op) {
                char sign = *op;
                *op = 0;
                if (!parse_num(tok, &start) || !parse_num(op + 1, &inc)) goto bad;
                if (sign == '-') inc = -inc;
            } else if (!parse_num(tok, &start)) {
                goto bad;
            }
            for (long i = 0; i <= n; i++) vals_push(out, start + inc * (double)i, true, 0);
            continue;
        }
        double v;
        if (!parse_num(tok, &v)) goto bad;
        vals_push(out, v, true, 0);
        continue;
    bad:
        fprintf(stderr, "%s: bad value %s\n", path, tok);
        return false;
    }
    return true;
}

static void vals_free(vals_t *v)
{
    free(v->v);
    free(v->present);
    free(v->t);
}

static void do_load(script_t *s, int64_t step, char **lines, size_t n)
{
    appender_t *app;
    assert_int_equal(db_appender(s->db, &app), 0);
    arena_t a = ARENA_INIT;
    for (size_t i = 0; i < n; i++) {
        char *rest;
        char *desc = split_series(lines[i], &rest);
        labels_t l = series_labels(s, desc, &a);
        vals_t vs = {0};
        assert_true(parse_values(s->path, rest, &vs));
        sample_t *smp = arena_alloc(&a, (vs.n + 1) * sizeof(sample_t));
        size_t ns = 0;
        for (size_t k = 0; k < vs.n; k++)
            if (vs.present[k]) smp[ns++] = (sample_t){(int64_t)k * step, vs.v[k]};
        if (ns) assert_int_equal(appender_add(app, l.v, l.n, labels_hash(l.v, l.n), smp, ns), 0);
        vals_free(&vs);
    }
    append_result_t r;
    assert_int_equal(appender_commit(app, &r), 0);
    arena_free(&a);
}

static bool close_enough(double a, double b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (a == b) return true;
    double d = fabs(a - b), m = fmax(fabs(a), fabs(b));
    return d <= 1e-9 || d / m <= 1e-6;
}

static void fmt_labels(labels_t m, char *out, size_t n)
{
    size_t k = (size_t)snprintf(out, n, "{");
    for (size_t i = 0; i < m.n && k < n; i++)
        k += (size_t)snprintf(out + k, n - k, "%s%.*s=\"%.*s\"", i ? ", " : "", (int)m.v[i].name_len, m.v[i].name,
                              (int)m.v[i].value_len, m.v[i].value);
    if (k < n) snprintf(out + k, n - k, "}");
}

static void dump_result(const promql_result_t *r)
{
    if (r->type == PROMQL_SCALAR) {
        fprintf(stderr, "    got scalar %g\n", r->scalar.v);
        return;
    }
    if (r->type == PROMQL_STRING) {
        fprintf(stderr, "    got string \"%s\"\n", r->string);
        return;
    }
    for (size_t i = 0; i < r->n_series; i++) {
        char b[512];
        fmt_labels(r->series[i].metric, b, sizeof b);
        fprintf(stderr, "    got %s", b);
        for (size_t j = 0; j < r->series[i].n_points; j++)
            fprintf(stderr, " %g@%lld", r->series[i].points[j].v, (long long)r->series[i].points[j].t);
        fprintf(stderr, "\n");
    }
}

typedef struct eval_cmd {
    bool fail, ordered, range;
    int64_t t0, t1, step;
    const char *expr;
} eval_cmd_t;

static bool check_result(script_t *s, const eval_cmd_t *ec, const promql_result_t *r, char **lines, size_t n)
{
    arena_t a = ARENA_INIT;
    bool ok = true;
    if (r->type == PROMQL_SCALAR) {
        double v;
        ok = n == 1 && parse_num(lines[0] + strspn(lines[0], " \t"), &v) && close_enough(v, r->scalar.v);
        arena_free(&a);
        return ok;
    }
    if (r->type == PROMQL_STRING) {
        char *l = lines[0] + strspn(lines[0], " \t");
        size_t len = strlen(l);
        ok = n == 1 && len >= 2 && strlen(r->string) == len - 2 && memcmp(l + 1, r->string, len - 2) == 0;
        return ok;
    }
    if (n != r->n_series) ok = false;
    bool *used = calloc(r->n_series + 1, 1);
    for (size_t i = 0; i < n && ok; i++) {
        char *copy = xstrdup(lines[i]);
        char *rest;
        char *desc = split_series(copy, &rest);
        labels_t l = series_labels(s, desc, &a);
        vals_t vs = {0};
        if (!parse_values(s->path, rest, &vs)) ok = false;
        size_t found = SIZE_MAX;
        if (ec->ordered) {
            if (labels_equal(l.v, l.n, r->series[i].metric.v, r->series[i].metric.n)) found = i;
        } else {
            for (size_t j = 0; j < r->n_series; j++)
                if (!used[j] && labels_equal(l.v, l.n, r->series[j].metric.v, r->series[j].metric.n)) {
                    found = j;
                    break;
                }
        }
        if (found == SIZE_MAX) ok = false;
        else {
            used[found] = true;
            const promql_series_t *sr = &r->series[found];
            if (ec->range) {
                size_t pi = 0;
                for (size_t k = 0; k < vs.n && ok; k++) {
                    int64_t t = ec->t0 + (int64_t)k * ec->step;
                    if (!vs.present[k]) {
                        if (pi < sr->n_points && sr->points[pi].t == t) ok = false;
                        continue;
                    }
                    if (pi >= sr->n_points || sr->points[pi].t != t || !close_enough(vs.v[k], sr->points[pi].v)) ok = false;
                    pi++;
                }
                if (pi != sr->n_points) ok = false;
            } else if (r->type == PROMQL_MATRIX) {
                if (vs.n != sr->n_points) ok = false;
                for (size_t k = 0; k < vs.n && ok; k++)
                    if (vs.t[k] != sr->points[k].t || !close_enough(vs.v[k], sr->points[k].v)) ok = false;
            } else {
                if (vs.n != 1 || sr->n_points != 1 || !close_enough(vs.v[0], sr->points[0].v)) ok = false;
            }
        }
        vals_free(&vs);
        free(copy);
    }
    free(used);
    arena_free(&a);
    return ok;
}

static void do_eval(script_t *s, int lineno, const eval_cmd_t *ec, char **lines, size_t n)
{
    promql_result_t r;
    promql_error_t err;
    int rc = ec->range ? promql_query_range(s->eng, ec->expr, ec->t0, ec->t1, ec->step, 0, &r, &err)
                       : promql_query_instant(s->eng, ec->expr, ec->t0, 0, &r, &err);
    if (ec->fail) {
        if (rc == 0) {
            fprintf(stderr, "%s:%d: expected failure of %s\n", s->path, lineno, ec->expr);
            promql_result_free(&r);
            s->failures++;
            return;
        }
        for (size_t i = 0; i < n; i++) {
            char *l = lines[i] + strspn(lines[i], " \t");
            if (strncmp(l, "error ", 6) == 0 && !strstr(err.message, l + 6)) {
                fprintf(stderr, "%s:%d: error of %s is\n    %s\n  expected to contain\n    %s\n", s->path, lineno, ec->expr,
                        err.message, l + 6);
                s->failures++;
            }
            if (strncmp(l, "type ", 5) == 0 && strcmp(promql_error_type_str(err.type), l + 5) != 0) {
                fprintf(stderr, "%s:%d: error type of %s is %s, expected %s\n", s->path, lineno, ec->expr,
                        promql_error_type_str(err.type), l + 5);
                s->failures++;
            }
        }
        return;
    }
    if (rc != 0) {
        fprintf(stderr, "%s:%d: %s failed: %s: %s\n", s->path, lineno, ec->expr, promql_error_type_str(err.type), err.message);
        s->failures++;
        return;
    }
    if (!check_result(s, ec, &r, lines, n)) {
        fprintf(stderr, "%s:%d: unexpected result for %s\n  expected:\n", s->path, lineno, ec->expr);
        for (size_t i = 0; i < n; i++) fprintf(stderr, "    %s\n", lines[i]);
        dump_result(&r);
        s->failures++;
    }
    promql_result_free(&r);
}

static bool parse_eval(char *line, eval_cmd_t *ec)
{
    memset(ec, 0, sizeof *ec);
    char *save;
    char *cmd = strtok_r(line, " \t", &save);
    ec->fail = strcmp(cmd, "eval_fail") == 0;
    ec->ordered = strcmp(cmd, "eval_ordered") == 0;
    char *kind = strtok_r(NULL, " \t", &save);
    if (!kind) return false;
    if (strcmp(kind, "instant") == 0) {
        char *at = strtok_r(NULL, " \t", &save), *t = strtok_r(NULL, " \t", &save);
        if (!at || strcmp(at, "at") != 0 || !t || !parse_time(t, &ec->t0)) return false;
        ec->t1 = ec->t0;
    } else if (strcmp(kind, "range") == 0) {
        char *f = strtok_r(NULL, " \t", &save), *t0 = strtok_r(NULL, " \t", &save);
        char *to = strtok_r(NULL, " \t", &save), *t1 = strtok_r(NULL, " \t", &save);
        char *st = strtok_r(NULL, " \t", &save), *s = strtok_r(NULL, " \t", &save);
        if (!f || !t0 || !to || !t1 || !st || !s || !parse_time(t0, &ec->t0) || !parse_time(t1, &ec->t1) ||
            !parse_time(s, &ec->step))
            return false;
        ec->range = true;
    } else {
        return false;
    }
    ec->expr = save + strspn(save, " \t");
    return *ec->expr != 0;
}

static void run_script(void **state)
{
    const char *path = *state;
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char **all = NULL;
    size_t n = 0, cap = 0;
    char buf[8192];
    while (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = 0;
        XGROW(all, cap, n + 1);
        all[n++] = xstrdup(buf);
    }
    fclose(f);
    script_t s = {.path = path};
    open_db(&s);
    for (size_t i = 0; i < n;) {
        char *l = all[i];
        char *trim = l + strspn(l, " \t");
        if (*trim == 0 || *trim == '#') {
            i++;
            continue;
        }
        size_t j = i + 1; /* indented block */
        while (j < n && (all[j][0] == ' ' || all[j][0] == '\t') && all[j][strspn(all[j], " \t")] != 0) j++;
        size_t k = 0; /* drop comment lines from the block */
        char **blk = all + i + 1;
        char **kept = xcalloc(j - i, sizeof(char *));
        for (size_t x = 0; x < j - i - 1; x++)
            if (blk[x][strspn(blk[x], " \t")] != '#') kept[k++] = blk[x];
        if (strcmp(trim, "clear") == 0) {
            close_db(&s);
            open_db(&s);
        } else if (strncmp(trim, "windows ", 8) == 0) {
            s.left_open = strcmp(trim + 8, "left_open") == 0;
            promql_engine_free(s.eng);
            promql_options_t po;
            promql_options_default(&po);
            po.left_open_windows = s.left_open;
            assert_int_equal(promql_engine_new(s.db, &po, &s.eng), 0);
        } else if (strncmp(trim, "load ", 5) == 0) {
            int64_t step;
            if (!parse_time(trim + 5, &step)) {
                fprintf(stderr, "%s:%zu: bad load step\n", path, i + 1);
                s.failures++;
            } else {
                do_load(&s, step, kept, k);
            }
        } else if (strncmp(trim, "eval", 4) == 0) {
            char *copy = xstrdup(trim);
            eval_cmd_t ec;
            if (!parse_eval(copy, &ec)) {
                fprintf(stderr, "%s:%zu: bad eval line\n", path, i + 1);
                s.failures++;
            } else {
                do_eval(&s, (int)i + 1, &ec, kept, k);
            }
            free(copy);
        } else {
            fprintf(stderr, "%s:%zu: unknown command: %s\n", path, i + 1, trim);
            s.failures++;
        }
        free(kept);
        i = j;
    }
    close_db(&s);
    for (size_t i = 0; i < n; i++) free(all[i]);
    free(all);
    if (s.failures) fprintf(stderr, "%s: %d failure(s)\n", path, s.failures);
    assert_int_equal(s.failures, 0);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void)
{
    const char *dir = getenv("PROMQL_TEST_DIR");
    if (!dir) dir = "tests/promql";
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s (run from the repository root or set PROMQL_TEST_DIR)\n", dir);
        return 1;
    }
    char **files = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".test") == 0) {
            XGROW(files, cap, n + 1);
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            files[n++] = xstrdup(p);
        }
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "no .test files in %s\n", dir);
        return 1;
    }
    qsort(files, n, sizeof(char *), cmp_str);
    struct CMUnitTest *tests = xcalloc(n, sizeof *tests);
    for (size_t i = 0; i < n; i++) {
        tests[i].name = files[i];
        tests[i].test_func = run_script;
        tests[i].initial_state = files[i];
    }
    int rc = _cmocka_run_group_tests("promql_scripts", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
    free(tests);
    return rc;
}
