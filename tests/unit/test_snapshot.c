/* test_snapshot.c tests the head snapshot (head_snapshot.c): a clean close writes it and the next
 * open loads it instead of replaying the WAL, reading back exactly what was there (every
 * timestamp and value bit, metadata, head statistics, fresh refs afterwards); it is deleted once
 * loaded, so a crash after that start replays the WAL and loses nothing; it is ignored (WAL
 * replayed, same data) when the WAL changed after it, when it is damaged or truncated; a WAL byte
 * flipped after it is found and counted by replay, not hidden by the snapshot; retention
 * applies to what it loads; and --storage.head-snapshot=false neither writes nor reads one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "storage/storage.h"
#include "util/log.h"
#include "util/status.h"
#include "testutil.h"

enum { NSERIES = 300, ROUNDS = 40, PER = 6 };
static const int64_t T0 = 1700000000000;

static uint64_t rng = 0x9E3779B97F4A7C15ull;


static void open_f(tu_db_t *f)
{
    f->o.head_window_ms = 0; /* everything stays in the head */
    tu_db_open(f);
}

/* Rounds [r0, r1) of PER samples for every series, with late samples, replacements and exact
 * duplicates, one commit per round; plus metadata in round r0. */
static void load(db_t *db, int r0, int r1)
{
    static tu_node_t ls[NSERIES];
    for (int i = 0; i < NSERIES; i++) tu_node_labels(&ls[i], i, 23);
    for (int r = r0; r < r1; r++) {
        appender_t *a;
        assert_int_equal(db_appender(db, &a), MS_OK);
        tu_node_round(a, ls, NSERIES, T0, r, PER, true, &rng);
        char help[32]; /* borrowed by the appender until the commit */
        if (r == r0) {
            snprintf(help, sizeof help, "help of round %d", r);
            assert_int_equal(appender_add_metadata(a, "metric_1", 8, "gauge", 5, help, strlen(help), "bytes", 5), MS_OK);
            assert_int_equal(appender_add_metadata(a, "metric_2", 8, "counter", 7, "c", 1, "", 0), MS_OK);
        }
        assert_int_equal(appender_commit(a, NULL), MS_OK);
    }
}

/* Every series (labels) and sample (time and value bits) as text, series in label order. */
static char *dump(db_t *db)
{
    querier_t *q;
    assert_int_equal(db_querier(db, INT64_MIN, INT64_MAX, &q), MS_OK);
    matcher_t *m = tu_matcher(MATCH_RE, "__name__", ".+");
    const matcher_t *ms[1] = {m};
    series_set_t *set;
    assert_int_equal(querier_select(q, ms, 1, &set), MS_OK);
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    sample_vec_t sv = {0};
    for (size_t i = 0; i < series_set_len(set); i++) {
        labels_t l = series_set_labels(set, i);
        sv.n = 0;
        assert_int_equal(series_set_samples(set, i, INT64_MIN, INT64_MAX, &sv), MS_OK);
        size_t need = len + 256 + sv.n * 48;
        if (need > cap) {
            while (cap < need) cap *= 2;
            out = realloc(out, cap);
        }
        for (size_t k = 0; k < l.n; k++)
            len += (size_t)snprintf(out + len, cap - len, "%.*s=%.*s,", (int)l.v[k].name_len, l.v[k].name,
                                    (int)l.v[k].value_len, l.v[k].value);
        for (size_t k = 0; k < sv.n; k++)
            len += (size_t)snprintf(out + len, cap - len, " %lld:%016llx", (long long)sv.v[k].t,
                                    (unsigned long long)tu_bits(sv.v[k].v));
        out[len++] = '\n';
        out[len] = 0;
    }
    sample_vec_free(&sv);
    series_set_free(set);
    matcher_free(m);
    querier_close(q);
    return out;
}

static int meta_cb(const metric_metadata_t *m, void *arg)
{
    char *out = arg;
    size_t len = strlen(out);
    snprintf(out + len, 1024 - len, "%s|%s|%s|%s;", m->metric, m->type, m->help, m->unit);
    return 0;
}

static void meta_dump(db_t *db, char out[1024])
{
    out[0] = 0;
    db_metadata_each(db, NULL, meta_cb, out);
}

static bool snapshot_exists(const tu_db_t *f)
{
    char p[128];
    snprintf(p, sizeof p, "%s/head.snapshot", f->dir);
    struct stat sb;
    return stat(p, &sb) == 0;
}

static db_stats_t stats(db_t *db)
{
    db_stats_t st;
    db_stats(db, &st);
    return st;
}

static void test_roundtrip_then_crash(void **state)
{
    (void)state;
    tu_db_t f;
    tu_db_init(&f, "/tmp/ms_snap_XXXXXX");
    open_f(&f);
    load(f.db, 0, ROUNDS);
    char *before = dump(f.db);
    char mb[1024], ma[1024];
    meta_dump(f.db, mb);
    db_stats_t s1 = stats(f.db);
    db_close(f.db);
    assert_true(snapshot_exists(&f));

    open_f(&f);
    db_stats_t s2 = stats(f.db);
    assert_true(s2.head_snapshot_loaded);
    assert_int_equal(s2.wal_replay_records, 0);
    assert_false(snapshot_exists(&f)); /* served: a crash from now on replays the WAL */
    char *after = dump(f.db);
    assert_string_equal(after, before);
    meta_dump(f.db, ma);
    assert_string_equal(ma, mb);
    assert_int_equal(s2.series, s1.series);
    assert_int_equal(s2.head_chunks, s1.head_chunks);
    assert_int_equal(s2.head_mint, s1.head_mint);
    assert_int_equal(s2.head_maxt, s1.head_maxt);

    /* more data on top of the loaded head: new series need refs no loaded series has */
    load(f.db, ROUNDS, ROUNDS + 5);
    tu_db_put(f.db, "__name__=brand_new,job=node", (sample_t[]){{T0, 1}}, 1);
    char *more = dump(f.db);
    meta_dump(f.db, mb);
    assert_string_not_equal(more, before);

    db_close(f.db);
    assert_true(snapshot_exists(&f));

    /* a start that loads the snapshot, appends and crashes (no close, no new snapshot): the
     * next start must replay the WAL, which holds everything */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        db_t *db;
        char err[256];
        f.o.head_window_ms = 0;
        if (db_open(&f.o, &db, err, sizeof err) != MS_OK) _exit(2);
        db_stats_t cs;
        db_stats(db, &cs);
        if (!cs.head_snapshot_loaded) _exit(3);
        tu_db_put(db, "__name__=from_child,job=node", (sample_t[]){{T0 + 5, 5}}, 1);
        _exit(0); /* as if killed: nothing is closed */
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    assert_false(snapshot_exists(&f));
    open_f(&f);
    db_stats_t s3 = stats(f.db);
    assert_false(s3.head_snapshot_loaded);
    assert_true(s3.wal_replay_records > 0);
    char *crash = dump(f.db);
    assert_non_null(strstr(crash, "from_child"));
    assert_non_null(strstr(crash, "brand_new"));
    /* everything but the child's series is as before the crash */
    char *line = strstr(crash, "__name__=from_child");
    assert_non_null(line);
    char *eol = strchr(line, '\n');
    size_t head_len = (size_t)(line - crash);
    assert_int_equal(strlen(more), head_len + strlen(eol + 1));
    assert_memory_equal(crash, more, head_len);
    assert_string_equal(eol + 1, more + head_len);
    meta_dump(f.db, ma);
    assert_string_equal(ma, mb);

    /* a replay-only open sees the same as a snapshot open */
    db_close(f.db);
    f.o.no_head_snapshot = true;
    open_f(&f);
    assert_false(snapshot_exists(&f)); /* a disabled snapshot is not left lying around */
    char *replayed = dump(f.db);
    assert_string_equal(replayed, crash);
    db_close(f.db);
    assert_false(snapshot_exists(&f)); /* and none is written */
    free(before);
    free(after);
    free(more);
    free(crash);
    free(replayed);
    tu_rm_rf(f.dir);
}

/* Closes f (writing a snapshot), runs damage on the dir, reopens: the WAL must be replayed with
 * the data unchanged and the snapshot gone. */
static void check_ignored(const char *what, void (*damage)(const tu_db_t *f))
{
    tu_db_t f;
    tu_db_init(&f, "/tmp/ms_snap_XXXXXX");
    open_f(&f);
    load(f.db, 0, 12);
    char *before = dump(f.db);
    db_close(f.db);
    assert_true(snapshot_exists(&f));
    damage(&f);
    open_f(&f);
    db_stats_t st = stats(f.db);
    if (st.head_snapshot_loaded) fail_msg("%s: the snapshot was loaded", what);
    assert_true(st.wal_replay_records > 0);
    assert_false(snapshot_exists(&f));
    char *after = dump(f.db);
    assert_string_equal(after, before);
    db_close(f.db);
    free(before);
    free(after);
    tu_rm_rf(f.dir);
}

static void newest_segment(const tu_db_t *f, char *path, size_t n)
{
    for (int i = 200; i > 0; i--) {
        snprintf(path, n, "%s/wal/%08d", f->dir, i);
        if (access(path, F_OK) == 0) return;
    }
    fail();
}

static void grow_wal(const tu_db_t *f)
{
    char p[160];
    newest_segment(f, p, sizeof p);
    FILE *fp = fopen(p, "ab");
    assert_non_null(fp);
    fputc(7, fp); /* a torn byte: replay truncates it, the snapshot must not pretend it is absent */
    fclose(fp);
}

static void extra_segment(const tu_db_t *f)
{
    char p[160];
    newest_segment(f, p, sizeof p);
    size_t l = strlen(p);
    p[l - 1] = (char)(p[l - 1] + 1); /* the next number (below 9 in these tests) */
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    fclose(fp);
}

static void flip_byte(const tu_db_t *f)
{
    char p[128];
    snprintf(p, sizeof p, "%s/head.snapshot", f->dir);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    off_t at = sb.st_size / 2;
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x10;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static void truncate_it(const tu_db_t *f)
{
    char p[128];
    snprintf(p, sizeof p, "%s/head.snapshot", f->dir);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(truncate(p, sb.st_size - 100), 0);
}

static void test_ignored_when_wal_changed_or_damaged(void **state)
{
    (void)state;
    log_set_level(LOG_ERROR);
    check_ignored("WAL grew", grow_wal);
    check_ignored("extra WAL segment", extra_segment);
    check_ignored("flipped byte", flip_byte);
    check_ignored("truncated", truncate_it);
    log_set_level(LOG_INFO);
}

/* A WAL byte flipped after the snapshot (same size): the snapshot must not hide it. The start
 * replays the WAL, which finds and counts the damaged record. */
static void test_damaged_wal_is_replayed_and_reported(void **state)
{
    (void)state;
    log_set_level(LOG_ERROR);
    tu_db_t f;
    tu_db_init(&f, "/tmp/ms_snap_XXXXXX");
    open_f(&f);
    load(f.db, 0, 12);
    db_close(f.db);
    assert_true(snapshot_exists(&f));
    char p[160] = "";
    struct stat sb = {0};
    for (int i = 200; i > 0 && sb.st_size < 4096; i--) { /* the newest segment holding records */
        snprintf(p, sizeof p, "%s/wal/%08d", f.dir, i);
        if (stat(p, &sb) != 0) sb.st_size = 0;
    }
    assert_true(sb.st_size >= 4096);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, sb.st_size / 2), 1);
    c ^= 0x01;
    assert_int_equal(pwrite(fd, &c, 1, sb.st_size / 2), 1);
    close(fd);
    open_f(&f);
    db_stats_t st = stats(f.db);
    assert_false(st.head_snapshot_loaded);
    assert_true(st.wal_replay_corrupt >= 1);
    assert_false(snapshot_exists(&f));
    db_close(f.db);
    tu_rm_rf(f.dir);
    log_set_level(LOG_INFO);
}

static void test_retention_applies_to_the_loaded_head(void **state)
{
    (void)state;
    tu_db_t f;
    tu_db_init(&f, "/tmp/ms_snap_XXXXXX");
    open_f(&f);
    int64_t now = (int64_t)time(NULL) * 1000;
    sample_t old[2] = {{now - 3 * 3600000, 1}, {now - 2 * 3600000, 2}};
    sample_t recent[2] = {{now - 20 * 60000, 3}, {now - 10 * 60000, 4}};
    tu_db_put(f.db, "__name__=old_only,job=x", old, 2);
    tu_db_put(f.db, "__name__=mixed,job=x", old, 2);
    tu_db_put(f.db, "__name__=mixed,job=x", recent, 2);
    db_close(f.db);
    f.o.retention_ms = 3600000;
    open_f(&f);
    assert_true(stats(f.db).head_snapshot_loaded);
    char *got = dump(f.db);
    assert_null(strstr(got, "old_only"));
    char want[256];
    snprintf(want, sizeof want, "__name__=mixed,job=x, %lld:%016llx %lld:%016llx\n", (long long)recent[0].t,
             (unsigned long long)tu_bits(3), (long long)recent[1].t, (unsigned long long)tu_bits(4));
    assert_string_equal(got, want);
    free(got);
    db_close(f.db);
    tu_rm_rf(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_then_crash),
        cmocka_unit_test(test_ignored_when_wal_changed_or_damaged),
        cmocka_unit_test(test_damaged_wal_is_replayed_and_reported),
        cmocka_unit_test(test_retention_applies_to_the_loaded_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
