/* test_storage.c tests the storage engine through storage.h only, on a temp data dir: append and
 * query, out-of-order / duplicate / replacing samples, every matcher kind (empty-matching ones,
 * regex fast paths agreeing with the slow path), label names/values, close + reopen replay,
 * metadata persistence, retention, and 4 writers + 2 readers running concurrently. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "storage/storage.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/status.h"
#include "testutil.h"

/* ---- helpers ---- */

static int setup(void **state) { return tu_db_setup(state, "/tmp/ms_storage_XXXXXX"); }

static void reopen(tu_db_t *f)
{
    db_close(f->db);
    f->db = NULL;
    tu_db_open(f);
}

/* Parses "a=1,b=2" into labels, sorted here (callers may give them in any order). */
static void mk(tu_lset_t *s, const char *spec)
{
    tu_labels(s, spec);
    labels_sort(s->l, s->n);
}

static void put(db_t *db, const char *spec, const sample_t *smp, size_t n)
{
    tu_lset_t s;
    mk(&s, spec);
    appender_t *a;
    assert_int_equal(db_appender(db, &a), MS_OK);
    assert_int_equal(appender_add(a, s.l, s.n, labels_hash(s.l, s.n), smp, n), MS_OK);
    append_result_t r;
    assert_int_equal(appender_commit(a, &r), MS_OK);
}

static void put1(db_t *db, const char *spec, int64_t t, double v)
{
    sample_t s = {t, v};
    put(db, spec, &s, 1);
}

/* Selects with matchers given as (type, name, value) triples; returns count and the
 * comma-joined value of label `show` of each series into out. */
static size_t sel(db_t *db, const char *show, char *out, size_t outlen, int nm, ...)
{
    matcher_t *ms[8];
    va_list ap;
    va_start(ap, nm);
    for (int i = 0; i < nm; i++) {
        match_type_t ty = (match_type_t)va_arg(ap, int);
        const char *name = va_arg(ap, const char *);
        const char *val = va_arg(ap, const char *);
        char err[128];
        assert_int_equal(matcher_new(ty, name, strlen(name), val, strlen(val), &ms[i], err, sizeof(err)), MS_OK);
    }
    va_end(ap);
    querier_t *q;
    assert_int_equal(db_querier(db, INT64_MIN, INT64_MAX, &q), MS_OK);
    series_set_t *ss;
    assert_int_equal(querier_select(q, (const matcher_t *const *)ms, (size_t)nm, &ss), MS_OK);
    size_t n = series_set_len(ss);
    if (out) {
        out[0] = 0;
        for (size_t i = 0; i < n; i++) {
            labels_t l = series_set_labels(ss, i);
            uint32_t len = 0;
            const char *v = labels_get(l.v, l.n, show, strlen(show), &len);
            size_t cur = strlen(out);
            snprintf(out + cur, outlen - cur, "%s%.*s", i ? "," : "", (int)len, v ? v : "-");
        }
    }
    series_set_free(ss);
    querier_close(q);
    for (int i = 0; i < nm; i++) matcher_free(ms[i]);
    return n;
}

/* All samples of the one series matching name=value. */
static void get(db_t *db, const char *name, const char *value, int64_t mint, int64_t maxt, sample_vec_t *out)
{
    matcher_t *m;
    char err[64];
    assert_int_equal(matcher_new(MATCH_EQ, name, strlen(name), value, strlen(value), &m, err, sizeof(err)), MS_OK);
    querier_t *q;
    assert_int_equal(db_querier(db, mint, maxt, &q), MS_OK);
    series_set_t *ss;
    assert_int_equal(querier_select(q, (const matcher_t *const *)&m, 1, &ss), MS_OK);
    out->n = 0;
    if (series_set_len(ss) == 1) assert_int_equal(series_set_samples(ss, 0, mint, maxt, out), MS_OK);
    else assert_int_equal(series_set_len(ss), 0);
    series_set_free(ss);
    querier_close(q);
    matcher_free(m);
}

/* ---- tests ---- */

static void test_append_query(void **state)
{
    tu_db_t *f = *state;
    int64_t now = clock_now_ms();
    sample_t smp[500];
    for (int i = 0; i < 500; i++) smp[i] = (sample_t){now - 500000 + i * 1000, i * 1.5};
    put(f->db, "__name__=up,job=a", smp, 500);
    sample_vec_t sv = {0};
    get(f->db, "job", "a", INT64_MIN, INT64_MAX, &sv);
    assert_int_equal(sv.n, 500);
    for (int i = 0; i < 500; i++) {
        assert_true(sv.v[i].t == smp[i].t);
        assert_true(sv.v[i].v == smp[i].v);
    }
    /* range clamp: querier range and call range */
    get(f->db, "job", "a", now - 500000 + 10000, now - 500000 + 19000, &sv);
    assert_int_equal(sv.n, 10);
    assert_true(sv.v[0].t == now - 500000 + 10000);
    /* out of the querier's range: no series */
    get(f->db, "job", "a", now + 1, now + 100000, &sv);
    assert_int_equal(sv.n, 0);
    db_stats_t st;
    db_stats(f->db, &st);
    assert_int_equal(st.series, 1);
    assert_int_equal(st.samples_appended, 500);
    assert_true(st.head_chunks >= 500 / 240);
    assert_true(st.head_mint == smp[0].t && st.head_maxt == smp[499].t);
    assert_true(st.head_bytes > 0 && st.wal_bytes > 0);
    sample_vec_free(&sv);
    /* a second open of the same data dir is refused while the first is open */
    db_t *other = NULL;
    char err[256] = "";
    assert_int_equal(db_open(&f->o, &other, err, sizeof(err)), MS_EBUSY);
    assert_null(other);
    assert_non_null(strstr(err, "in use"));
}

static void test_special_values(void **state)
{
    tu_db_t *f = *state;
    int64_t now = clock_now_ms();
    uint64_t stale = 0x7ff0000000000002ull;
    double vs[5];
    memcpy(&vs[0], &stale, 8);
    vs[1] = NAN;
    vs[2] = INFINITY;
    vs[3] = -INFINITY;
    vs[4] = -0.0;
    sample_t smp[5];
    for (int i = 0; i < 5; i++) smp[i] = (sample_t){now - 10000 + i, vs[i]};
    put(f->db, "__name__=x", smp, 5);
    for (int round = 0; round < 2; round++) {
        sample_vec_t sv = {0};
        get(f->db, "__name__", "x", INT64_MIN, INT64_MAX, &sv);
        assert_int_equal(sv.n, 5);
        for (int i = 0; i < 5; i++) assert_true(tu_bits(sv.v[i].v) == tu_bits(vs[i]));
        sample_vec_free(&sv);
        reopen(f);
    }
}

static void test_out_of_order_dups(void **state)
{
    tu_db_t *f = *state;
    int64_t base = clock_now_ms() - 3600000;
    /* 1000 samples at even offsets in shuffled order, then odd ones, spread across many chunks */
    enum { N = 1000 };
    int order[N];
    for (int i = 0; i < N; i++) order[i] = i;
    uint64_t r = 12345;
    for (int i = N - 1; i > 0; i--) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        int j = (int)((r >> 33) % (uint64_t)(i + 1));
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (int i = 0; i < N; i++) put1(f->db, "__name__=ooo", base + order[i] * 10, order[i]);
    /* duplicate: no-op; same t different value: replaces */
    put1(f->db, "__name__=ooo", base + 500 * 10, 500);
    put1(f->db, "__name__=ooo", base + 501 * 10, -1);
    put1(f->db, "__name__=ooo", base + 5, 0.5); /* between two existing */
    for (int round = 0; round < 2; round++) {
        sample_vec_t sv = {0};
        get(f->db, "__name__", "ooo", INT64_MIN, INT64_MAX, &sv);
        assert_int_equal(sv.n, N + 1);
        for (size_t i = 1; i < sv.n; i++) assert_true(sv.v[i].t > sv.v[i - 1].t);
        assert_true(sv.v[1].t == base + 5 && sv.v[1].v == 0.5);
        for (size_t i = 0; i < sv.n; i++) {
            if (sv.v[i].t == base + 5) continue;
            int k = (int)((sv.v[i].t - base) / 10);
            assert_true(sv.v[i].v == (k == 501 ? -1.0 : (double)k));
        }
        sample_vec_free(&sv);
        reopen(f); /* replay keeps last-write-wins order */
    }
    /* accepted counts include duplicates */
    tu_lset_t s;
    mk(&s, "__name__=ooo");
    appender_t *a;
    sample_t dup = {base, 0};
    assert_int_equal(db_appender(f->db, &a), MS_OK);
    assert_int_equal(appender_add(a, s.l, s.n, labels_hash(s.l, s.n), &dup, 1), MS_OK);
    append_result_t res;
    assert_int_equal(appender_commit(a, &res), MS_OK);
    assert_int_equal(res.samples_accepted, 1);
    assert_int_equal(res.series_created, 0);
}

static void load_matcher_data(db_t *db)
{
    int64_t t = clock_now_ms() - 1000;
    /* "aid" sorts right after __name__, so labels order equals aid order */
    put1(db, "__name__=m,aid=1,job=api,env=prod", t, 1);
    put1(db, "__name__=m,aid=2,job=api,env=dev", t, 1);
    put1(db, "__name__=m,aid=3,job=api_v2", t, 1);
    put1(db, "__name__=m,aid=4,job=db,env=prod", t, 1);
    put1(db, "__name__=m,aid=5,job=web", t, 1);
    put1(db, "__name__=n,aid=6,job=api", t, 1);
}

static void test_matchers(void **state)
{
    tu_db_t *f = *state;
    load_matcher_data(f->db);
    char out[256];
#define CHECK(expect, ...)                                                                                          \
    do {                                                                                                            \
        sel(f->db, "aid", out, sizeof(out), __VA_ARGS__);                                                            \
        assert_string_equal(out, expect);                                                                           \
    } while (0)
    CHECK("1,2,3,4,5", 1, MATCH_EQ, "__name__", "m");
    CHECK("1,2", 2, MATCH_EQ, "__name__", "m", MATCH_EQ, "job", "api");
    CHECK("3,4,5", 2, MATCH_EQ, "__name__", "m", MATCH_NEQ, "job", "api");
    /* env="" selects series without env; env!="prod" includes series lacking env */
    CHECK("3,5", 2, MATCH_EQ, "__name__", "m", MATCH_EQ, "env", "");
    CHECK("1,2,4", 2, MATCH_EQ, "__name__", "m", MATCH_NEQ, "env", "");
    CHECK("2,3,5", 2, MATCH_EQ, "__name__", "m", MATCH_NEQ, "env", "prod");
    /* regex: literal set, prefix, general, and negations */
    CHECK("1,2,4", 2, MATCH_EQ, "__name__", "m", MATCH_RE, "job", "api|db");
    CHECK("1,2,3", 2, MATCH_EQ, "__name__", "m", MATCH_RE, "job", "api.*");
    CHECK("3,5", 2, MATCH_EQ, "__name__", "m", MATCH_RE, "job", "(api_|w).+");
    CHECK("3,5", 2, MATCH_EQ, "__name__", "m", MATCH_NRE, "job", "api|db");
    CHECK("4,5", 2, MATCH_EQ, "__name__", "m", MATCH_NRE, "job", "api.*");
    CHECK("1,3,4,5", 2, MATCH_EQ, "__name__", "m", MATCH_NRE, "env", "dev");
    /* matchers that accept "": e.g. env=~"prod|" keeps series lacking env */
    CHECK("1,3,4,5", 2, MATCH_EQ, "__name__", "m", MATCH_RE, "env", "prod|");
    CHECK("1,2,3,4,5", 2, MATCH_EQ, "__name__", "m", MATCH_RE, "env", ".*");
    CHECK("1,2,4", 2, MATCH_EQ, "__name__", "m", MATCH_RE, "env", ".+");
    CHECK("3,5", 2, MATCH_EQ, "__name__", "m", MATCH_NRE, "env", ".+");
    /* only empty-matching matchers: start from all series */
    CHECK("3,5,6", 1, MATCH_EQ, "env", "");
    CHECK("1,3,4,5,6", 1, MATCH_NEQ, "env", "dev");
    /* unknown label / value */
    CHECK("", 1, MATCH_EQ, "nope", "x");
    CHECK("", 2, MATCH_EQ, "__name__", "m", MATCH_EQ, "job", "zzz");
    CHECK("1,2,3,4,5", 2, MATCH_EQ, "__name__", "m", MATCH_NEQ, "nope", "x");
    /* EQ is literal, never a regex */
    CHECK("", 1, MATCH_EQ, "aid", "1|6");
    CHECK("1,6", 1, MATCH_RE, "aid", "1|6");
#undef CHECK
}

static void test_matchers_fastpath_agree(void **state)
{
    tu_db_t *f = *state;
    int64_t t = clock_now_ms() - 1000;
    char spec[128];
    for (int i = 0; i < 300; i++) {
        snprintf(spec, sizeof(spec), "__name__=fp,v=%s%d,w=%d", i % 3 ? "ab" : "x", i, i % 7);
        put1(f->db, spec, t, i);
    }
    /* each pair: fast-path pattern and an equivalent that forces the slow path */
    const char *pairs[][2] = {
        {"ab1.*", "(ab1).*"},
        {"ab10|ab11|x0", "(ab10|ab11|x0)"},
        {"x.*", "(x).*"},
        {"ab", "(ab)"},
    };
    for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
        for (int neg = 0; neg < 2; neg++) {
            char a[4096], b[4096];
            match_type_t ty = neg ? MATCH_NRE : MATCH_RE;
            size_t na = sel(f->db, "v", a, sizeof(a), 2, MATCH_EQ, "__name__", "fp", ty, "v", pairs[k][0]);
            size_t nb = sel(f->db, "v", b, sizeof(b), 2, MATCH_EQ, "__name__", "fp", ty, "v", pairs[k][1]);
            assert_int_equal(na, nb);
            assert_string_equal(a, b);
        }
    }
    char a[4096];
    assert_int_equal(sel(f->db, "v", a, sizeof(a), 2, MATCH_EQ, "__name__", "fp", MATCH_RE, "v", "ab1.*"), 75);
    assert_int_equal(sel(f->db, "v", a, sizeof(a), 2, MATCH_EQ, "__name__", "fp", MATCH_RE, "v", "ab10|ab11|x0"), 3);
    assert_string_equal(a, "ab10,ab11,x0");
}

static void test_label_names_values(void **state)
{
    tu_db_t *f = *state;
    load_matcher_data(f->db);
    put1(f->db, "__name__=old,zz=1", 1000, 1); /* far in the past */
    querier_t *q;
    assert_int_equal(db_querier(f->db, clock_now_ms() - 60000, INT64_MAX, &q), MS_OK);
    const char **names;
    size_t *lens, n;
    assert_int_equal(querier_label_names(q, &names, &lens, &n), MS_OK);
    assert_int_equal(n, 4);
    const char *exp[] = {"__name__", "aid", "env", "job"};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(lens[i], strlen(exp[i]));
        assert_memory_equal(names[i], exp[i], lens[i]);
    }
    free(names);
    free(lens);
    assert_int_equal(querier_label_values(q, "job", 3, &names, &lens, &n), MS_OK);
    const char *expv[] = {"api", "api_v2", "db", "web"};
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) assert_memory_equal(names[i], expv[i], lens[i]);
    free(names);
    free(lens);
    assert_int_equal(querier_label_values(q, "__name__", 8, &names, &lens, &n), MS_OK);
    assert_int_equal(n, 2); /* "old" has no data in range */
    free(names);
    free(lens);
    assert_int_equal(querier_label_values(q, "missing", 7, &names, &lens, &n), MS_OK);
    assert_int_equal(n, 0);
    free(names);
    free(lens);
    querier_close(q);
    /* a full-range querier sees "old" and zz */
    assert_int_equal(db_querier(f->db, INT64_MIN, INT64_MAX, &q), MS_OK);
    assert_int_equal(querier_label_names(q, &names, &lens, &n), MS_OK);
    assert_int_equal(n, 5);
    free(names);
    free(lens);
    querier_close(q);
}

static int meta_cb(const metric_metadata_t *m, void *arg)
{
    char *out = arg;
    size_t cur = strlen(out);
    snprintf(out + cur, 512 - cur, "%s|%s|%s|%s;", m->metric, m->type, m->help, m->unit);
    return 0;
}

static void test_reopen_and_metadata(void **state)
{
    tu_db_t *f = *state;
    int64_t now = clock_now_ms();
    char spec[64];
    for (int s = 0; s < 50; s++) {
        sample_t smp[30];
        for (int i = 0; i < 30; i++) smp[i] = (sample_t){now - 100000 + i * 1000 + s, s * 100 + i};
        snprintf(spec, sizeof(spec), "__name__=r,s=%d", s);
        put(f->db, spec, smp, 30);
    }
    appender_t *a;
    assert_int_equal(db_appender(f->db, &a), MS_OK);
    assert_int_equal(appender_add_metadata(a, "r", 1, "gauge", 5, "old help", 8, "", 0), MS_OK);
    assert_int_equal(appender_add_metadata(a, "q", 1, "counter", 7, "a counter", 9, "seconds", 7), MS_OK);
    assert_int_equal(appender_commit(a, NULL), MS_OK);
    assert_int_equal(db_appender(f->db, &a), MS_OK);
    assert_int_equal(appender_add_metadata(a, "r", 1, "gauge", 5, "new help", 8, "bytes", 5), MS_OK);
    assert_int_equal(appender_commit(a, NULL), MS_OK);
    /* rolled back batch leaves nothing */
    assert_int_equal(db_appender(f->db, &a), MS_OK);
    tu_lset_t ls;
    mk(&ls, "__name__=rolled");
    sample_t one = {now, 1};
    assert_int_equal(appender_add(a, ls.l, ls.n, labels_hash(ls.l, ls.n), &one, 1), MS_OK);
    appender_rollback(a);

    for (int round = 0; round < 3; round++) {
        char out[4096];
        assert_int_equal(sel(f->db, "s", out, sizeof(out), 1, MATCH_EQ, "__name__", "r"), 50);
        for (int s = 0; s < 50; s++) {
            snprintf(spec, sizeof(spec), "%d", s);
            sample_vec_t sv = {0};
            get(f->db, "s", spec, INT64_MIN, INT64_MAX, &sv);
            assert_int_equal(sv.n, 30);
            for (int i = 0; i < 30; i++) {
                assert_true(sv.v[i].t == now - 100000 + i * 1000 + s);
                assert_true(sv.v[i].v == s * 100 + i);
            }
            sample_vec_free(&sv);
        }
        assert_int_equal(sel(f->db, "s", out, sizeof(out), 1, MATCH_EQ, "__name__", "rolled"), 0);
        char meta[512] = "";
        db_metadata_each(f->db, NULL, meta_cb, meta);
        assert_string_equal(meta, "q|counter|a counter|seconds;r|gauge|new help|bytes;");
        meta[0] = 0;
        db_metadata_each(f->db, "q", meta_cb, meta);
        assert_string_equal(meta, "q|counter|a counter|seconds;");
        db_stats_t st;
        db_stats(f->db, &st);
        assert_int_equal(st.series, 50 + (uint64_t)round);
        /* round 1 comes from the head snapshot of a clean close, round 2 from WAL replay */
        if (round == 1) {
            assert_true(st.head_snapshot_loaded);
            assert_int_equal(st.wal_replay_records, 0);
        }
        if (round == 2) {
            assert_false(st.head_snapshot_loaded);
            assert_true(st.wal_replay_records >= 3);
            assert_int_equal(st.wal_replay_corrupt, 0);
        }
        /* new series after reopen get fresh refs and survive the next reopen too */
        snprintf(spec, sizeof(spec), "__name__=after%d", round);
        put1(f->db, spec, now, round);
        if (round == 1) f->o.no_head_snapshot = true;
        reopen(f);
        assert_int_equal(sel(f->db, "s", out, sizeof(out), 1, MATCH_RE, "__name__", "after.*"), round + 1);
        sample_vec_t sv = {0};
        get(f->db, "__name__", spec + 9, INT64_MIN, INT64_MAX, &sv);
        assert_int_equal(sv.n, 1);
        assert_true(sv.v[0].v == round);
        sample_vec_free(&sv);
    }
}

static void test_retention(void **state)
{
    tu_db_t *f = *state;
    db_close(f->db);
    f->o.retention_ms = 3600 * 1000;
    f->o.wal_segment_bytes = 4096;
    char err[128];
    assert_int_equal(db_open(&f->o, &f->db, err, sizeof(err)), MS_OK);
    int64_t now = clock_now_ms();
    /* too old, too new and fine */
    tu_lset_t ls;
    mk(&ls, "__name__=ret,k=a");
    sample_t smp[3] = {{now - 7200 * 1000, 1}, {now + 3600 * 1000, 2}, {now - 45 * 60 * 1000, 3}};
    appender_t *a;
    assert_int_equal(db_appender(f->db, &a), MS_OK);
    assert_int_equal(appender_add(a, ls.l, ls.n, labels_hash(ls.l, ls.n), smp, 3), MS_OK);
    append_result_t r;
    assert_int_equal(appender_commit(a, &r), MS_OK);
    assert_int_equal(r.samples_accepted, 1);
    assert_int_equal(r.samples_too_old, 1);
    assert_int_equal(r.samples_too_new, 1);
    assert_int_equal(r.series_created, 1);
    /* 40 series whose data all lies ~50 min back, spread over many 4 KiB segments */
    char spec[64];
    for (int s = 0; s < 40; s++) {
        sample_t old[20];
        for (int i = 0; i < 20; i++) old[i] = (sample_t){now - 3000 * 1000 + i * 1000, i};
        snprintf(spec, sizeof(spec), "__name__=ret,k=old%d", s);
        put(f->db, spec, old, 20);
    }
    put1(f->db, "__name__=ret,k=a", now, 4);
    put1(f->db, "__name__=ret,k=b", now - 10, 9);
    char out[1024];
    assert_int_equal(sel(f->db, "k", out, sizeof(out), 1, MATCH_EQ, "__name__", "ret"), 42);
    db_stats_t st;
    db_stats(f->db, &st);
    uint64_t wal_before = st.wal_bytes;
    /* 16 minutes later (cutoff now-44m) the old series fall out of the window */
    assert_int_equal(db_apply_retention(f->db, now + 16 * 60 * 1000), MS_OK);
    assert_int_equal(sel(f->db, "k", out, sizeof(out), 1, MATCH_EQ, "__name__", "ret"), 2);
    assert_string_equal(out, "a,b");
    db_stats(f->db, &st);
    assert_int_equal(st.series, 2);
    assert_true(st.wal_bytes < wal_before); /* old segments deleted */
    /* k=a's series record was in the first (deleted) segment: re-logging keeps it replayable */
    reopen(f);
    sample_vec_t sv = {0};
    get(f->db, "k", "a", INT64_MIN, INT64_MAX, &sv);
    assert_true(sv.n >= 1);
    assert_true(sv.v[sv.n - 1].v == 4 && sv.v[sv.n - 1].t == now);
    get(f->db, "k", "b", INT64_MIN, INT64_MAX, &sv);
    assert_int_equal(sv.n, 1);
    assert_true(sel(f->db, "k", out, sizeof(out), 1, MATCH_EQ, "__name__", "ret") < 42);
    /* a retention pass at the real time keeps everything in the window */
    assert_int_equal(db_apply_retention(f->db, clock_now_ms()), MS_OK);
    get(f->db, "k", "b", INT64_MIN, INT64_MAX, &sv);
    assert_int_equal(sv.n, 1);
    sample_vec_free(&sv);
}

/* ---- concurrency ---- */

typedef struct wctx {
    db_t *db;
    int id;
    int64_t base;
    atomic_int *stop;
    int committed; /* batches committed: samples i < committed*10 exist for each series */
} wctx_t;

static void *writer(void *arg)
{
    wctx_t *w = arg;
    char buf[20][48];
    label_t ls[20][2];
    for (int s = 0; s < 20; s++) {
        snprintf(buf[s], sizeof(buf[s]), "w%d_s%d", w->id, s);
        ls[s][0] = (label_t){"__name__", "conc", 8, 4};
        ls[s][1] = (label_t){"sid", buf[s], 3, (uint32_t)strlen(buf[s])};
    }
    while (!*w->stop && w->committed < 2000) {
        appender_t *a;
        if (db_appender(w->db, &a) != MS_OK) return NULL;
        for (int s = 0; s < 20; s++) {
            sample_t smp[10];
            for (int i = 0; i < 10; i++) {
                int k = w->committed * 10 + i;
                smp[i] = (sample_t){w->base + k, k};
            }
            appender_add(a, ls[s], 2, labels_hash(ls[s], 2), smp, 10);
        }
        if (appender_commit(a, NULL) != MS_OK) return NULL;
        w->committed++;
    }
    return NULL;
}

static void *reader(void *arg)
{
    wctx_t *w = arg;
    matcher_t *m;
    char err[64];
    matcher_new(MATCH_EQ, "__name__", 8, "conc", 4, &m, err, sizeof(err));
    int bad = 0;
    while (!*w->stop) {
        querier_t *q;
        db_querier(w->db, INT64_MIN, INT64_MAX, &q);
        series_set_t *ss;
        querier_select(q, (const matcher_t *const *)&m, 1, &ss);
        sample_vec_t sv = {0};
        for (size_t i = 0; i < series_set_len(ss); i++) {
            sv.n = 0;
            series_set_samples(ss, i, INT64_MIN, INT64_MAX, &sv);
            for (size_t k = 0; k < sv.n; k++) /* samples are contiguous 0..n-1 */
                if (sv.v[k].v != (double)k || sv.v[k].t != w->base + (int64_t)k) bad++;
        }
        sample_vec_free(&sv);
        series_set_free(ss);
        querier_close(q);
        w->committed++;
    }
    matcher_free(m);
    w->id = bad;
    return NULL;
}

static void *gc_thread(void *arg)
{
    wctx_t *w = arg;
    while (!*w->stop) {
        /* a querier held across a retention pass in another thread must not deadlock it */
        querier_t *q1, *q2;
        db_querier(w->db, 0, 1, &q1);
        db_querier(w->db, 0, 1, &q2);
        querier_close(q1);
        querier_close(q2);
        if (db_apply_retention(w->db, clock_now_ms()) != MS_OK) w->id = -1;
        w->committed++;
        usleep(2000);
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    tu_db_t *f = *state;
    atomic_int stop = 0;
    int64_t base = clock_now_ms() - 600000;
    wctx_t w[7];
    pthread_t th[7];
    for (int i = 0; i < 7; i++) {
        w[i] = (wctx_t){f->db, i, base, &stop, 0};
        pthread_create(&th[i], NULL, i < 4 ? writer : i < 6 ? reader : gc_thread, &w[i]);
    }
    usleep(1000 * 1000);
    stop = 1;
    for (int i = 0; i < 7; i++) pthread_join(th[i], NULL);
    assert_int_equal(w[6].id, 6);
    assert_true(w[6].committed >= 1); /* retention passes ran alongside, without deadlock */
    assert_int_equal(w[4].id, 0);
    assert_int_equal(w[5].id, 0);
    assert_true(w[4].committed > 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 4; i++) {
            assert_true(w[i].committed > 0);
            for (int s = 0; s < 20; s++) {
                char name[48];
                snprintf(name, sizeof(name), "w%d_s%d", i, s);
                sample_vec_t sv = {0};
                get(f->db, "sid", name, INT64_MIN, INT64_MAX, &sv);
                assert_int_equal(sv.n, (size_t)w[i].committed * 10);
                for (size_t k = 0; k < sv.n; k++) assert_true(sv.v[k].v == (double)k);
                sample_vec_free(&sv);
            }
        }
        reopen(f);
    }
}

static void test_fsync_always_and_interval(void **state)
{
    tu_db_t *f = *state;
    wal_fsync_t modes[] = {WAL_FSYNC_ALWAYS, WAL_FSYNC_INTERVAL};
    for (int m = 0; m < 2; m++) {
        db_close(f->db);
        f->o.wal_fsync = modes[m];
        f->o.wal_fsync_interval_ms = 10;
        char err[128];
        assert_int_equal(db_open(&f->o, &f->db, err, sizeof(err)), MS_OK);
        char spec[32];
        snprintf(spec, sizeof(spec), "__name__=fs,m=%d", m);
        for (int i = 0; i < 20; i++) put1(f->db, spec, clock_now_ms() - 1000 + i, i);
        usleep(30000);
        reopen(f);
        char out[64];
        assert_int_equal(sel(f->db, "m", out, sizeof(out), 1, MATCH_EQ, "__name__", "fs"), (size_t)m + 1);
    }
}

/* A WAL write failure (file size limit) fails the commit and leaves nothing visible; the next
 * commit after the fault clears succeeds. */
static void test_failed_commit(void **state)
{
    tu_db_t *f = *state;
    int64_t now = clock_now_ms();
    put1(f->db, "__name__=ok", now - 5, 1);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 16;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    tu_lset_t ls;
    mk(&ls, "__name__=failed");
    appender_t *a;
    sample_t smp[2] = {{now - 3, 2}, {now - 2, 3}};
    assert_int_equal(db_appender(f->db, &a), MS_OK);
    assert_int_equal(appender_add(a, ls.l, ls.n, labels_hash(ls.l, ls.n), smp, 2), MS_OK);
    tu_lset_t ls2;
    mk(&ls2, "__name__=ok");
    assert_int_equal(appender_add(a, ls2.l, ls2.n, labels_hash(ls2.l, ls2.n), smp, 2), MS_OK);
    int rc = appender_commit(a, NULL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_true(rc == MS_EIO || rc == MS_ENOSPC);
    char out[64];
    assert_int_equal(sel(f->db, "__name__", out, sizeof(out), 1, MATCH_RE, "__name__", "failed|ok"), 1);
    sample_vec_t sv = {0};
    get(f->db, "__name__", "ok", INT64_MIN, INT64_MAX, &sv);
    assert_int_equal(sv.n, 1);
    /* the WAL is still usable */
    put1(f->db, "__name__=failed", now - 1, 4);
    reopen(f);
    assert_int_equal(sel(f->db, "__name__", out, sizeof(out), 1, MATCH_RE, "__name__", "failed|ok"), 2);
    get(f->db, "__name__", "failed", INT64_MIN, INT64_MAX, &sv);
    assert_int_equal(sv.n, 1);
    assert_true(sv.v[0].v == 4);
    db_stats_t st;
    db_stats(f->db, &st);
    assert_int_equal(st.wal_replay_corrupt, 0);
    sample_vec_free(&sv);
}

static void test_bad_args(void **state)
{
    (void)state;
    db_options_t o;
    db_options_default(&o);
    o.data_dir = "";
    db_t *db = NULL;
    char err[128] = "";
    assert_int_equal(db_open(&o, &db, err, sizeof(err)), MS_EINVAL);
    assert_true(strlen(err) > 0);
    db_close(NULL);
    appender_rollback(NULL);
    querier_close(NULL);
    series_set_free(NULL);
    /* invalid label sets are refused for new series (they could not be replayed) */
    char dir[64];
    tu_tmpdir(dir, "/tmp/ms_storage_XXXXXX");
    o.data_dir = dir;
    assert_int_equal(db_open(&o, &db, err, sizeof(err)), MS_OK);
    appender_t *a;
    assert_int_equal(db_appender(db, &a), MS_OK);
    label_t unsorted[] = {{"b", "1", 1, 1}, {"a", "2", 1, 1}};
    label_t dup[] = {{"a", "1", 1, 1}, {"a", "2", 1, 1}};
    sample_t smp = {clock_now_ms(), 1};
    assert_int_equal(appender_add(a, unsorted, 2, labels_hash(unsorted, 2), &smp, 1), MS_EINVAL);
    assert_int_equal(appender_add(a, dup, 2, labels_hash(dup, 2), &smp, 1), MS_EINVAL);
    append_result_t r;
    assert_int_equal(appender_commit(a, &r), MS_OK);
    assert_int_equal(r.samples_accepted, 0);
    db_stats_t st;
    db_stats(db, &st);
    assert_int_equal(st.series, 0);
    db_close(db);
    tu_rm_rf(dir);
    o.data_dir = "/proc/definitely/not/here";
    assert_true(db_open(&o, &db, err, sizeof(err)) != MS_OK);
}

int main(void)
{
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_query, setup, tu_db_teardown),
        cmocka_unit_test_setup_teardown(test_special_values, setup, tu_db_teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_dups, setup, tu_db_teardown),
        cmocka_unit_test_setup_teardown(test_matchers, setup, tu_db_teardown),
        cmocka_unit_test_setup_teardown(test_matchers_fastpath_agree, setup, tu_db_teardown),
        cmocka_unit_test_setup_teardown(test_label_names_values, setup, tu_db_teardown),
        cmocka_unit_test_setup_teardown(test_reopen_and_metadata, setup, tu_db_teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, tu_db_teardown),
        cmocka_unit_test_setup_teardown(test_concurrency, setup, tu_db_teardown),
        cmocka_unit_test_setup_teardown(test_fsync_always_and_interval, setup, tu_db_teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit, setup, tu_db_teardown),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
