/* test_backpressure.c checks ingest backpressure on the storage API (appender.c): a commit of
 * old samples made while the head spans more than the limit beyond the block cut waits for the
 * cut, and with the cut held back (the test holds db->cut_mu, which every cut takes) is refused
 * with MS_EBUSY leaving nothing behind (no series, no head sample, no WAL record: a reopen does
 * not bring it back); the same batch succeeds once the cut runs; live (in-window) commits never
 * wait; and a full-speed in-order backfill keeps the head near the limit instead of letting it
 * grow with the data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include "storage/db_internal.h"
#include "testutil.h"
#include "util/clock.h"

#define MIN_MS (60LL * 1000)
#define H (60 * MIN_MS)
#define W (1 * H) /* head window and block range in these tests: limit = W + W + W = 3h */

static int64_t mono_ms(void) { return clock_mono_ns() / 1000000; }

/* A day-aligned time ten days ago: old enough to be a backfill, no retention set. */
static int64_t backfill_base(void)
{
    int64_t now = clock_now_ms(), day = 24 * H;
    return (now / day) * day - 10 * day;
}

static void bp_options(tu_db_t *f, int64_t wait_ms)
{
    f->o.head_window_ms = W;
    f->o.block_range_ms = W;
    f->o.no_compaction = true;
    f->o.ingest_wait_ms = wait_ms;
    f->o.no_head_snapshot = true; /* every reopen replays the WAL: what was refused must not be in it */
}

/* One commit of one sample at t for each spec; returns the commit's status. */
static int put_at(db_t *db, const char *const *specs, size_t n, int64_t t, double v)
{
    appender_t *a;
    assert_int_equal(db_appender(db, &a), MS_OK);
    tu_lset_t l[4];
    for (size_t i = 0; i < n; i++) {
        tu_labels(&l[i], specs[i]);
        sample_t s = {t, v};
        assert_int_equal(appender_add(a, l[i].l, l[i].n, labels_hash(l[i].l, l[i].n), &s, 1), MS_OK);
    }
    return appender_commit(a, NULL);
}

/* Samples of the series spec in [mint, maxt] appended to out (out->n reset); returns how many
 * series matched (0 or 1). */
static size_t read_series(db_t *db, const char *spec, int64_t mint, int64_t maxt, sample_vec_t *out)
{
    tu_lset_t l;
    tu_labels(&l, spec);
    matcher_t *m[16];
    for (size_t i = 0; i < l.n; i++) {
        char n[64], v[64];
        snprintf(n, sizeof n, "%.*s", (int)l.l[i].name_len, l.l[i].name);
        snprintf(v, sizeof v, "%.*s", (int)l.l[i].value_len, l.l[i].value);
        m[i] = tu_matcher(MATCH_EQ, n, v);
    }
    querier_t *q;
    assert_int_equal(db_querier(db, mint, maxt, &q), MS_OK);
    series_set_t *ss;
    assert_int_equal(querier_select(q, (const matcher_t *const *)m, l.n, &ss), MS_OK);
    out->n = 0;
    size_t ns = series_set_len(ss);
    for (size_t i = 0; i < ns; i++) assert_int_equal(series_set_samples(ss, i, mint, maxt, out), MS_OK);
    series_set_free(ss);
    querier_close(q);
    for (size_t i = 0; i < l.n; i++) matcher_free(m[i]);
    return ns;
}

static void bp_counts(db_t *db, uint64_t *waits, uint64_t *rej)
{
    db_stats_t st;
    db_stats(db, &st);
    *waits = st.ingest_backpressure_waits;
    *rej = st.ingest_backpressure_rejections;
}

/* The head races 3h+ ahead with the cut held back: the next old commit waits ingest_wait_ms,
 * then gets MS_EBUSY with nothing of it anywhere (also not after a reopen, so not in the WAL);
 * once the cut may run, the same batch goes in (after the cut dropped a series the waiting
 * appender had looked up: it must be found or created again). */
static void test_refused_when_cut_is_held_then_accepted(void **state)
{
    (void)state;
    tu_db_t f;
    tu_db_init(&f, "/tmp/ms_bp_XXXXXX");
    bp_options(&f, 300);
    tu_db_open(&f);
    const int64_t base = backfill_base();
    const char *both[] = {"job=a", "job=old"}, *a_only[] = {"job=a"};
    const char *refused[] = {"job=a", "job=old", "job=new"};
    assert_int_equal(put_at(f.db, both, 2, base, 1), MS_OK); /* job=old only ever has this sample */

    pthread_mutex_lock(&f.db->cut_mu); /* the seam: no cut can run while the test holds it */
    int64_t t = base;
    for (t = base + 10 * MIN_MS; t <= base + 3 * H + 10 * MIN_MS; t += 10 * MIN_MS)
        assert_int_equal(put_at(f.db, a_only, 1, t, (double)t), MS_OK); /* the span was <= 3h before each */
    uint64_t w0, r0, w1, r1;
    bp_counts(f.db, &w0, &r0);
    assert_int_equal(w0, 0);
    assert_int_equal(r0, 0);
    db_stats_t st0, st1;
    db_stats(f.db, &st0);

    /* the head now spans 3h10m > 3h: an old commit waits 300 ms, then is refused */
    int64_t t_ref = t;
    int64_t t0 = mono_ms();
    assert_int_equal(put_at(f.db, refused, 3, t_ref, 42), MS_EBUSY);
    int64_t waited = mono_ms() - t0;
    assert_true(waited >= 290);
    assert_true(waited < 5000);
    bp_counts(f.db, &w1, &r1);
    assert_int_equal(w1, 1);
    assert_int_equal(r1, 1);
    db_stats(f.db, &st1);
    assert_int_equal(st1.series, st0.series); /* no series created for job=new */
    assert_int_equal(st1.samples_appended, st0.samples_appended);
    sample_vec_t sv = {0};
    assert_int_equal(read_series(f.db, "job=new", base, t_ref + H, &sv), 0);
    assert_int_equal(read_series(f.db, "job=a", t_ref, t_ref + H, &sv), 0);
    assert_int_equal(read_series(f.db, "job=old", t_ref - H, t_ref + H, &sv), 0);

    /* with ingest_wait_ms < 0 the refusal comes at once and counts no wait */
    f.db->opts.ingest_wait_ms = -1;
    t0 = mono_ms();
    assert_int_equal(put_at(f.db, refused, 3, t_ref, 42), MS_EBUSY);
    assert_true(mono_ms() - t0 < 250);
    bp_counts(f.db, &w1, &r1);
    assert_int_equal(w1, 1);
    assert_int_equal(r1, 2);
    pthread_mutex_unlock(&f.db->cut_mu);

    /* nothing refused was logged: a reopen (WAL replay) does not bring it back */
    db_close(f.db);
    f.o.ingest_wait_ms = 5000;
    tu_db_open(&f);
    assert_int_equal(read_series(f.db, "job=new", base, t_ref + H, &sv), 0);
    assert_int_equal(read_series(f.db, "job=a", t_ref, t_ref + H, &sv), 0);
    assert_int_equal(read_series(f.db, "job=a", base, t_ref + H, &sv), 1);
    assert_int_equal(sv.n, 20); /* base, then every 10 min up to 3h10m */

    /* the cut may run now: the same batch goes in (waiting for a cut if the head is still wide) */
    assert_int_equal(put_at(f.db, refused, 3, t_ref, 42), MS_OK);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(read_series(f.db, refused[i], t_ref, t_ref, &sv), 1);
        assert_int_equal(sv.n, 1);
        assert_true(sv.v[0].v == 42);
    }
    assert_int_equal(read_series(f.db, "job=old", base, base, &sv), 1); /* its old sample is in a block */
    assert_int_equal(sv.n, 1);
    db_stats(f.db, &st1);
    assert_true(st1.blocks >= 1);
    sample_vec_free(&sv);
    db_close(f.db);
    tu_rm_rf(f.dir);
}

/* The retried commit in the test above may go in without waiting (the reopened db's background
 * thread can cut first); here the wait that ends in success is made certain: a helper thread
 * holds the cut back from before the head gets wide until 400 ms after the commit started. */
typedef struct holder {
    db_t *db;
    _Atomic int phase; /* 0 start, 1 cut_mu held, 2 commit about to start, 3 released */
} holder_t;

static void *hold_cut(void *p)
{
    holder_t *hd = p;
    pthread_mutex_lock(&hd->db->cut_mu);
    atomic_store(&hd->phase, 1);
    while (atomic_load(&hd->phase) != 2) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    struct timespec ts = {0, 400 * 1000000};
    nanosleep(&ts, NULL);
    atomic_store(&hd->phase, 3);
    pthread_mutex_unlock(&hd->db->cut_mu);
    return NULL;
}

static void test_wait_ends_when_cut_catches_up(void **state)
{
    (void)state;
    tu_db_t f;
    tu_db_init(&f, "/tmp/ms_bp_XXXXXX");
    bp_options(&f, 5000);
    tu_db_open(&f);
    holder_t hd = {f.db, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hold_cut, &hd), 0);
    while (atomic_load(&hd.phase) != 1) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    const int64_t base = backfill_base();
    const char *s[] = {"job=a", "job=old"};
    assert_int_equal(put_at(f.db, s, 2, base, 1), MS_OK);
    assert_int_equal(put_at(f.db, s, 1, base + 4 * H, 2), MS_OK); /* head spans 4h > 3h */
    int64_t t0 = mono_ms();
    atomic_store(&hd.phase, 2);
    assert_int_equal(put_at(f.db, s, 2, base + 4 * H + MIN_MS, 3), MS_OK);
    int64_t waited = mono_ms() - t0;
    assert_int_equal(atomic_load(&hd.phase), 3); /* it went in only after the cut was let go ... */
    pthread_join(th, NULL);
    assert_true(waited >= 350);
    assert_true(waited < 4000); /* ... and when the cut was done, not at the 5 s deadline */
    uint64_t w, r;
    bp_counts(f.db, &w, &r);
    assert_int_equal(w, 1);
    assert_int_equal(r, 0);
    sample_vec_t sv = {0};
    assert_int_equal(read_series(f.db, "job=old", base, base + 5 * H, &sv), 1); /* dropped and created again */
    assert_int_equal(sv.n, 2);
    assert_true(sv.v[0].v == 1 && sv.v[1].v == 3);
    sample_vec_free(&sv);
    db_close(f.db);
    tu_rm_rf(f.dir);
}

/* Live data (newer than now - head window) goes in at once even while the head is far over the
 * limit and the cut is held back. */
static void test_live_commits_never_wait(void **state)
{
    (void)state;
    tu_db_t f;
    tu_db_init(&f, "/tmp/ms_bp_XXXXXX");
    bp_options(&f, 3000);
    tu_db_open(&f);
    const int64_t base = backfill_base();
    const char *s[] = {"job=a"};
    pthread_mutex_lock(&f.db->cut_mu);
    assert_int_equal(put_at(f.db, s, 1, base, 1), MS_OK);
    assert_int_equal(put_at(f.db, s, 1, base + 5 * H, 2), MS_OK); /* head spans 5h > 3h */
    int64_t now = clock_now_ms();
    for (int i = 0; i < 20; i++) {
        int64_t t0 = mono_ms();
        assert_int_equal(put_at(f.db, s, 1, now + i, 3), MS_OK);
        assert_true(mono_ms() - t0 < 500);
    }
    uint64_t w, r;
    bp_counts(f.db, &w, &r);
    assert_int_equal(w, 0);
    assert_int_equal(r, 0);
    /* while an old commit would be held back */
    f.db->opts.ingest_wait_ms = -1;
    assert_int_equal(put_at(f.db, s, 1, base + 5 * H + MIN_MS, 4), MS_EBUSY);
    pthread_mutex_unlock(&f.db->cut_mu);
    db_close(f.db);
    tu_rm_rf(f.dir);
}

/* A full-speed in-order backfill of two days: every commit succeeds, every sample is readable
 * afterwards, and the head's span (newest minus oldest head sample, from db_stats) never goes
 * past the limit plus one commit's own extent plus one chunk's reach below the cut boundary;
 * without backpressure the 1 s cut tick falls days behind (the head holds most of the two
 * days when the cut first runs). */
static void test_full_speed_backfill_stays_bounded(void **state)
{
    (void)state;
    tu_db_t f;
    tu_db_init(&f, "/tmp/ms_bp_XXXXXX");
    bp_options(&f, 10000);
    tu_db_open(&f);
    enum { NSER = 50, PER = 20 };
    const int64_t step = 30 * 1000, base = backfill_base(), days = 2;
    const int64_t nts = days * 24 * H / step;
    tu_lset_t l[NSER];
    char spec[64];
    for (int i = 0; i < NSER; i++) {
        snprintf(spec, sizeof spec, "i=%d,job=bf", i);
        tu_labels(&l[i], spec);
    }
    sample_t smp[PER];
    int64_t peak = 0, limit = db_bp_limit_ms(&f.db->opts);
    for (int64_t k = 0; k < nts; k += PER) {
        appender_t *a;
        assert_int_equal(db_appender(f.db, &a), MS_OK);
        for (int i = 0; i < NSER; i++) {
            for (int j = 0; j < PER; j++) smp[j] = (sample_t){base + (k + j) * step, (double)(k + j + i)};
            assert_int_equal(appender_add(a, l[i].l, l[i].n, labels_hash(l[i].l, l[i].n), smp, PER), MS_OK);
        }
        assert_int_equal(appender_commit(a, NULL), MS_OK);
        if ((k / PER) % 16 == 0) {
            db_stats_t st;
            db_stats(f.db, &st);
            if (st.head_maxt - st.head_mint > peak) peak = st.head_maxt - st.head_mint;
        }
    }
    uint64_t w, r;
    bp_counts(f.db, &w, &r);
    print_message("backfill: %lld samples, peak head span %.2f h (limit %.1f h), %llu waits, %llu refused\n",
                  (long long)(nts * NSER), (double)peak / H, (double)limit / H, (unsigned long long)w,
                  (unsigned long long)r);
    assert_true(w > 0); /* the backfill did outrun the cut, and was held back */
    assert_int_equal(r, 0);
    assert_true(peak <= limit + PER * step + 2 * H);
    sample_vec_t sv = {0};
    for (int i = 0; i < NSER; i += 7) {
        snprintf(spec, sizeof spec, "i=%d,job=bf", i);
        assert_int_equal(read_series(f.db, spec, base, base + nts * step, &sv), 1);
        assert_int_equal(sv.n, (size_t)nts);
        assert_true(sv.v[0].t == base && sv.v[nts - 1].t == base + (nts - 1) * step);
    }
    sample_vec_free(&sv);
    db_close(f.db);
    tu_rm_rf(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_when_cut_is_held_then_accepted),
        cmocka_unit_test(test_wait_ends_when_cut_catches_up),
        cmocka_unit_test(test_live_commits_never_wait),
        cmocka_unit_test(test_full_speed_backfill_stays_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
