/* test_replay.c tests WAL replay (head_replay.c) with its parallel sample application: many
 * series written in interleaved batches, with late samples, replacements and exact duplicates,
 * must read back after a reopen exactly as they read before it (every timestamp and value bit),
 * with the same head statistics; and a second reopen changes nothing. Head snapshots are off
 * here (test_snapshot covers them): every open replays the WAL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "storage/storage.h"
#include "util/status.h"
#include "testutil.h"

enum { NSERIES = 700, ROUNDS = 60, PER = 5 };

static uint64_t rng = 0xD1B54A32D192ED03ull;


/* snapshot false: no head snapshot is taken at close or loaded at open (WAL replay only). */
static db_t *open_db(const char *dir, bool snapshot)
{
    db_options_t o;
    db_options_default(&o);
    o.data_dir = dir;
    o.retention_ms = 0;
    o.head_window_ms = 0; /* everything stays in the head: this tests replay alone */
    o.wal_fsync = WAL_FSYNC_NEVER;
    o.no_head_snapshot = !snapshot;
    db_t *db = NULL;
    char err[256];
    assert_int_equal(db_open(&o, &db, err, sizeof err), MS_OK);
    return db;
}

/* Every series' samples, concatenated in label order, with a count per series. */
static void dump(db_t *db, sample_vec_t *all, size_t *nseries)
{
    querier_t *q;
    assert_int_equal(db_querier(db, INT64_MIN, INT64_MAX, &q), MS_OK);
    matcher_t *m;
    char err[64];
    assert_int_equal(matcher_new(MATCH_EQ, "job", 3, "node", 4, &m, err, sizeof err), 0);
    const matcher_t *ms[1] = {m};
    series_set_t *set;
    assert_int_equal(querier_select(q, ms, 1, &set), MS_OK);
    *nseries = series_set_len(set);
    for (size_t i = 0; i < series_set_len(set); i++)
        assert_int_equal(series_set_samples(set, i, INT64_MIN, INT64_MAX, all), MS_OK);
    series_set_free(set);
    matcher_free(m);
    querier_close(q);
}

static void test_reopen_reads_the_same(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_replay_XXXXXX";
    assert_non_null(mkdtemp(dir));
    db_t *db = open_db(dir, false);
    static tu_node_t ls[NSERIES];
    for (int i = 0; i < NSERIES; i++) tu_node_labels(&ls[i], i, 37);
    int64_t t0 = 1700000000000;
    for (int r = 0; r < ROUNDS; r++) {
        appender_t *a;
        assert_int_equal(db_appender(db, &a), MS_OK);
        tu_node_round(a, ls, NSERIES, t0, r, PER, false, &rng);
        append_result_t res;
        assert_int_equal(appender_commit(a, &res), MS_OK);
    }
    sample_vec_t before = {0}, after = {0}, again = {0};
    size_t nb, na, ng;
    dump(db, &before, &nb);
    db_stats_t s1, s2;
    db_stats(db, &s1);
    db_close(db);

    db = open_db(dir, false); /* WAL replay */
    dump(db, &after, &na);
    db_stats(db, &s2);
    assert_int_equal(na, nb);
    assert_int_equal(na, NSERIES);
    assert_int_equal(after.n, before.n);
    for (size_t i = 0; i < before.n; i++) {
        assert_true(after.v[i].t == before.v[i].t);
        assert_true(tu_bits(after.v[i].v) == tu_bits(before.v[i].v));
    }
    assert_int_equal(s2.series, s1.series);
    assert_int_equal(s2.head_chunks, s1.head_chunks);
    assert_int_equal(s2.head_mint, s1.head_mint);
    assert_int_equal(s2.head_maxt, s1.head_maxt);
    db_close(db);

    db = open_db(dir, false); /* replaying the re-logged state changes nothing */
    dump(db, &again, &ng);
    assert_int_equal(again.n, before.n);
    for (size_t i = 0; i < before.n; i++) assert_true(tu_bits(again.v[i].v) == tu_bits(before.v[i].v));
    db_close(db);

    sample_vec_free(&before);
    sample_vec_free(&after);
    sample_vec_free(&again);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reopen_reads_the_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
