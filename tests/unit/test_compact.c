/* test_compact.c tests flushing the head into blocks (db_flush_head) and block compaction
 * (db_compact): query results identical before and after a flush, a compaction and a reopen;
 * which blocks form a group (aligned windows of R, 3R, 12R whose end the cuts have passed);
 * the merge's tie rule (the higher-seq block wins on equal timestamps); late samples merged;
 * the parents file deleting inputs left over by a crash at load; no sample twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "model/matcher.h"
#include "storage/block.h"
#include "storage/storage.h"
#include "util/buf.h"
#include "util/status.h"

#define H (3600LL * 1000)
#define R (2 * H)
#define T0 (1700000000000LL / (24 * H) * (24 * H)) /* aligned to a day */

static int rm_fn(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static void rm_rf(const char *d) { nftw(d, rm_fn, 16, FTW_DEPTH | FTW_PHYS); }

static uint64_t bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t xr(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct lset {
    label_t l[8];
    size_t n;
    char buf[256];
} lset_t;

static void mk(lset_t *s, const char *spec)
{
    snprintf(s->buf, sizeof(s->buf), "%s", spec);
    s->n = 0;
    for (char *tok = strtok(s->buf, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        *eq = 0;
        s->l[s->n++] = (label_t){tok, eq + 1, (uint32_t)strlen(tok), (uint32_t)strlen(eq + 1)};
    }
}

static matcher_t *mt(match_type_t ty, const char *n, const char *v)
{
    matcher_t *m;
    char err[128];
    assert_int_equal(matcher_new(ty, n, strlen(n), v, strlen(v), &m, err, sizeof(err)), MS_OK);
    return m;
}

typedef struct fx {
    char dir[64];
    db_options_t o;
    db_t *db;
} fx_t;

static void fx_init(fx_t *f)
{
    strcpy(f->dir, "/tmp/ms_compact_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    db_options_default(&f->o);
    f->o.data_dir = f->dir;
    f->o.retention_ms = 0;
    f->o.wal_fsync = WAL_FSYNC_NEVER;
    f->o.head_window_ms = 0; /* no background cuts: the test decides when blocks are made */
    f->o.wal_segment_bytes = 1 << 16;
    f->db = NULL;
}

static void dbopen(fx_t *f)
{
    char err[256];
    assert_int_equal(db_open(&f->o, &f->db, err, sizeof(err)), MS_OK);
}

static void reopen(fx_t *f)
{
    db_close(f->db);
    dbopen(f);
}

static void put(db_t *db, const char *spec, const sample_t *smp, size_t n)
{
    lset_t l;
    mk(&l, spec);
    appender_t *a;
    assert_int_equal(db_appender(db, &a), MS_OK);
    assert_int_equal(appender_add(a, l.l, l.n, labels_hash(l.l, l.n), smp, n), MS_OK);
    assert_int_equal(appender_commit(a, NULL), MS_OK);
}

/* Everything visible in [mint, maxt] (series labels, sample bits, label names, values of
 * "job") as one string; fails on a timestamp returned twice or out of order. */
static char *dump(db_t *db, int64_t mint, int64_t maxt)
{
    buf_t b = BUF_INIT;
    querier_t *q;
    assert_int_equal(db_querier(db, mint, maxt, &q), MS_OK);
    matcher_t *m = mt(MATCH_RE, "__name__", ".+");
    const matcher_t *ms[1] = {m};
    series_set_t *ss;
    assert_int_equal(querier_select(q, ms, 1, &ss), MS_OK);
    for (size_t i = 0; i < series_set_len(ss); i++) {
        labels_t l = series_set_labels(ss, i);
        for (size_t k = 0; k < l.n; k++) buf_printf(&b, "%s=%s,", l.v[k].name, l.v[k].value);
        sample_vec_t sv = {0};
        assert_int_equal(series_set_samples(ss, i, INT64_MIN, INT64_MAX, &sv), MS_OK);
        buf_printf(&b, " n=%zu:", sv.n);
        for (size_t k = 0; k < sv.n; k++) {
            if (k) assert_true(sv.v[k].t > sv.v[k - 1].t);
            buf_printf(&b, " %lld/%llx", (long long)sv.v[k].t, (unsigned long long)bits(sv.v[k].v));
        }
        buf_putc(&b, '\n');
        sample_vec_free(&sv);
    }
    series_set_free(ss);
    matcher_free(m);
    const char **s;
    size_t *lens, n;
    assert_int_equal(querier_label_names(q, &s, &lens, &n), MS_OK);
    for (size_t i = 0; i < n; i++) buf_printf(&b, "name %s\n", s[i]);
    free(s);
    free(lens);
    assert_int_equal(querier_label_values(q, "job", 3, &s, &lens, &n), MS_OK);
    for (size_t i = 0; i < n; i++) buf_printf(&b, "job %s\n", s[i]);
    free(s);
    free(lens);
    querier_close(q);
    return buf_cstr(&b);
}

/* Samples of the series with job=job in [mint, maxt], or -1 if absent. */
static long count_samples(db_t *db, const char *job, int64_t mint, int64_t maxt)
{
    querier_t *q;
    assert_int_equal(db_querier(db, mint, maxt, &q), MS_OK);
    matcher_t *m = mt(MATCH_EQ, "job", job);
    const matcher_t *ms[1] = {m};
    series_set_t *ss;
    assert_int_equal(querier_select(q, ms, 1, &ss), MS_OK);
    long n = -1;
    if (series_set_len(ss) == 1) {
        sample_vec_t sv = {0};
        assert_int_equal(series_set_samples(ss, 0, mint, maxt, &sv), MS_OK);
        n = (long)sv.n;
        sample_vec_free(&sv);
    }
    series_set_free(ss);
    matcher_free(m);
    querier_close(q);
    return n;
}

/* Value at t of the series with job=job (NAN bits 0 if absent). */
static double value_at(db_t *db, const char *job, int64_t t)
{
    querier_t *q;
    assert_int_equal(db_querier(db, t, t, &q), MS_OK);
    matcher_t *m = mt(MATCH_EQ, "job", job);
    const matcher_t *ms[1] = {m};
    series_set_t *ss;
    assert_int_equal(querier_select(q, ms, 1, &ss), MS_OK);
    double v = -12345;
    if (series_set_len(ss) == 1) {
        sample_vec_t sv = {0};
        assert_int_equal(series_set_samples(ss, 0, t, t, &sv), MS_OK);
        assert_int_equal(sv.n, 1);
        v = sv.v[0].v;
        sample_vec_free(&sv);
    }
    series_set_free(ss);
    matcher_free(m);
    querier_close(q);
    return v;
}

/* nseries series (job=j<k>), one sample per step over [from, to), time-major batches. */
static void load(db_t *db, int nseries, int64_t from, int64_t to, int64_t step)
{
    enum { BATCH = 60 };
    sample_t s[BATCH];
    for (int64_t t0 = from; t0 < to; t0 += BATCH * step) {
        for (int k = 0; k < nseries; k++) {
            char spec[128];
            snprintf(spec, sizeof(spec), "__name__=m%d,job=j%d", k % 3, k);
            size_t n = 0;
            for (int64_t t = t0; n < BATCH && t < to; n++, t += step)
                s[n] = (sample_t){t, k % 2 ? (double)(xr() % 100000) / 100.0 : (double)(xr() >> 11)};
            put(db, spec, s, n);
        }
    }
}

static db_stats_t stats(db_t *db)
{
    db_stats_t st;
    db_stats(db, &st);
    return st;
}

/* ---- flush ---- */

static void test_flush_head(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    dbopen(&f);
    assert_int_equal(db_flush_head(f.db), MS_OK); /* empty head: nothing to do */
    assert_int_equal(stats(f.db).blocks, 0);

    load(f.db, 9, T0, T0 + 5 * H, 60000); /* 5 h: three 2 h ranges, the last partial */
    char *want = dump(f.db, INT64_MIN, INT64_MAX);
    db_stats_t before = stats(f.db);
    assert_int_equal(before.series, 9);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    db_stats_t st = stats(f.db);
    assert_int_equal(st.blocks, 3);
    assert_int_equal(st.block_samples, 9 * 300);
    assert_int_equal(st.series, 0); /* the head is empty */
    assert_int_equal(st.head_chunks, 0);
    assert_true(st.wal_bytes < before.wal_bytes / 4);
    assert_int_equal(st.cuts, 1);
    assert_int_equal(st.blocks_maxt, T0 + 5 * H - 60000);
    char *got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(want, got);
    free(got);
    /* a second flush has nothing to do */
    assert_int_equal(db_flush_head(f.db), MS_OK);
    assert_int_equal(stats(f.db).blocks, 3);

    /* reopen: nothing is replayed into the head, the blocks answer */
    reopen(&f);
    st = stats(f.db);
    assert_int_equal(st.blocks, 3);
    assert_int_equal(st.series, 0);
    got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(want, got);
    free(got);
    free(want);

    /* newer samples, one late sample into a flushed range and a replaced value: another flush
     * makes blocks with higher seqs that win */
    load(f.db, 9, T0 + 5 * H, T0 + 6 * H, 60000);
    sample_t late[2] = {{T0 + H + 30000, 1.25}, {T0 + H, -4.5}};
    put(f.db, "__name__=m0,job=j0", late, 2);
    want = dump(f.db, INT64_MIN, INT64_MAX);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    st = stats(f.db);
    assert_int_equal(st.blocks, 5); /* one more for [4h, 6h), one for the late samples */
    assert_int_equal(st.series, 0);
    got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(want, got);
    free(got);
    assert_true(value_at(f.db, "j0", T0 + H) == -4.5);
    assert_int_equal(count_samples(f.db, "j0", INT64_MIN, INT64_MAX), 6 * 60 + 1);
    reopen(&f);
    got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(want, got);
    free(got);
    free(want);
    db_close(f.db);
    rm_rf(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
