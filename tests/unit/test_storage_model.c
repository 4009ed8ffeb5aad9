/* test_storage_model.c checks the storage engine against a trivial reference model: random
 * appends (in order, out of order, duplicates, same-t replacements, bursts that split chunks)
 * to a few series, then random range queries compared sample by sample, before and after a
 * close + reopen (WAL replay) with small WAL segments. */
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
#include "storage/storage.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/status.h"

enum { NSERIES = 4, TSPAN = 4000 };

typedef struct model {
    bool has[NSERIES][TSPAN];
    uint64_t bits[NSERIES][TSPAN];
} model_t;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int rm_fn(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static void series_labels(int s, label_t *l, char *buf)
{
    snprintf(buf, 16, "s%d", s);
    l[0] = (label_t){"__name__", "model", 8, 5};
    l[1] = (label_t){"sid", buf, 3, (uint32_t)strlen(buf)};
}

static void check(db_t *db, const model_t *m, int64_t base)
{
    for (int q = 0; q < 60; q++) {
        int64_t lo = (int64_t)(rnd() % TSPAN), hi = lo + (int64_t)(rnd() % TSPAN);
        querier_t *qr;
        assert_int_equal(db_querier(db, base + lo, base + hi, &qr), MS_OK);
        for (int s = 0; s < NSERIES; s++) {
            matcher_t *mt;
            char name[16], err[64];
            snprintf(name, sizeof(name), "s%d", s);
            assert_int_equal(matcher_new(MATCH_EQ, "sid", 3, name, strlen(name), &mt, err, sizeof(err)), MS_OK);
            series_set_t *ss;
            assert_int_equal(querier_select(qr, (const matcher_t *const *)&mt, 1, &ss), MS_OK);
            size_t expect = 0;
            for (int64_t t = lo; t <= hi && t < TSPAN; t++) expect += m->has[s][t];
            assert_int_equal(series_set_len(ss), expect ? 1 : 0);
            if (expect) {
                sample_vec_t sv = {0};
                assert_int_equal(series_set_samples(ss, 0, INT64_MIN, INT64_MAX, &sv), MS_OK);
                assert_int_equal(sv.n, expect);
                size_t k = 0;
                for (int64_t t = lo; t <= hi && t < TSPAN; t++) {
                    if (!m->has[s][t]) continue;
                    uint64_t b;
                    memcpy(&b, &sv.v[k].v, 8);
                    assert_true(sv.v[k].t == base + t);
                    assert_true(b == m->bits[s][t]);
                    k++;
                }
                sample_vec_free(&sv);
            }
            series_set_free(ss);
            matcher_free(mt);
        }
        querier_close(qr);
    }
}

static void test_against_model(void **state)
{
    (void)state;
    log_set_level(LOG_WARN);
    char dir[64];
    strcpy(dir, "/tmp/ms_model_XXXXXX");
    assert_non_null(mkdtemp(dir));
    db_options_t o;
    db_options_default(&o);
    o.data_dir = dir;
    o.retention_ms = 0;
    o.wal_fsync = WAL_FSYNC_NEVER;
    o.wal_segment_bytes = 8192;
    db_t *db;
    char err[128];
    assert_int_equal(db_open(&o, &db, err, sizeof(err)), MS_OK);
    model_t *m = calloc(1, sizeof(*m));
    int64_t base = clock_now_ms() - 2 * TSPAN;
    char bufs[NSERIES][16];
    label_t ls[NSERIES][2];
    for (int s = 0; s < NSERIES; s++) series_labels(s, ls[s], bufs[s]);
    int64_t next_t[NSERIES] = {0};
    for (int round = 0; round < 6; round++) {
        for (int batch = 0; batch < 150; batch++) {
            appender_t *a;
            assert_int_equal(db_appender(db, &a), MS_OK);
            for (int g = 0; g < 3; g++) {
                int s = (int)(rnd() % NSERIES);
                sample_t smp[40];
                size_t n = 1 + rnd() % 40;
                int mode = (int)(rnd() % 4);
                for (size_t i = 0; i < n; i++) {
                    int64_t t;
                    if (mode == 0 && next_t[s] < TSPAN) t = next_t[s]++; /* in order */
                    else t = (int64_t)(rnd() % TSPAN);                  /* anywhere: ooo, dup, replace */
                    if (t >= TSPAN) t = TSPAN - 1;
                    uint64_t b = (rnd() % 3 == 0) ? 0x7ff0000000000002ull : (rnd() % 50) * 0x3ff0000000000000ull / 49;
                    if (mode == 3 && m->has[s][t]) b = m->bits[s][t]; /* exact duplicate */
                    smp[i].t = base + t;
                    memcpy(&smp[i].v, &b, 8);
                    m->has[s][t] = true;
                    m->bits[s][t] = b;
                }
                assert_int_equal(appender_add(a, ls[s], 2, labels_hash(ls[s], 2), smp, n), MS_OK);
            }
            assert_int_equal(appender_commit(a, NULL), MS_OK);
        }
        check(db, m, base);
        db_close(db);
        assert_int_equal(db_open(&o, &db, err, sizeof(err)), MS_OK);
        check(db, m, base);
        db_stats_t st;
        db_stats(db, &st);
        assert_int_equal(st.wal_replay_corrupt, 0);
    }
    db_close(db);
    free(m);
    nftw(dir, rm_fn, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
