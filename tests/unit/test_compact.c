/* test_compact.c tests flushing the head into blocks (db_flush_head) and block compaction
 * (db_compact): query results identical before and after a flush, a compaction and a reopen;
 * which blocks form a group (aligned windows of R, 3R, 12R whose end the cuts have passed);
 * the merge's tie rule (the higher-seq block wins on equal timestamps); late samples merged;
 * tombstoned samples dropped; a damaged block left alone;
 * the parents file deleting inputs left over by a crash at load; no sample twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "model/matcher.h"
#include "storage/block.h"
#include "storage/db_internal.h"
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

    load(f.db, 9, T0, T0 + 5 * H, 60000); /* 5 h: three 2 h ranges, all in one day */
    char *want = dump(f.db, INT64_MIN, INT64_MAX);
    db_stats_t before = stats(f.db);
    assert_int_equal(before.series, 9);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    db_stats_t st = stats(f.db);
    assert_int_equal(st.blocks, 1); /* one block per day window (the top compaction level) */
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
    assert_int_equal(stats(f.db).blocks, 1);

    /* reopen: nothing is replayed into the head, the blocks answer */
    reopen(&f);
    st = stats(f.db);
    assert_int_equal(st.blocks, 1);
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
    assert_int_equal(st.blocks, 2); /* one more, holding the new hour and the late samples */
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


/* ---- compaction ---- */

static void test_compact_levels(void **state)
{
    (void)state;
    db_options_t o;
    db_options_default(&o);
    int64_t l[3];
    assert_int_equal(compact_levels(&o, l), 3); /* 15 d retention: cap 36 h > 24 h */
    assert_int_equal(l[0], R);
    assert_int_equal(l[1], 3 * R);
    assert_int_equal(l[2], 12 * R);
    o.retention_ms = 0;
    assert_int_equal(compact_levels(&o, l), 3);
    o.retention_ms = 24 * H; /* retention / 10 = 2.4 h: only R */
    assert_int_equal(compact_levels(&o, l), 1);
    assert_int_equal(l[0], R);
    o.retention_ms = 3 * 24 * H; /* 7.2 h */
    assert_int_equal(compact_levels(&o, l), 2);
    assert_int_equal(l[1], 3 * R);
    o.retention_ms = 0;
    o.max_block_range_ms = 6 * H;
    assert_int_equal(compact_levels(&o, l), 2);
    o.max_block_range_ms = 5 * H; /* rounded down to R */
    assert_int_equal(compact_levels(&o, l), 1);
    o.max_block_range_ms = 1; /* below R: R stays */
    assert_int_equal(compact_levels(&o, l), 1);
    o.max_block_range_ms = 0;
    o.block_range_ms = H;
    assert_int_equal(compact_levels(&o, l), 3);
    assert_int_equal(l[2], 12 * H);
}

/* Block directories (8-digit names) under <dir>/blocks. */
static int count_block_dirs(const char *dir)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/blocks", dir);
    DIR *d = opendir(p);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strlen(e->d_name) == 8 && strspn(e->d_name, "0123456789") == 8;
    closedir(d);
    return n;
}

static void check_dumps(db_t *db, char **want, const int64_t (*r)[2], size_t nr)
{
    for (size_t i = 0; i < nr; i++) {
        char *got = dump(db, r[i][0], r[i][1]);
        assert_string_equal(got, want[i]);
        free(got);
    }
}

static void test_compact_groups_and_equivalence(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    f.o.no_compaction = true;
    dbopen(&f);
    load(f.db, 12, T0, T0 + 3 * 24 * H, 60000);
    const int64_t r[][2] = {{INT64_MIN, INT64_MAX}, {T0 + 5 * H + 1, T0 + 7 * H - 1}, {T0 + 24 * H - 5, T0 + 24 * H + 5},
                            {T0 + 30 * H, T0 + 70 * H}, {T0 + 71 * H, T0 + 80 * H}};
    enum { NR = sizeof(r) / sizeof(r[0]) };
    char *want[NR];
    for (size_t i = 0; i < NR; i++) want[i] = dump(f.db, r[i][0], r[i][1]);
    uint64_t merged = 99;
    assert_int_equal(db_compact(f.db, &merged), MS_OK); /* no blocks yet */
    assert_int_equal(merged, 0);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    db_stats_t st = stats(f.db);
    assert_int_equal(st.blocks, 36);
    const uint64_t total = 12 * 3 * 24 * 60;
    assert_int_equal(st.block_samples, total);
    uint64_t bytes_before = st.block_bytes;
    check_dumps(f.db, want, r, NR);

    /* the flush's boundary is the newest sample + 1, inside the last day: days 1 and 2 become
     * one block each; in day 3 the 6 h windows [0,6) [6,12) [12,18) are complete, [18,24) is
     * not, so its three 2 h blocks stay */
    assert_int_equal(db_compact(f.db, &merged), MS_OK);
    assert_int_equal(merged, 5);
    st = stats(f.db);
    assert_int_equal(st.blocks, 2 + 3 + 3);
    assert_int_equal(count_block_dirs(f.dir), 8);
    assert_int_equal(st.block_samples, total);
    assert_int_equal(st.compactions, 5);
    assert_int_equal(st.compaction_blocks_in, 12 + 12 + 3 + 3 + 3);
    assert_int_equal(st.compaction_failures, 0);
    assert_true(st.block_bytes < bytes_before);
    print_message("compaction: 36 blocks %llu bytes -> %llu blocks %llu bytes\n", (unsigned long long)bytes_before,
                  (unsigned long long)st.blocks, (unsigned long long)st.block_bytes);
    check_dumps(f.db, want, r, NR);
    assert_int_equal(db_compact(f.db, &merged), MS_OK); /* nothing left */
    assert_int_equal(merged, 0);

    reopen(&f);
    st = stats(f.db);
    assert_int_equal(st.blocks, 8);
    assert_int_equal(st.block_samples, total);
    check_dumps(f.db, want, r, NR);

    /* once a cut passes the end of day 3, its six blocks become one */
    load(f.db, 12, T0 + 3 * 24 * H, T0 + 3 * 24 * H + H, 60000);
    char *later = dump(f.db, INT64_MIN, INT64_MAX);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    assert_int_equal(db_compact(f.db, &merged), MS_OK);
    assert_int_equal(merged, 1);
    st = stats(f.db);
    assert_int_equal(st.blocks, 4);
    assert_int_equal(st.block_samples, total + 12 * 60);
    char *got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, later);
    free(got);
    reopen(&f);
    got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, later);
    free(got);
    free(later);
    for (size_t i = 0; i < NR; i++) free(want[i]);
    db_close(f.db);
    rm_rf(f.dir);
}

/* A merge no longer holds the block cut up: while one is paused after writing its output (in
 * the phase that used to run under cut_mu), a cut makes new blocks, retention leaves the merge's
 * inputs alone, and queries answer; the merge then publishes and everything reads as before. */
static sem_t pause_in, pause_out;
static atomic_int pauses;
static void pause_merge(void) /* the first merge of a test waits for the test; later ones not */
{
    if (atomic_fetch_add(&pauses, 1) != 0) return;
    sem_post(&pause_in);
    sem_wait(&pause_out);
}

static void *flush_thread(void *arg) { return (void *)(intptr_t)db_flush_head(arg); }

/* A flush (block cut) while the merge is paused: it must finish without waiting for the merge
 * (a cut that waits is released after 30 s and the test fails instead of hanging). */
static void flush_during_merge(db_t *db)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, flush_thread, db), 0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 30;
    void *rc;
    if (pthread_timedjoin_np(th, &rc, &dl) != 0) {
        sem_post(&pause_out);
        pthread_join(th, &rc);
        fail_msg("a block cut waited for the merge in progress");
    }
    assert_int_equal((intptr_t)rc, MS_OK);
}

static void *compact_thread(void *arg)
{
    uint64_t merged = 0;
    assert_int_equal(db_compact(arg, &merged), MS_OK);
    return (void *)(uintptr_t)merged;
}

/* Both tests below: 2 h blocks [0,2) [2,4) [4,6) [6,8) with the flush boundary at 7 h (so the
 * 6 h window [0,6) is complete and one merge of three blocks is ready), head data up to 9 h,
 * then db_compact on a thread, paused after writing its output; a flush made meanwhile must not
 * wait for it. Returns what every sample read as before; *th is the merging thread. */
static char *merge_paused_then_flush(fx_t *f, pthread_t *th)
{
    fx_init(f);
    f->o.no_compaction = true;
    dbopen(f);
    load(f->db, 6, T0, T0 + 7 * H, 60000);
    assert_int_equal(db_flush_head(f->db), MS_OK);
    assert_int_equal(stats(f->db).blocks, 4);
    load(f->db, 6, T0 + 7 * H, T0 + 9 * H, 60000);
    char *want = dump(f->db, INT64_MIN, INT64_MAX);
    sem_init(&pause_in, 0, 0);
    sem_init(&pause_out, 0, 0);
    atomic_store(&pauses, 0);
    compact_test_pause = pause_merge;
    assert_int_equal(pthread_create(th, NULL, compact_thread, f->db), 0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 60;
    assert_int_equal(sem_timedwait(&pause_in, &dl), 0); /* output written, not published */
    flush_during_merge(f->db); /* before, a cut waited for the whole merge */
    db_stats_t st = stats(f->db);
    assert_int_equal(st.blocks, 6); /* 4 (3 of them the merge's inputs, still listed) + [6,8) [8,10) */
    assert_int_equal(st.compactions, 0);
    return want;
}

/* Lets the paused merge publish; returns how many merges db_compact made. */
static uintptr_t release_merge(pthread_t th)
{
    sem_post(&pause_out);
    void *merged;
    pthread_join(th, &merged);
    compact_test_pause = NULL;
    sem_destroy(&pause_in);
    sem_destroy(&pause_out);
    return (uintptr_t)merged;
}

static void test_compact_does_not_hold_cuts(void **state)
{
    (void)state;
    fx_t f;
    pthread_t th;
    char *want = merge_paused_then_flush(&f, &th);
    /* retention passing every input's range deletes nothing the merge still reads (the others
     * it may delete: a 60 s retention a month later takes them all) */
    f.db->opts.retention_ms = 60000;
    assert_int_equal(db_apply_retention(f.db, T0 + 30 * 24 * H), MS_OK);
    f.db->opts.retention_ms = 0;
    assert_int_equal(stats(f.db).blocks, 3);
    assert_int_equal(release_merge(th), 1);
    db_stats_t st = stats(f.db);
    assert_int_equal(st.blocks, 1); /* the merged block replaced its three inputs */
    assert_int_equal(st.compactions, 1);
    char *kept = dump(f.db, T0, T0 + 6 * H - 1);
    assert_true(strstr(kept, "n=360:") != NULL); /* 6 h of one sample a minute, per series */
    free(kept);
    free(want);
    db_close(f.db);
    rm_rf(f.dir);
}

/* Same, without retention: the merge and the cut made during it leave every sample readable,
 * before and after a reopen. */
static void test_compact_cut_during_merge_keeps_data(void **state)
{
    (void)state;
    fx_t f;
    pthread_t th;
    char *want = merge_paused_then_flush(&f, &th);
    char *during = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(during, want);
    /* then the 2 h window [6,8), which now holds the first flush's block and the cut's */
    assert_int_equal(release_merge(th), 2);
    db_stats_t st = stats(f.db);
    assert_int_equal(st.blocks, 3); /* [0,6) merged, [6,8) merged, [8,10) */
    assert_int_equal(st.compactions, 2);
    char *after = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(after, want);
    reopen(&f);
    char *reopened = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(reopened, want);
    free(want);
    free(during);
    free(after);
    free(reopened);
    db_close(f.db);
    rm_rf(f.dir);
}

/* Overlapping blocks of one range holding different values at equal timestamps: the merge
 * keeps the newest block's value, exactly as queries did before it. */
static void test_compact_tie_rule(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    f.o.no_compaction = true;
    dbopen(&f);
    load(f.db, 4, T0, T0 + 4 * H, 60000);
    assert_int_equal(db_flush_head(f.db), MS_OK); /* blocks [0,2h) [2h,4h) */
    /* second generation: replace j0's sample at 1h, add a new one, add a new series */
    sample_t g2[2] = {{T0 + H, 222}, {T0 + H + 1, 2.5}};
    put(f.db, "__name__=m0,job=j0", g2, 2);
    put(f.db, "__name__=m9,job=late", g2, 1);
    load(f.db, 4, T0 + 4 * H, T0 + 5 * H, 60000); /* moves the flush boundary on */
    assert_int_equal(db_flush_head(f.db), MS_OK);
    /* third generation replaces the replacement */
    sample_t g3[1] = {{T0 + H, 333}};
    put(f.db, "__name__=m0,job=j0", g3, 1);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    db_stats_t st = stats(f.db);
    assert_int_equal(st.blocks, 5); /* [0,2h) x3, [2h,4h), [4h,6h) */
    assert_true(value_at(f.db, "j0", T0 + H) == 333);
    char *want = dump(f.db, INT64_MIN, INT64_MAX);
    uint64_t merged;
    assert_int_equal(db_compact(f.db, &merged), MS_OK);
    /* [0,2h) x3 -> 1 at level R; then [0,6h) is not complete (boundary 5h - 1 min + 1) */
    assert_int_equal(merged, 1);
    st = stats(f.db);
    assert_int_equal(st.blocks, 3);
    assert_true(value_at(f.db, "j0", T0 + H) == 333);
    assert_int_equal(count_samples(f.db, "j0", T0, T0 + 2 * H - 1), 121);
    assert_int_equal(count_samples(f.db, "late", INT64_MIN, INT64_MAX), 1);
    /* no duplicates: the blocks hold each sample once */
    assert_int_equal(st.block_samples, 4 * 5 * 60 + 1 + 1);
    char *got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, want);
    free(got);
    reopen(&f);
    got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, want);
    free(got);
    free(want);
    db_close(f.db);
    rm_rf(f.dir);
}

/* Late samples into a range already cut make a small extra block at the next cut; the next
 * compaction merges it into the range's block, so the extra copy does not last. */
static void test_compact_late_samples(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    f.o.no_compaction = true;
    f.o.head_window_ms = 2 * H;
    dbopen(&f);
    load(f.db, 6, T0, T0 + 14 * H, 60000);
    assert_int_equal(db_cut_blocks(f.db), MS_OK); /* boundary floor((14h - 1m - 2h) / 2h) = 10h */
    db_stats_t st = stats(f.db);
    assert_int_equal(st.blocks, 5);
    uint64_t merged;
    assert_int_equal(db_compact(f.db, &merged), MS_OK); /* [0,6h) complete: 3 -> 1 */
    assert_int_equal(merged, 1);
    assert_int_equal(stats(f.db).blocks, 3);
    uint64_t samples_before = stats(f.db).block_samples;
    /* late: a new sample and a replaced value in [0, 6h) (ranges [2h,4h) and [4h,6h)), a new
     * one in [6h, 8h) */
    sample_t late[2] = {{T0 + 3 * H + 7, 1.5}, {T0 + 4 * H, -1}};
    put(f.db, "__name__=m1,job=j1", late, 2);
    sample_t late2[1] = {{T0 + 7 * H + 3, 9}};
    put(f.db, "__name__=m2,job=j2", late2, 1);
    char *want = dump(f.db, INT64_MIN, INT64_MAX);
    assert_int_equal(db_cut_blocks(f.db), MS_OK);
    st = stats(f.db);
    assert_int_equal(st.blocks, 6); /* three small blocks: one per 2 h range touched */
    assert_int_equal(st.block_samples, samples_before + 3);
    assert_int_equal(db_compact(f.db, &merged), MS_OK);
    assert_int_equal(merged, 2); /* [0,6h) at level 3R, [6h,8h) at level R */
    st = stats(f.db);
    assert_int_equal(st.blocks, 3);
    assert_int_equal(st.block_samples, samples_before + 2); /* the replaced value counts once */
    assert_true(value_at(f.db, "j1", T0 + 4 * H) == -1);
    char *got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, want);
    free(got);
    free(want);
    db_close(f.db);
    rm_rf(f.dir);
}

/* A block with a damaged chunk is never merged (that would drop the damaged part for good): it
 * and every window holding it stay as they are, the rest is compacted, the call reports it. */
static void test_compact_damaged_block(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    f.o.no_compaction = true;
    dbopen(&f);
    load(f.db, 4, T0, T0 + 24 * H + 7 * H, 60000);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    assert_int_equal(stats(f.db).blocks, 16);
    db_close(f.db);
    /* damage the chunks of the block holding [2h, 4h) (seq 2: the flush writes ranges in order) */
    char p[128];
    snprintf(p, sizeof(p), "%s/blocks/00000002/chunks", f.dir);
    FILE *fp = fopen(p, "r+b");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    for (long off = 20; off < len - 8; off += 97) {
        fseek(fp, off, SEEK_SET);
        fputc(0x5a, fp);
    }
    fclose(fp);
    dbopen(&f);
    char *day2 = dump(f.db, T0 + 24 * H, INT64_MAX), *day1 = dump(f.db, T0 + 4 * H, T0 + 24 * H - 1);
    uint64_t merged;
    assert_int_equal(db_compact(f.db, &merged), MS_ECORRUPT);
    /* day 1's window holds the damaged block: only its 6 h windows without it merge (3 x 3 -> 3,
     * [0,6h) keeps its 3 blocks); day 2's [0,6h): 3 -> 1 */
    assert_int_equal(merged, 4);
    db_stats_t st = stats(f.db);
    assert_int_equal(st.blocks, 6 + 2);
    assert_int_equal(st.compaction_failures, 1);
    char *got = dump(f.db, T0 + 24 * H, INT64_MAX);
    assert_string_equal(got, day2);
    free(got);
    free(day2);
    got = dump(f.db, T0 + 4 * H, T0 + 24 * H - 1);
    assert_string_equal(got, day1);
    free(got);
    free(day1);
    /* asked again, it does not retry the damaged block's group */
    assert_int_equal(db_compact(f.db, &merged), MS_OK);
    assert_int_equal(merged, 0);
    assert_int_equal(stats(f.db).compaction_failures, 1);
    db_close(f.db);
    rm_rf(f.dir);
}

/* Tombstoned samples are dropped by the merge: queries answer the same before and after, and
 * the blocks hold fewer samples. */
static void test_compact_drops_deleted(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    f.o.no_compaction = true;
    dbopen(&f);
    load(f.db, 6, T0, T0 + 24 * H + H, 60000);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    uint64_t total = stats(f.db).block_samples;
    matcher_t *m = mt(MATCH_EQ, "job", "j2");
    const matcher_t *ms[1] = {m};
    uint64_t ns = 0;
    /* [3h, 5h - 1 min] of j2: 120 samples across two blocks */
    assert_int_equal(db_delete_series(f.db, ms, 1, T0 + 3 * H, T0 + 5 * H - 60000, &ns), MS_OK);
    matcher_free(m);
    assert_int_equal(ns, 1);
    char *want = dump(f.db, INT64_MIN, INT64_MAX);
    assert_int_equal(count_samples(f.db, "j2", T0, T0 + 24 * H - 1), 24 * 60 - 120);
    uint64_t merged;
    assert_int_equal(db_compact(f.db, &merged), MS_OK);
    assert_int_equal(merged, 1);
    db_stats_t st = stats(f.db);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(st.block_samples, total - 120);
    char *got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, want);
    free(got);
    reopen(&f);
    got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, want);
    free(got);
    free(want);
    db_close(f.db);
    rm_rf(f.dir);
}

typedef struct late_arg {
    db_t *db;
    atomic_bool stop;
    uint64_t seed;
    long puts;
} late_arg_t;

static void *late_main(void *arg)
{
    late_arg_t *a = arg;
    uint64_t r = a->seed;
    while (!atomic_load(&a->stop)) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        char spec[64];
        snprintf(spec, sizeof(spec), "__name__=m%d,job=j%d", (int)(r % 8) % 3, (int)(r % 8));
        /* an existing timestamp (a replaced value) or a new one, somewhere in [0, 8h) */
        int64_t t = T0 + (int64_t)((r >> 8) % (8 * 60)) * 60000 + ((r >> 20) % 2 ? (int64_t)((r >> 24) % 59999) : 0);
        sample_t s[1] = {{t, (double)(r >> 40)}};
        put(a->db, spec, s, 1);
        a->puts++;
    }
    return NULL;
}

/* Late appends racing with cuts: a series written during a cut keeps only its late samples in the
 * head (each sample reaches the blocks once); the overlapping blocks they make are merged once
 * the windows are complete, leaving every distinct sample exactly once with the newest value. */
static void test_compact_racing_late_appends(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    f.o.no_compaction = true;
    f.o.head_window_ms = 2 * H;
    dbopen(&f);
    load(f.db, 8, T0, T0 + 12 * H, 60000);
    late_arg_t a = {.db = f.db, .seed = 0x1234567ull};
    atomic_init(&a.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, late_main, &a), 0);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(db_cut_blocks(f.db), MS_OK);
        usleep(2000);
    }
    atomic_store(&a.stop, true);
    pthread_join(th, NULL);
    /* one sample two days on, in its own series, moves the flush boundary past day 1 */
    sample_t far[1] = {{T0 + 48 * H, 1}};
    put(f.db, "__name__=far,job=far", far, 1);
    char *want = dump(f.db, INT64_MIN, INT64_MAX);
    long distinct = 0;
    for (int k = 0; k < 8; k++) {
        char job[16];
        snprintf(job, sizeof(job), "j%d", k);
        distinct += count_samples(f.db, job, INT64_MIN, INT64_MAX);
    }
    assert_int_equal(db_flush_head(f.db), MS_OK);
    db_stats_t st = stats(f.db);
    print_message("racing late appends: %ld puts, %llu blocks holding %llu samples for %ld distinct\n", a.puts,
                  (unsigned long long)st.blocks, (unsigned long long)st.block_samples, distinct + 1);
    assert_true(st.block_samples >= (uint64_t)distinct + 1);
    /* a series written during a cut keeps only its late samples, so each sample is written to
     * blocks once: no more than the loaded ones plus one per late put (before that, every cut
     * wrote such series' whole past again: 20x the distinct samples here) */
    assert_true(st.block_samples <= (uint64_t)(8 * 12 * 60 + a.puts + 1));
    uint64_t merged;
    assert_int_equal(db_compact(f.db, &merged), MS_OK);
    st = stats(f.db);
    assert_int_equal(st.blocks, 2); /* day 1, and the far sample's block */
    assert_int_equal(st.block_samples, (uint64_t)distinct + 1);
    char *got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, want);
    free(got);
    reopen(&f);
    got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, want);
    free(got);
    free(want);
    db_close(f.db);
    rm_rf(f.dir);
}

static int copy_tree(const char *from, const char *to)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
    return system(cmd);
}

/* A crash after the merged block was renamed into place but before its inputs were removed:
 * the next load deletes the inputs because the new block names them as parents. */
static void test_compact_parents_cleanup(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    f.o.no_compaction = true;
    dbopen(&f);
    load(f.db, 5, T0, T0 + 24 * H + H, 120000);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    char *want = dump(f.db, INT64_MIN, INT64_MAX);
    db_stats_t st = stats(f.db);
    assert_int_equal(st.blocks, 13);
    const uint64_t total = st.block_samples;
    db_close(f.db);
    char saved[96], blocks[96];
    snprintf(saved, sizeof(saved), "%s.saved", f.dir);
    snprintf(blocks, sizeof(blocks), "%s/blocks", f.dir);
    assert_int_equal(copy_tree(blocks, saved), 0);
    dbopen(&f);
    uint64_t merged;
    assert_int_equal(db_compact(f.db, &merged), MS_OK);
    assert_int_equal(merged, 1); /* day 1: 12 -> 1 */
    assert_int_equal(stats(f.db).blocks, 2);
    db_close(f.db);
    /* put the inputs back beside their child, as a crash before their removal leaves them */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cp -a '%s'/0000* '%s'/", saved, blocks);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(count_block_dirs(f.dir), 14);
    dbopen(&f);
    st = stats(f.db);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(st.block_samples, total);
    assert_int_equal(count_block_dirs(f.dir), 2);
    char *got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, want);
    free(got);
    db_close(f.db);

    /* a damaged parents file: every block is kept (reads still right: the child wins ties) */
    assert_int_equal(system(cmd), 0);
    char p[512];
    DIR *d = opendir(blocks);
    struct dirent *e;
    char child[300] = "";
    while ((e = readdir(d)) != NULL) {
        snprintf(p, sizeof(p), "%s/%s/parents", blocks, e->d_name);
        if (access(p, F_OK) == 0) snprintf(child, sizeof(child), "%s", e->d_name);
    }
    closedir(d);
    assert_true(child[0]);
    snprintf(p, sizeof(p), "%s/%s/parents", blocks, child);
    FILE *fp = fopen(p, "r+b");
    assert_non_null(fp);
    fseek(fp, 9, SEEK_SET);
    fputc(0x7f, fp);
    fclose(fp);
    dbopen(&f);
    st = stats(f.db);
    assert_int_equal(st.blocks, 14);
    got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, want);
    free(got);
    free(want);
    db_close(f.db);
    rm_rf(saved);
    rm_rf(f.dir);
}

typedef struct reader_arg {
    db_t *db;
    atomic_bool stop;
    long expect;
    long bad, reads;
} reader_arg_t;

static void *reader_main(void *arg)
{
    reader_arg_t *a = arg;
    while (!atomic_load(&a->stop)) {
        long n = count_samples(a->db, "j3", INT64_MIN, INT64_MAX);
        if (n != a->expect) a->bad++;
        a->reads++;
    }
    return NULL;
}

/* Queries running all through a compaction always see every sample exactly once, and appends
 * go on meanwhile. */
static void test_compact_concurrent_reads(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    f.o.no_compaction = true;
    dbopen(&f);
    load(f.db, 8, T0, T0 + 2 * 24 * H + H, 60000);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    reader_arg_t a = {.db = f.db, .expect = count_samples(f.db, "j3", INT64_MIN, INT64_MAX)};
    atomic_init(&a.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &a), 0);
    uint64_t merged;
    assert_int_equal(db_compact(f.db, &merged), MS_OK);
    assert_int_equal(merged, 2);
    sample_t s[1] = {{T0 + 3 * 24 * H, 1}};
    put(f.db, "__name__=x,job=other", s, 1); /* appends are not blocked */
    usleep(20000);
    atomic_store(&a.stop, true);
    pthread_join(th, NULL);
    assert_true(a.reads > 0);
    assert_int_equal(a.bad, 0);
    db_close(f.db);
    rm_rf(f.dir);
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static pid_t run_child(const fx_t *f)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256];
        db_t *db;
        if (db_open(&f->o, &db, err, sizeof(err)) != MS_OK) _exit(2);
        if (db_compact(db, NULL) != MS_OK) _exit(3);
        db_close(db);
        _exit(0);
    }
    return pid;
}

/* SIGKILL at random moments of open + compaction + close; every reopen must show exactly the
 * data, each sample once (the blocks' sample total is unchanged), and a compaction after it
 * must finish the job. */
static void test_compact_kill_loop(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    f.o.no_compaction = true;
    f.o.wal_fsync = WAL_FSYNC_ALWAYS; /* the real fsync order, as a crash would meet it */
    dbopen(&f);
    load(f.db, 6, T0, T0 + 2 * 24 * H + 13 * H, 120000);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    sample_t late[2] = {{T0 + H, 5}, {T0 + 25 * H, 6}}; /* overlapping blocks too */
    put(f.db, "__name__=m0,job=j0", late, 2);
    assert_int_equal(db_flush_head(f.db), MS_OK);
    char *want = dump(f.db, INT64_MIN, INT64_MAX);
    db_close(f.db);
    char pristine[96], work[sizeof(f.dir)];
    snprintf(pristine, sizeof(pristine), "%s.pristine", f.dir);
    snprintf(work, sizeof(work), "%.40s.work", f.dir);
    assert_int_equal(copy_tree(f.dir, pristine), 0);
    fx_t c = f;
    snprintf(c.dir, sizeof(c.dir), "%s", work);
    c.o.data_dir = c.dir;
    /* the expected end state and the time an uninterrupted run takes */
    int64_t full = INT64_MAX;
    int ws;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(copy_tree(pristine, work), 0);
        int64_t t0 = mono_us();
        pid_t pid = run_child(&c);
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
        if (mono_us() - t0 < full) full = mono_us() - t0;
    }
    dbopen(&c);
    db_stats_t done = stats(c.db);
    db_close(c.db);
    int killed = 0, retried = 0;
    for (int iter = 0; iter < 40; iter++) {
        int64_t delay = (int64_t)(xr() % (uint64_t)(full + 1));
        for (int attempt = 0; attempt < 8; attempt++, delay /= 2) {
            assert_int_equal(copy_tree(pristine, work), 0);
            pid_t pid = run_child(&c);
            usleep((useconds_t)delay);
            kill(pid, SIGKILL);
            assert_int_equal(waitpid(pid, &ws, 0), pid);
            if (WIFSIGNALED(ws)) {
                killed++;
                break;
            }
            assert_int_equal(WEXITSTATUS(ws), 0);
            retried++;
        }
        dbopen(&c);
        char *got = dump(c.db, INT64_MIN, INT64_MAX);
        assert_string_equal(got, want);
        free(got);
        /* at most the input copies of one interrupted merge were left, and load removed them:
         * the blocks hold the pristine total plus nothing (the two late samples overlap data
         * only until their range is merged) */
        db_stats_t st = stats(c.db);
        assert_true(st.block_samples <= done.block_samples + 2);
        assert_true(st.block_samples >= done.block_samples);
        assert_int_equal(db_compact(c.db, NULL), MS_OK);
        st = stats(c.db);
        assert_int_equal(st.blocks, done.blocks);
        assert_int_equal(st.block_samples, done.block_samples);
        got = dump(c.db, INT64_MIN, INT64_MAX);
        assert_string_equal(got, want);
        free(got);
        db_close(c.db);
    }
    print_message("compaction kill loop: uninterrupted run %lld us, %d killed mid-way, %d retries\n", (long long)full,
                  killed, retried);
    assert_true(killed >= 35);
    free(want);
    rm_rf(pristine);
    rm_rf(work);
    rm_rf(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_head),
        cmocka_unit_test(test_compact_levels),
        cmocka_unit_test(test_compact_groups_and_equivalence),
        cmocka_unit_test(test_compact_tie_rule),
        cmocka_unit_test(test_compact_does_not_hold_cuts),
        cmocka_unit_test(test_compact_cut_during_merge_keeps_data),
        cmocka_unit_test(test_compact_late_samples),
        cmocka_unit_test(test_compact_parents_cleanup),
        cmocka_unit_test(test_compact_damaged_block),
        cmocka_unit_test(test_compact_drops_deleted),
        cmocka_unit_test(test_compact_concurrent_reads),
        cmocka_unit_test(test_compact_racing_late_appends),
        cmocka_unit_test(test_compact_kill_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
