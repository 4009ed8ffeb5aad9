/* test_storage_reader.c tests the querier's merging of several readers (reader.h), the seam
 * on-disk blocks will use: a fake older reader plus the head; series only in one, series in
 * both (samples merged by time, the head winning equal timestamps), label names/values union. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "storage/reader.h"
#include "storage/storage.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/status.h"

typedef struct fake_series {
    label_t l[2];
    sample_t s[4];
    size_t n;
} fake_series_t;

static fake_series_t fake[2];

static void fake_select(void *self, const matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt, rs_vec_t *out)
{
    (void)self;
    for (int i = 0; i < 2; i++) {
        bool ok = true;
        for (size_t k = 0; k < n; k++) {
            uint32_t len = 0;
            const char *v = labels_get(fake[i].l, 2, ms[k]->name, ms[k]->name_len, &len);
            ok = ok && matcher_matches(ms[k], v ? v : "", v ? len : 0);
        }
        bool data = false;
        for (size_t k = 0; k < fake[i].n; k++) data = data || (fake[i].s[k].t >= mint && fake[i].s[k].t <= maxt);
        if (!ok || !data) continue;
        out->v = realloc(out->v, (out->n + 1) * sizeof(*out->v));
        out->cap = out->n + 1;
        out->v[out->n++] = (reader_series_t){{fake[i].l, 2}, &fake[i], 0};
    }
}

static void fake_samples(void *self, void *h, int64_t mint, int64_t maxt, sample_vec_t *out)
{
    (void)self;
    fake_series_t *f = h;
    for (size_t k = 0; k < f->n; k++) {
        if (f->s[k].t < mint || f->s[k].t > maxt) continue;
        out->v = realloc(out->v, (out->n + 1) * sizeof(sample_t));
        out->cap = out->n + 1;
        out->v[out->n++] = f->s[k];
    }
}

static void fake_names(void *self, int64_t mint, int64_t maxt, str_vec_t *out)
{
    (void)self;
    (void)mint;
    (void)maxt;
    str_vec_push(out, "__name__", 8);
    str_vec_push(out, "zone", 4);
}

static void fake_values(void *self, const char *name, size_t len, int64_t mint, int64_t maxt, str_vec_t *out)
{
    (void)self;
    (void)mint;
    (void)maxt;
    for (int i = 0; i < 2; i++) {
        uint32_t vl = 0;
        const char *v = labels_get(fake[i].l, 2, name, len, &vl);
        if (v) str_vec_push(out, v, vl);
    }
}

static const reader_ops_t fake_ops = {fake_select, fake_samples, fake_names, fake_values};

static int rm_fn(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static void test_merge(void **state)
{
    (void)state;
    log_set_level(LOG_WARN);
    char dir[64];
    strcpy(dir, "/tmp/ms_reader_XXXXXX");
    assert_non_null(mkdtemp(dir));
    db_options_t o;
    db_options_default(&o);
    o.data_dir = dir;
    o.retention_ms = 0;
    o.wal_fsync = WAL_FSYNC_NEVER;
    db_t *db;
    char err[128];
    assert_int_equal(db_open(&o, &db, err, sizeof(err)), MS_OK);
    int64_t now = clock_now_ms();
    /* head: m{zone="a"} at now-3, now-1 (value 30, 10); m{zone="c"} at now */
    label_t la[2] = {{"__name__", "m", 8, 1}, {"zone", "a", 4, 1}};
    label_t lc[2] = {{"__name__", "m", 8, 1}, {"zone", "c", 4, 1}};
    sample_t sa[2] = {{now - 3, 30}, {now - 1, 10}};
    sample_t sc[1] = {{now, 5}};
    appender_t *a;
    assert_int_equal(db_appender(db, &a), MS_OK);
    appender_add(a, la, 2, labels_hash(la, 2), sa, 2);
    appender_add(a, lc, 2, labels_hash(lc, 2), sc, 1);
    assert_int_equal(appender_commit(a, NULL), MS_OK);
    /* fake older reader: m{zone="a"} at now-4, now-3 (ties the head: head wins), now-2;
     * m{zone="b"} only there */
    fake[0] = (fake_series_t){{{"__name__", "m", 8, 1}, {"zone", "a", 4, 1}}, {{now - 4, 4}, {now - 3, 99}, {now - 2, 2}}, 3};
    fake[1] = (fake_series_t){{{"__name__", "m", 8, 1}, {"zone", "b", 4, 1}}, {{now - 10, 1}}, 1};

    querier_t *q;
    assert_int_equal(db_querier(db, now - 100, now + 100, &q), MS_OK);
    assert_int_equal(querier_add_reader(q, &fake_ops, NULL), MS_OK);
    matcher_t *m;
    assert_int_equal(matcher_new(MATCH_EQ, "__name__", 8, "m", 1, &m, err, sizeof(err)), MS_OK);
    series_set_t *ss;
    assert_int_equal(querier_select(q, (const matcher_t *const *)&m, 1, &ss), MS_OK);
    assert_int_equal(series_set_len(ss), 3); /* a (both), b (fake), c (head), sorted */
    const char *zones = "abc";
    for (size_t i = 0; i < 3; i++) {
        labels_t l = series_set_labels(ss, i);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.v[1].value[0], zones[i]);
    }
    sample_vec_t sv = {0};
    assert_int_equal(series_set_samples(ss, 0, INT64_MIN, INT64_MAX, &sv), MS_OK);
    assert_int_equal(sv.n, 4);
    int64_t et[] = {now - 4, now - 3, now - 2, now - 1};
    double ev[] = {4, 30, 2, 10};
    for (int i = 0; i < 4; i++) {
        assert_true(sv.v[i].t == et[i]);
        assert_true(sv.v[i].v == ev[i]);
    }
    sv.n = 0;
    assert_int_equal(series_set_samples(ss, 0, now - 3, now - 2, &sv), MS_OK);
    assert_int_equal(sv.n, 2);
    sv.n = 0;
    assert_int_equal(series_set_samples(ss, 1, INT64_MIN, INT64_MAX, &sv), MS_OK);
    assert_int_equal(sv.n, 1);
    assert_true(sv.v[0].v == 1);
    sample_vec_free(&sv);
    series_set_free(ss);

    const char **names;
    size_t *lens, n;
    assert_int_equal(querier_label_names(q, &names, &lens, &n), MS_OK);
    assert_int_equal(n, 2); /* __name__, zone: deduped across readers */
    free(names);
    free(lens);
    assert_int_equal(querier_label_values(q, "zone", 4, &names, &lens, &n), MS_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) assert_int_equal(names[i][0], zones[i]);
    free(names);
    free(lens);
    querier_close(q);
    matcher_free(m);
    db_close(db);
    nftw(dir, rm_fn, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
