/* test_db_status.c tests db_head_status (the figures of /api/v1/status/tsdb) against counts made
 * here from the data put in: top-N order and ties, scoping by matchers with one label hidden (how
 * tenants use it), min/max time and chunk counts, the empty head; the quarantine of a block whose
 * files are damaged (moved aside with its reason, listed, the other blocks still served); and the
 * time taken on 100k series (printed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "model/matcher.h"
#include "storage/storage.h"
#include "util/status.h"
#include "testutil.h"

static void fx_init(tu_db_t *f)
{
    tu_db_init(f, "/tmp/ms_dbstatus_XXXXXX");
    f->o.head_window_ms = 0;
    tu_db_open(f);
}

static void fx_done(tu_db_t *f)
{
    db_close(f->db);
    tu_rm_rf(f->dir);
}

/* spec "a=1,b=2" (sorted by name by the caller) */
static void put(db_t *db, const char *spec, int64_t t0, size_t n)
{
    sample_t s[16];
    for (size_t i = 0; i < n; i++) s[i] = (sample_t){t0 + (int64_t)i * 1000, (double)i};
    tu_db_put(db, spec, s, n);
}

static const db_stat_entry_t *find(const db_stat_list_t *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name)) return &l->v[i];
    return NULL;
}

static void test_empty(void **state)
{
    (void)state;
    tu_db_t f;
    fx_init(&f);
    db_head_status_opts_t o = {0};
    db_head_status_t st;
    assert_int_equal(db_head_status(f.db, &o, &st), MS_OK);
    assert_int_equal(st.num_series, 0);
    assert_int_equal(st.num_label_pairs, 0);
    assert_true(st.min_time == INT64_MAX && st.max_time == INT64_MIN);
    assert_int_equal(st.series_by_metric.n + st.values_by_label.n + st.memory_by_label.n + st.series_by_pair.n, 0);
    db_head_status_free(&st);
    assert_int_equal(db_block_corrupt_reads(f.db), 0);
    db_quarantined_t *q;
    size_t nq;
    assert_int_equal(db_quarantined(f.db, &q, &nq), MS_OK);
    assert_int_equal(nq, 0);
    db_quarantined_free(q, nq);
    fx_done(&f);
}

static void test_counts_order_ties(void **state)
{
    (void)state;
    tu_db_t f;
    fx_init(&f);
    /* metric m<k> gets k series (k = 1..12); ties: b and c both 3 series at the cut-off */
    char spec[128];
    for (int k = 1; k <= 12; k++)
        for (int s = 0; s < k; s++) {
            snprintf(spec, sizeof(spec), "__name__=m%02d,inst=i%d,job=j%d", k, s, s % 2);
            put(f.db, spec, 1000000 + k, 3);
        }
    put(f.db, "__name__=tie_b,x=1", 5000, 1);
    put(f.db, "__name__=tie_b,x=2", 5000, 1);
    put(f.db, "__name__=tie_c,x=1", 5000, 1);
    put(f.db, "__name__=tie_c,x=2", 5000, 1);
    uint64_t total = 78 + 4;
    db_head_status_opts_t o = {.topn = 11};
    db_head_status_t st;
    assert_int_equal(db_head_status(f.db, &o, &st), MS_OK);
    assert_int_equal(st.num_series, total);
    assert_int_equal(st.chunk_count, total);
    assert_int_equal(st.min_time, 5000);
    assert_int_equal(st.max_time, 1000000 + 12 + 2000);
    /* pairs: 14 names + 12 inst + 2 job + 2 x */
    assert_int_equal(st.num_label_pairs, 14 + 12 + 2 + 2);
    assert_int_equal(st.series_by_metric.n, 11);
    for (size_t i = 0; i < 10; i++) assert_int_equal(st.series_by_metric.v[i].value, 12 - i);
    /* 11th place: m02 (2 series) ties with tie_b and tie_c (2 each): the bytewise-first wins */
    assert_string_equal(st.series_by_metric.v[10].name, "m02");
    assert_int_equal(st.series_by_metric.v[10].value, 2);
    assert_string_equal(st.series_by_metric.v[0].name, "m12");
    /* values per label name: __name__ 14, inst 12, job 2, x 2 (job before x by name) */
    assert_int_equal(st.values_by_label.n, 4);
    assert_string_equal(st.values_by_label.v[0].name, "__name__");
    assert_int_equal(st.values_by_label.v[0].value, 14);
    assert_string_equal(st.values_by_label.v[2].name, "job");
    assert_string_equal(st.values_by_label.v[3].name, "x");
    /* bytes of distinct values: inst = i0..i11 = 10*2 + 2*3 */
    assert_int_equal(find(&st.memory_by_label, "inst")->value, 26);
    assert_int_equal(find(&st.memory_by_label, "__name__")->value, 12 * 3 + 2 * 5);
    /* pairs: job=j0 is on ceil(k/2) series of each metric */
    uint64_t j0 = 0;
    for (int k = 1; k <= 12; k++) j0 += (uint64_t)(k + 1) / 2;
    assert_int_equal(st.series_by_pair.v[0].value, j0);
    assert_string_equal(st.series_by_pair.v[0].name, "job=j0");
    db_head_status_free(&st);

    /* scoped to job="j1" with "job" hidden, as a tenant's view uses it */
    matcher_t *m;
    char err[64];
    assert_int_equal(matcher_new(MATCH_EQ, "job", 3, "j1", 2, &m, err, sizeof(err)), MS_OK);
    const matcher_t *ms[1] = {m};
    db_head_status_opts_t so = {.ms = ms, .nms = 1, .hide_name = "job", .hide_len = 3};
    assert_int_equal(db_head_status(f.db, &so, &st), MS_OK);
    uint64_t j1 = 0;
    for (int k = 1; k <= 12; k++) j1 += (uint64_t)k / 2;
    assert_int_equal(st.num_series, j1);
    assert_int_equal(st.chunk_count, j1);
    assert_null(find(&st.values_by_label, "job"));
    assert_null(find(&st.memory_by_label, "job"));
    assert_null(find(&st.series_by_pair, "job=j1"));
    assert_null(find(&st.series_by_metric, "m01")); /* m01 has only i0 (job j0) */
    assert_null(find(&st.series_by_metric, "tie_b"));
    assert_int_equal(find(&st.series_by_metric, "m12")->value, 6);
    /* inst values seen by j1 series: odd i1..i11 */
    assert_int_equal(find(&st.values_by_label, "inst")->value, 6);
    assert_int_equal(st.num_label_pairs, 11 /* m02..m12 */ + 6);
    assert_int_equal(st.min_time, 1000000 + 2);
    db_head_status_free(&st);
    matcher_free(m);
    fx_done(&f);
}

static void flip_byte(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    if (off < 0) off += sb.st_size;
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static size_t count_series(db_t *db)
{
    querier_t *q;
    assert_int_equal(db_querier(db, INT64_MIN, INT64_MAX, &q), MS_OK);
    matcher_t *m;
    char err[64];
    assert_int_equal(matcher_new(MATCH_RE, "__name__", 8, ".+", 2, &m, err, sizeof(err)), MS_OK);
    const matcher_t *ms[1] = {m};
    series_set_t *ss;
    assert_int_equal(querier_select(q, ms, 1, &ss), MS_OK);
    size_t n = series_set_len(ss);
    sample_vec_t sv = {0};
    for (size_t i = 0; i < n; i++) assert_int_equal(series_set_samples(ss, i, INT64_MIN, INT64_MAX, &sv), MS_OK);
    sample_vec_free(&sv);
    series_set_free(ss);
    matcher_free(m);
    querier_close(q);
    return n;
}

static void test_quarantine(void **state)
{
    (void)state;
    tu_db_t f;
    fx_init(&f);
    /* three blocks (three 2 h ranges), then damage: meta of #1, index of #2; #3 intact */
    const int64_t H2 = 2 * 3600 * 1000LL, T = 1700000000000LL / H2 * H2;
    for (int b = 0; b < 3; b++) { /* a flush per range: a flush writes one block per day window */
        put(f.db, b == 0 ? "__name__=a,k=0" : b == 1 ? "__name__=b,k=1" : "__name__=c,k=2", T + b * H2, 5);
        assert_int_equal(db_flush_head(f.db), MS_OK);
    }
    db_stats_t ds;
    db_stats(f.db, &ds);
    assert_int_equal(ds.blocks, 3);
    db_close(f.db);
    f.db = NULL;
    char p[256];
    snprintf(p, sizeof(p), "%s/blocks/00000001/meta", f.dir);
    flip_byte(p, 20);
    snprintf(p, sizeof(p), "%s/blocks/00000002/index", f.dir);
    flip_byte(p, 9);
    tu_db_open(&f);
    db_stats(f.db, &ds);
    assert_int_equal(ds.blocks, 1);
    assert_int_equal(count_series(f.db), 1);
    db_quarantined_t *q;
    size_t nq;
    assert_int_equal(db_quarantined(f.db, &q, &nq), MS_OK);
    assert_int_equal(nq, 2);
    assert_true(!strncmp(q[0].name, "00000001-", 9) && strstr(q[0].reason, "meta"));
    assert_true(!strncmp(q[1].name, "00000002-", 9) && strstr(q[1].reason, "checksum"));
    assert_true(q[0].time_s > 1700000000 && q[0].bytes > 64);
    snprintf(p, sizeof(p), "%s/quarantine/%s/index", f.dir, q[1].name);
    assert_int_equal(access(p, F_OK), 0); /* moved, not deleted */
    db_quarantined_free(q, nq);
    /* a restart keeps them listed and does not move anything again */
    db_close(f.db);
    tu_db_open(&f);
    assert_int_equal(db_quarantined(f.db, &q, &nq), MS_OK);
    assert_int_equal(nq, 2);
    db_quarantined_free(q, nq);
    /* a flipped byte inside a chunk of the intact block: served as empty, counted */
    db_close(f.db);
    snprintf(p, sizeof(p), "%s/blocks/00000003/chunks", f.dir);
    flip_byte(p, 12);
    tu_db_open(&f);
    db_stats(f.db, &ds);
    assert_int_equal(ds.blocks, 1);
    count_series(f.db);
    assert_true(db_block_corrupt_reads(f.db) > 0);
    fx_done(&f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_100k_series_time(void **state)
{
    (void)state;
    tu_db_t f;
    fx_init(&f);
    appender_t *a;
    assert_int_equal(db_appender(f.db, &a), MS_OK);
    /* 100k series: 200 metrics x 500 instances, 10 jobs, a per-series id label */
    static char store[100000][4][24];
    static label_t lstore[100000][4];
    for (int i = 0; i < 100000; i++) {
        snprintf(store[i][0], 24, "metric_%03d", i % 200);
        snprintf(store[i][1], 24, "host-%05d", i / 200);
        snprintf(store[i][2], 24, "job%d", i % 10);
        snprintf(store[i][3], 24, "%d", i);
        label_t *l = lstore[i]; /* the appender borrows the label array itself until commit */
        l[0] = (label_t){"__name__", store[i][0], 8, (uint32_t)strlen(store[i][0])};
        l[1] = (label_t){"id", store[i][3], 2, (uint32_t)strlen(store[i][3])};
        l[2] = (label_t){"instance", store[i][1], 8, (uint32_t)strlen(store[i][1])};
        l[3] = (label_t){"job", store[i][2], 3, (uint32_t)strlen(store[i][2])};
        sample_t s = {1700000000000LL, 1};
        assert_int_equal(appender_add(a, l, 4, labels_hash(l, 4), &s, 1), MS_OK);
        if (i % 10000 == 9999) {
            assert_int_equal(appender_commit(a, NULL), MS_OK);
            if (i < 99999) assert_int_equal(db_appender(f.db, &a), MS_OK);
        }
    }
    db_head_status_opts_t o = {0};
    db_head_status_t st;
    double t0 = now_s();
    assert_int_equal(db_head_status(f.db, &o, &st), MS_OK);
    double t1 = now_s();
    assert_int_equal(st.num_series, 100000);
    assert_int_equal(st.num_label_pairs, 200 + 500 + 10 + 100000);
    assert_int_equal(st.series_by_metric.v[0].value, 500);
    db_head_status_free(&st);
    matcher_t *m;
    char err[64];
    assert_int_equal(matcher_new(MATCH_EQ, "job", 3, "job3", 4, &m, err, sizeof(err)), MS_OK);
    const matcher_t *ms[1] = {m};
    db_head_status_opts_t so = {.ms = ms, .nms = 1};
    double t2 = now_s();
    assert_int_equal(db_head_status(f.db, &so, &st), MS_OK);
    double t3 = now_s();
    assert_int_equal(st.num_series, 10000);
    db_head_status_free(&st);
    matcher_free(m);
    printf("db_head_status on 100k series (100,710 label pairs): whole head %.1f ms, scoped to 10k series %.1f ms\n",
           (t1 - t0) * 1e3, (t3 - t2) * 1e3);
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_counts_order_ties),
        cmocka_unit_test(test_quarantine),
        cmocka_unit_test(test_100k_series_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
