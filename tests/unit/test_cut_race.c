/* test_cut_race.c stresses block cuts, dirty-series trimming and compaction against appends
 * racing with them (in-order writers that drift hours apart, late writers into ranges already
 * cut) across SIGKILLs of a forked writer process: after every kill and reopen, each
 * acknowledged sample must be readable with its value; and, step by step, the case that lost
 * samples in the e2e compaction crash loop: a series dropped by a cut and created again under a
 * new ref, reopened, then cut again (replay must take the newest ref, or the cut re-logs the old
 * one and deletes the new one's record while samples under it survive). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
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
#include "storage/db_internal.h"
#include "storage/storage.h"
#include "storage/wal.h"
#include "util/status.h"

#define MIN_MS (60LL * 1000)
#define H (60 * MIN_MS)
#define STEP (30 * 1000LL)
#define PER_BATCH 5
#define NW_IN 3    /* in-order writers */
#define NW_OLD 2   /* late writers */
#define NS 4       /* series per writer */
#define NSER ((NW_IN + NW_OLD) * NS)

static int rm_fn(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static int64_t t_base(void) { return (int64_t)time(NULL) * 1000 - 3 * 24 * H; }

static double val(int w, int s, int64_t t) { return (double)((t * 31 + w * 7 + s) % 1000003) / 4.0; }

typedef struct ack {
    uint32_t ser; /* w * NS + s */
    uint32_t pad;
    int64_t t;
} ack_t;

typedef struct run {
    db_t *db;
    int ackfd;
    int64_t t0;
    _Atomic int64_t progress[NW_IN];
    _Atomic bool stop;
    pthread_mutex_t ack_mu;
} run_t;

typedef struct warg {
    run_t *r;
    int w;
    uint64_t rng;
} warg_t;

static uint64_t xr(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void labels_of(int w, int s, char *wb, char *sb, label_t *l)
{
    snprintf(wb, 8, "%d", w);
    snprintf(sb, 8, "%d", s);
    l[0] = (label_t){"__name__", "cut_race", 8, 8};
    l[1] = (label_t){"s", sb, 1, (uint32_t)strlen(sb)};
    l[2] = (label_t){"w", wb, 1, (uint32_t)strlen(wb)};
}

/* One request: PER_BATCH samples for each of the writer's series; acks logged after commit. */
static void push(run_t *r, int w, const int64_t *ts)
{
    appender_t *a;
    if (db_appender(r->db, &a) != MS_OK) return;
    char wb[NS][8], sb[NS][8];
    label_t l[NS][3];
    for (int s = 0; s < NS; s++) {
        labels_of(w, s, wb[s], sb[s], l[s]);
        sample_t smp[PER_BATCH];
        for (int k = 0; k < PER_BATCH; k++) smp[k] = (sample_t){ts[k], val(w, s, ts[k])};
        appender_add(a, l[s], 3, labels_hash(l[s], 3), smp, PER_BATCH);
    }
    if (appender_commit(a, NULL) != MS_OK) return;
    ack_t acks[NS * PER_BATCH];
    for (int s = 0; s < NS; s++)
        for (int k = 0; k < PER_BATCH; k++) acks[s * PER_BATCH + k] = (ack_t){(uint32_t)(w * NS + s), 0, ts[k]};
    pthread_mutex_lock(&r->ack_mu);
    ssize_t n = write(r->ackfd, acks, sizeof(acks));
    pthread_mutex_unlock(&r->ack_mu);
    (void)n;
}

static void *writer_main(void *arg)
{
    warg_t *wa = arg;
    run_t *r = wa->r;
    int w = wa->w;
    bool old = w >= NW_IN;
    int64_t t_next = old ? 0 : atomic_load(&r->progress[w]);
    while (!atomic_load(&r->stop)) {
        int64_t ts[PER_BATCH];
        if (old) {
            int64_t lo = INT64_MAX;
            for (int i = 0; i < NW_IN; i++) {
                int64_t p = atomic_load(&r->progress[i]);
                if (p < lo) lo = p;
            }
            int64_t hi = lo - 10 * MIN_MS;
            if (hi <= r->t0 + MIN_MS) hi = r->t0 + MIN_MS;
            for (int k = 0; k < PER_BATCH; k++) ts[k] = r->t0 + (int64_t)(xr(&wa->rng) % (uint64_t)(hi - r->t0));
            for (int i = 1; i < PER_BATCH; i++) /* sorted, distinct */
                for (int j = i; j > 0 && ts[j] < ts[j - 1]; j--) {
                    int64_t x = ts[j];
                    ts[j] = ts[j - 1];
                    ts[j - 1] = x;
                }
            bool dup = false;
            for (int i = 1; i < PER_BATCH; i++) dup |= ts[i] == ts[i - 1];
            if (dup) continue;
        } else {
            for (int k = 0; k < PER_BATCH; k++) ts[k] = t_next + k * STEP;
            if (ts[PER_BATCH - 1] > (int64_t)time(NULL) * 1000 - 5 * MIN_MS) break;
            t_next += PER_BATCH * STEP;
        }
        push(r, w, ts);
        if (!old) atomic_store(&r->progress[w], t_next);
        /* drift: now and then an in-order writer pauses, so the others run hours ahead */
        if (!old && xr(&wa->rng) % 64 == 0) usleep((useconds_t)(xr(&wa->rng) % 20000));
        usleep(old ? 1000 : 2000); /* the sweep lasts many kills */
    }
    return NULL;
}

static void *cutter_main(void *arg)
{
    run_t *r = arg;
    while (!atomic_load(&r->stop)) {
        db_cut_blocks(r->db);
        bool merged;
        compact_step(r->db, &merged);
    }
    return NULL;
}

static void db_opts(db_options_t *o, const char *dir)
{
    db_options_default(o);
    o->data_dir = dir;
    o->retention_ms = 0;
    o->wal_fsync = WAL_FSYNC_NEVER;
    o->head_window_ms = MIN_MS;
    o->wal_segment_bytes = 1 << 14;
}

/* The writer process: runs until killed. */
static void child(const char *dir, const char *ackpath, int64_t t0, uint64_t seed)
{
    db_options_t o;
    db_opts(&o, dir);
    run_t *r = calloc(1, sizeof(*r));
    char err[256];
    if (db_open(&o, &r->db, err, sizeof(err)) != MS_OK) _exit(3);
    r->ackfd = open(ackpath, O_WRONLY | O_APPEND | O_CREAT, 0644);
    r->t0 = t0;
    pthread_mutex_init(&r->ack_mu, NULL);
    /* resume the in-order writers after their newest acknowledged sample */
    for (int w = 0; w < NW_IN; w++) atomic_store(&r->progress[w], t0 + w);
    int fd = open(ackpath, O_RDONLY);
    ack_t a;
    while (fd >= 0 && read(fd, &a, sizeof(a)) == (ssize_t)sizeof(a))
        if (a.ser / NS < NW_IN && a.t + STEP > atomic_load(&r->progress[a.ser / NS]))
            atomic_store(&r->progress[a.ser / NS], a.t + STEP);
    if (fd >= 0) close(fd);
    pthread_t th[NW_IN + NW_OLD + 1];
    warg_t wa[NW_IN + NW_OLD];
    for (int w = 0; w < NW_IN + NW_OLD; w++) {
        wa[w] = (warg_t){r, w, seed * 7919 + (uint64_t)w * 104729 + 1};
        pthread_create(&th[w], NULL, writer_main, &wa[w]);
    }
    pthread_create(&th[NW_IN + NW_OLD], NULL, cutter_main, r);
    for (int w = 0; w < NW_IN + NW_OLD; w++) pthread_join(th[w], NULL);
    for (;;) pause();
}

static int ack_cmp(const void *a, const void *b)
{
    const ack_t *x = a, *y = b;
    if (x->ser != y->ser) return x->ser < y->ser ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* Every acknowledged sample is stored with its value; returns how many were checked. */
static size_t verify(const char *dir, const char *ackpath, int round)
{
    db_options_t o;
    db_opts(&o, dir);
    db_t *db;
    char err[256];
    assert_int_equal(db_open(&o, &db, err, sizeof(err)), MS_OK);
    /* cuts and merges go on while the check reads, as after a restart of the server */
    run_t *cr = calloc(1, sizeof(*cr));
    cr->db = db;
    pthread_t cth;
    pthread_create(&cth, NULL, cutter_main, cr);
    struct stat st;
    size_t na = stat(ackpath, &st) == 0 ? (size_t)st.st_size / sizeof(ack_t) : 0;
    ack_t *acks = malloc((na ? na : 1) * sizeof(ack_t));
    int fd = open(ackpath, O_RDONLY);
    size_t got = 0;
    if (fd >= 0) {
        ssize_t n = read(fd, acks, na * sizeof(ack_t));
        got = n > 0 ? (size_t)n / sizeof(ack_t) : 0;
        close(fd);
    }
    if (got > 1) qsort(acks, got, sizeof(ack_t), ack_cmp);
    size_t lost = 0, checked = 0;
    for (size_t a = 0; a < got;) {
        size_t b = a;
        while (b < got && acks[b].ser == acks[a].ser) b++;
        int w = (int)(acks[a].ser / NS), s = (int)(acks[a].ser % NS);
        char wb[8], sb[8];
        label_t l[3];
        labels_of(w, s, wb, sb, l);
        matcher_t *m[3];
        for (int i = 0; i < 3; i++)
            assert_int_equal(matcher_new(MATCH_EQ, l[i].name, l[i].name_len, l[i].value, l[i].value_len, &m[i], err,
                                         sizeof(err)),
                             MS_OK);
        querier_t *q; /* one per series: more interleavings with the cuts and merges */
        assert_int_equal(db_querier(db, INT64_MIN, INT64_MAX, &q), MS_OK);
        series_set_t *ss;
        assert_int_equal(querier_select(q, (const matcher_t *const *)m, 3, &ss), MS_OK);
        sample_vec_t sv = {0};
        if (series_set_len(ss) == 1) assert_int_equal(series_set_samples(ss, 0, INT64_MIN, INT64_MAX, &sv), MS_OK);
        size_t j = 0, first_lost = SIZE_MAX, nlost = 0;
        for (size_t k = a; k < b; k++) {
            if (k > a && acks[k].t == acks[k - 1].t) continue;
            checked++;
            while (j < sv.n && sv.v[j].t < acks[k].t) j++;
            bool ok = j < sv.n && sv.v[j].t == acks[k].t && sv.v[j].v == val(w, s, acks[k].t);
            if (!ok) {
                if (first_lost == SIZE_MAX) first_lost = k;
                nlost++;
            }
        }
        if (nlost) {
            print_message("round %d: series w=%d s=%d: %zu acknowledged samples lost, first t=%lld (%lld ms after t0 "
                          "range start %lld)\n",
                          round, w, s, nlost, (long long)acks[first_lost].t,
                          (long long)(acks[first_lost].t % (2 * H)), (long long)(acks[first_lost].t / (2 * H) * 2 * H));
            lost += nlost;
        }
        sample_vec_free(&sv);
        series_set_free(ss);
        for (int i = 0; i < 3; i++) matcher_free(m[i]);
        querier_close(q);
        a = b;
    }
    atomic_store(&cr->stop, true);
    pthread_join(cth, NULL);
    free(cr);
    db_close(db);
    free(acks);
    if (lost) print_message("data dir kept: %s\n", dir);
    assert_int_equal(lost, 0);
    return checked;
}

static void test_cut_race_kill_loop(void **state)
{
    (void)state;
    char dir[64] = "/tmp/ms_cutrace_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ackpath[128];
    snprintf(ackpath, sizeof(ackpath), "%s.acks", dir);
    unlink(ackpath);
    int64_t t0 = t_base();
    const char *ek = getenv("CUT_RACE_KILLS");
    int kills = ek ? atoi(ek) : 12;
    uint64_t seed = (uint64_t)time(NULL);
    size_t checked = 0;
    for (int k = 0; k < kills; k++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) child(dir, ackpath, t0, seed + (uint64_t)k);
        usleep((useconds_t)(150000 + (seed * 2654435761u + (uint64_t)k * 40503u) % 500000));
        kill(pid, SIGKILL);
        int stw;
        waitpid(pid, &stw, 0);
        assert_true(WIFSIGNALED(stw));
        checked = verify(dir, ackpath, k + 1);
    }
    print_message("%d kills, %zu acknowledged samples verified after the last\n", kills, checked);
    nftw(dir, rm_fn, 16, FTW_DEPTH | FTW_PHYS);
    unlink(ackpath);
}

/* ---- a series dropped by a cut, created again under a new ref, reopened, cut again ---- */

#define DAY0 (1700000000000LL / (24 * H) * (24 * H))

static void put1(db_t *db, const char *job, int64_t t)
{
    label_t l[2] = {{"__name__", "m", 8, 1}, {"job", job, 3, (uint32_t)strlen(job)}};
    sample_t smp = {t, (double)(t / 1000)};
    appender_t *a;
    assert_int_equal(db_appender(db, &a), MS_OK);
    assert_int_equal(appender_add(a, l, 2, labels_hash(l, 2), &smp, 1), MS_OK);
    assert_int_equal(appender_commit(a, NULL), MS_OK);
}

/* Whether the series job=job holds a sample at t (with its value). */
static bool has_sample(db_t *db, const char *job, int64_t t)
{
    querier_t *q;
    assert_int_equal(db_querier(db, t, t, &q), MS_OK);
    matcher_t *m, *mn;
    char err[64];
    assert_int_equal(matcher_new(MATCH_EQ, "job", 3, job, strlen(job), &m, err, sizeof(err)), MS_OK);
    assert_int_equal(matcher_new(MATCH_EQ, "__name__", 8, "m", 1, &mn, err, sizeof(err)), MS_OK);
    const matcher_t *ms[2] = {mn, m}; /* two: the head intersects postings ordered by ref */
    series_set_t *ss;
    assert_int_equal(querier_select(q, ms, 2, &ss), MS_OK);
    bool found = false;
    if (series_set_len(ss) == 1) {
        sample_vec_t sv = {0};
        assert_int_equal(series_set_samples(ss, 0, t, t, &sv), MS_OK);
        found = sv.n == 1 && sv.v[0].t == t && sv.v[0].v == (double)(t / 1000);
        sample_vec_free(&sv);
    }
    series_set_free(ss);
    matcher_free(m);
    matcher_free(mn);
    querier_close(q);
    return found;
}

/* A cut at the boundary a 1 m head window gives for the head's newest sample (the background
 * thread never cuts: head_window_ms is 0 except during this call). */
static void cut_now(db_t *db)
{
    db->opts.head_window_ms = MIN_MS;
    assert_int_equal(db_cut_blocks(db), MS_OK);
    db->opts.head_window_ms = 0;
}

static void test_replay_takes_newest_ref(void **state)
{
    (void)state;
    char dir[64] = "/tmp/ms_cutref_XXXXXX";
    assert_non_null(mkdtemp(dir));
    db_options_t o;
    db_opts(&o, dir);
    o.head_window_ms = 0;
    o.no_compaction = true;
    char err[256];
    db_t *db;
    assert_int_equal(db_open(&o, &db, err, sizeof(err)), MS_OK);
    /* life 1 of x: its record lands in a segment that a's newer sample keeps from deletion */
    put1(db, "a", DAY0 + 4 * H + 10 * MIN_MS);
    put1(db, "x", DAY0 + 1 * H);
    cut_now(db); /* T = 4h: x's only sample goes into a block, x leaves the head */
    /* life 2 of x: a new ref, its record in a segment of its own, then samples in the next */
    put1(db, "x", DAY0 + 5 * H);
    assert_int_equal(wal_cut(db->wal), MS_OK);
    put1(db, "x", DAY0 + 9 * H);
    db_close(db);

    /* the replay sees both of x's refs; the cut must re-log the one the WAL's samples use */
    assert_int_equal(db_open(&o, &db, err, sizeof(err)), MS_OK);
    put1(db, "x", DAY0 + 9 * H + 30 * MIN_MS);
    cut_now(db); /* T = 8h: deletes the segments below it, keeps the one holding x at 9h */
    db_close(db);

    assert_int_equal(db_open(&o, &db, err, sizeof(err)), MS_OK);
    assert_true(has_sample(db, "x", DAY0 + 1 * H));
    assert_true(has_sample(db, "x", DAY0 + 5 * H));
    assert_true(has_sample(db, "x", DAY0 + 9 * H)); /* was lost: its ref's record was deleted */
    assert_true(has_sample(db, "x", DAY0 + 9 * H + 30 * MIN_MS));
    assert_true(has_sample(db, "a", DAY0 + 4 * H + 10 * MIN_MS));
    db_close(db);
    nftw(dir, rm_fn, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_takes_newest_ref),
        cmocka_unit_test(test_cut_race_kill_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
