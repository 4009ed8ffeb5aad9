/* test_tombstones.c tests deletion: interval merging and filtering, the tombstones file (round
 * trip, every damaged byte and truncation refused, leftover tmp removed), and through
 * storage.h on data spanning blocks and the head: deleted samples vanish from queriers at once,
 * series left with nothing in range are not selected, other series are untouched, deletion
 * survives reopen (WAL replay does not resurrect), clean_tombstones shrinks blocks and keeps
 * exactly the intervals that still cover head data, late samples after an open-ended delete
 * stay visible, equal-timestamp precedence between overlapping blocks survives rewrites, and
 * SIGKILLs at random moments of clean_tombstones never bring deleted data back or lose data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <fcntl.h>
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
#include "storage/tombstones.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/status.h"
#include "testutil.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t xr(void) { return tu_xorshift(&rng); }

/* ---- the set and its file ---- */

static void add1(tombstones_t *t, const char *spec, int64_t a, int64_t b, uint32_t mark)
{
    tu_lset_t l;
    tu_labels(&l, spec);
    tomb_add_t x = {l.l, l.n, labels_hash(l.l, l.n), a, b, mark};
    assert_int_equal(tomb_add(t, &x, 1), MS_OK);
}

static const tomb_ent_t *find(tomb_snap_t *s, const char *spec)
{
    tu_lset_t l;
    tu_labels(&l, spec);
    return tomb_snap_find(s, l.l, l.n, labels_hash(l.l, l.n));
}

static void test_intervals(void **state)
{
    (void)state;
    char dir[] = "/tmp/ms_tomb_XXXXXX";
    assert_non_null(mkdtemp(dir));
    tombstones_t *t;
    char err[256];
    assert_int_equal(tomb_open(dir, false, &t, err, sizeof(err)), MS_OK);
    assert_false(tomb_any(t));
    assert_null(tomb_snap_get(t));
    add1(t, "__name__=a,job=x", 50, 60, 0);
    add1(t, "__name__=a,job=x", 10, 20, 3);
    add1(t, "__name__=a,job=x", 21, 30, 7); /* adjacent: merged, larger mark */
    add1(t, "__name__=a,job=x", 55, 70, 0); /* overlapping */
    add1(t, "__name__=a,job=x", 100, 100, 0);
    add1(t, "__name__=b", 0, 5, 0);
    /* several adds of one series in one call merge too */
    tu_lset_t l;
    tu_labels(&l, "__name__=c");
    tomb_add_t two[2] = {{l.l, l.n, labels_hash(l.l, l.n), 1, 2, 0}, {l.l, l.n, labels_hash(l.l, l.n), 3, 9, 0}};
    assert_int_equal(tomb_add(t, two, 2), MS_OK);
    tomb_add_t bad = {l.l, l.n, labels_hash(l.l, l.n), 9, 3, 0};
    assert_int_equal(tomb_add(t, &bad, 1), MS_EINVAL);
    assert_true(tomb_any(t));
    uint64_t ns, ni;
    tomb_counts(t, &ns, &ni);
    assert_int_equal(ns, 3);
    assert_int_equal(ni, 5);
    tomb_snap_t *s = tomb_snap_get(t);
    const tomb_ent_t *e = find(s, "__name__=a,job=x");
    assert_non_null(e);
    assert_int_equal(e->niv, 3);
    assert_int_equal(e->iv[0].mint, 10);
    assert_int_equal(e->iv[0].maxt, 30);
    assert_int_equal(e->iv[0].wal_mark, 7);
    assert_int_equal(e->iv[1].mint, 50);
    assert_int_equal(e->iv[1].maxt, 70);
    assert_int_equal(e->iv[2].mint, 100);
    assert_int_equal(e->iv[2].maxt, 100);
    e = find(s, "__name__=c");
    assert_int_equal(e->niv, 1);
    assert_int_equal(e->iv[0].mint, 1);
    assert_int_equal(e->iv[0].maxt, 9);
    assert_null(find(s, "__name__=a"));
    e = find(s, "__name__=a,job=x");
    assert_true(tomb_ent_overlaps(e, 30, 40));
    assert_false(tomb_ent_overlaps(e, 31, 49));
    assert_true(tomb_ent_overlaps(e, 0, 1000));
    assert_false(tomb_ent_overlaps(e, 101, 1000));
    assert_true(tomb_ent_covers(e, 12, 30));
    assert_false(tomb_ent_covers(e, 12, 50));
    assert_false(tomb_ent_covers(e, 9, 12));
    sample_vec_t sv = {0};
    for (int64_t x = 0; x <= 120; x++) {
        if (sv.n == sv.cap) {
            sv.cap = sv.cap ? sv.cap * 2 : 16;
            sv.v = realloc(sv.v, sv.cap * sizeof(sample_t));
        }
        sv.v[sv.n++] = (sample_t){x, (double)x};
    }
    assert_int_equal(tomb_ent_filter(e, &sv, 5), 21 + 21 + 1);
    assert_int_equal(sv.n, 121 - 43);
    for (size_t i = 0; i < sv.n; i++) {
        int64_t x = sv.v[i].t;
        assert_true(x < 10 || (x > 30 && x < 50) || (x > 70 && x != 100));
        assert_true(sv.v[i].v == (double)x);
    }
    /* tomb_filter by labels: the same through the facade compaction uses */
    sv.n = 0;
    for (int64_t x = 0; x < 12; x++) sv.v[sv.n++] = (sample_t){x, 1};
    tu_labels(&l, "__name__=c");
    tomb_filter(t, l.l, l.n, &sv);
    assert_int_equal(sv.n, 3); /* 0, 10, 11 */
    assert_int_equal(sv.v[1].t, 10);
    tomb_filter(NULL, l.l, l.n, &sv);
    assert_int_equal(sv.n, 3);
    /* a snapshot outlives changes */
    assert_int_equal(tomb_replace(t, NULL, 0), MS_OK);
    assert_false(tomb_any(t));
    assert_int_equal(tomb_snap_len(s), 3);
    assert_int_equal(find(s, "__name__=b")->iv[0].maxt, 5);
    tomb_snap_put(s);
    free(sv.v);
    tomb_close(t);
    tu_rm_rf(dir);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *b = malloc(1 << 20);
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void test_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ms_tombf_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tmp[128];
    snprintf(path, sizeof(path), "%s/tombstones", dir);
    snprintf(tmp, sizeof(tmp), "%s/tombstones.tmp", dir);
    tombstones_t *t;
    char err[512];
    assert_int_equal(tomb_open(dir, true, &t, err, sizeof(err)), MS_OK);
    add1(t, "__name__=up,instance=h:9100,job=node", -5000, 1700000000000, 12);
    add1(t, "__name__=up,instance=h:9100,job=node", 1800000000000, INT64_MAX, 0);
    add1(t, "__name__=x,v=\xc3\xa9t\xc3\xa9", INT64_MIN, -1, 0);
    tomb_close(t);
    spit(tmp, "junk", 4);
    assert_int_equal(tomb_open(dir, true, &t, err, sizeof(err)), MS_OK);
    assert_int_equal(access(tmp, F_OK), -1); /* leftover tmp removed */
    tomb_snap_t *s = tomb_snap_get(t);
    assert_int_equal(tomb_snap_len(s), 2);
    const tomb_ent_t *e = find(s, "__name__=up,instance=h:9100,job=node");
    assert_non_null(e);
    assert_int_equal(e->niv, 2);
    assert_int_equal(e->iv[0].mint, -5000);
    assert_int_equal(e->iv[0].maxt, 1700000000000);
    assert_int_equal(e->iv[0].wal_mark, 12);
    assert_true(e->iv[1].maxt == INT64_MAX);
    e = find(s, "__name__=x,v=\xc3\xa9t\xc3\xa9");
    assert_true(e->iv[0].mint == INT64_MIN);
    tomb_snap_put(s);
    tomb_close(t);

    /* every flipped byte and every truncation is refused with a message naming the file */
    size_t n;
    char *good = slurp(path, &n);
    assert_true(n > 20);
    for (size_t i = 0; i < n; i++) {
        good[i] ^= 0x20;
        spit(path, good, n);
        good[i] ^= 0x20;
        err[0] = 0;
        assert_int_equal(tomb_open(dir, true, &t, err, sizeof(err)), MS_ECORRUPT);
        assert_non_null(strstr(err, "tombstones is damaged"));
    }
    for (size_t k = 0; k < n; k++) {
        spit(path, good, k);
        assert_int_equal(tomb_open(dir, true, &t, err, sizeof(err)), MS_ECORRUPT);
    }
    /* garbage after a valid file */
    char *longer = malloc(n + 1);
    memcpy(longer, good, n);
    longer[n] = 0;
    spit(path, longer, n + 1);
    assert_int_equal(tomb_open(dir, true, &t, err, sizeof(err)), MS_ECORRUPT);
    free(longer);
    /* random garbage of many sizes: refused, never a crash */
    char junk[512];
    for (int i = 0; i < 300; i++) {
        size_t k = xr() % sizeof(junk);
        for (size_t j = 0; j < k; j++) junk[j] = (char)xr();
        if (k >= 4 && i % 2) memcpy(junk, "MSTB\1", 5);
        spit(path, junk, k);
        assert_int_equal(tomb_open(dir, true, &t, err, sizeof(err)), MS_ECORRUPT);
    }
    spit(path, good, n);
    assert_int_equal(tomb_open(dir, true, &t, err, sizeof(err)), MS_OK);
    assert_true(tomb_any(t));
    /* an emptied set is written as a file with no series and opens empty */
    assert_int_equal(tomb_replace(t, NULL, 0), MS_OK);
    tomb_close(t);
    assert_int_equal(tomb_open(dir, true, &t, err, sizeof(err)), MS_OK);
    assert_false(tomb_any(t));
    tomb_close(t);
    free(good);
    tu_rm_rf(dir);
}

/* ---- through storage.h ---- */

#define H (3600LL * 1000)
#define T0 (1700000000000LL / (2 * H) * (2 * H))
#define NSER 8

/* NSER series, one sample a minute over [T0, T0 + 24h). */
static void load(db_t *db)
{
    enum { BATCH = 120 };
    sample_t s[BATCH];
    for (int64_t t0 = T0; t0 < T0 + 24 * H; t0 += BATCH * 60000) {
        for (int k = 0; k < NSER; k++) {
            char spec[64];
            snprintf(spec, sizeof(spec), "__name__=m,job=j%d", k);
            for (size_t n = 0; n < BATCH; n++) s[n] = (sample_t){t0 + (int64_t)n * 60000, (double)(k * 100000 + (t0 - T0) / 60000 + (int64_t)n)};
            tu_db_put(db, spec, s, BATCH);
        }
    }
}

/* What a querier over everything returns: "labels n=count: t/v ..." lines. */
typedef struct view {
    char *labels[64];
    sample_vec_t s[64];
    size_t n;
} view_t;

static void view_free(view_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->labels[i]);
        sample_vec_free(&v->s[i]);
    }
    v->n = 0;
}

static void view_of(db_t *db, int64_t mint, int64_t maxt, view_t *v)
{
    v->n = 0;
    querier_t *q;
    assert_int_equal(db_querier(db, mint, maxt, &q), MS_OK);
    matcher_t *m = tu_matcher(MATCH_RE, "__name__", ".+");
    const matcher_t *ms[1] = {m};
    series_set_t *ss;
    assert_int_equal(querier_select(q, ms, 1, &ss), MS_OK);
    for (size_t i = 0; i < series_set_len(ss); i++) {
        labels_t l = series_set_labels(ss, i);
        buf_t b = BUF_INIT;
        for (size_t k = 0; k < l.n; k++) buf_printf(&b, "%s=%s,", l.v[k].name, l.v[k].value);
        assert_true(v->n < 64);
        v->labels[v->n] = buf_cstr(&b);
        memset(&v->s[v->n], 0, sizeof(sample_vec_t));
        assert_int_equal(series_set_samples(ss, i, INT64_MIN, INT64_MAX, &v->s[v->n]), MS_OK);
        assert_true(v->s[v->n].n > 0); /* a selected series has data in range */
        v->n++;
    }
    series_set_free(ss);
    matcher_free(m);
    querier_close(q);
}

typedef struct del {
    const char *job; /* "j1," */
    int64_t mint, maxt;
} del_t;

/* v as text, without the samples dels remove and the series left empty in [mint, maxt]. */
static char *fmt(const view_t *v, const del_t *dels, size_t nd, int64_t mint, int64_t maxt)
{
    buf_t b = BUF_INIT;
    buf_t line = BUF_INIT;
    for (size_t i = 0; i < v->n; i++) {
        buf_reset(&line);
        size_t kept = 0;
        for (size_t k = 0; k < v->s[i].n; k++) {
            int64_t t = v->s[i].v[k].t;
            bool gone = t < mint || t > maxt;
            for (size_t d = 0; d < nd && !gone; d++)
                gone = strstr(v->labels[i], dels[d].job) && t >= dels[d].mint && t <= dels[d].maxt;
            if (gone) continue;
            buf_printf(&line, " %lld/%.17g", (long long)t, v->s[i].v[k].v);
            kept++;
        }
        if (kept) buf_printf(&b, "%s n=%zu:%s\n", v->labels[i], kept, line.data ? buf_cstr(&line) : "");
    }
    buf_free(&line);
    return b.data ? buf_cstr(&b) : strdup("");
}

static char *now_fmt(db_t *db, int64_t mint, int64_t maxt)
{
    view_t v;
    view_of(db, mint, maxt, &v);
    char *s = fmt(&v, NULL, 0, INT64_MIN, INT64_MAX);
    view_free(&v);
    return s;
}

static int del(db_t *db, const char *job, int64_t mint, int64_t maxt, uint64_t *n)
{
    matcher_t *m = tu_matcher(MATCH_EQ, "job", job);
    const matcher_t *ms[1] = {m};
    int rc = db_delete_series(db, ms, 1, mint, maxt, n);
    matcher_free(m);
    return rc;
}

static void check(db_t *db, const view_t *before, const del_t *dels, size_t nd)
{
    /* the whole range, and windows inside, across and outside the deleted intervals */
    static const int64_t win[][2] = {{INT64_MIN, INT64_MAX}, {T0 + 4 * H, T0 + 5 * H}, {T0 + 2 * H + 1, T0 + 3 * H},
                                     {T0 + 22 * H, T0 + 22 * H + 30 * 60000}, {T0, T0 + 30 * H}, {T0 + 23 * H - 1, T0 + 23 * H + 1}};
    for (size_t w = 0; w < sizeof(win) / sizeof(win[0]); w++) {
        char *want = fmt(before, dels, nd, win[w][0], win[w][1]);
        char *got = now_fmt(db, win[w][0], win[w][1]);
        assert_string_equal(got, want);
        free(want);
        free(got);
    }
}

static uint64_t block_bytes(db_t *db)
{
    db_stats_t st;
    db_stats(db, &st);
    return st.block_bytes;
}

static void fx_init(tu_db_t *f, const char *base)
{
    snprintf(f->dir, sizeof(f->dir), "%.40s/data", base);
    tu_db_options(f);
    f->o.head_window_ms = 2 * H;
    f->o.wal_segment_bytes = 1 << 16;
    f->o.no_compaction = true; /* block counts and bytes below are the cuts' and cleanings' alone;
                                  a background merge could land between any two lines */
    f->db = NULL;
}

/* A db in base/data (base: a mkdtemp template, made here) holding load()'s data, cut into
 * blocks below 20h with the head above. */
static void fx_loaded(tu_db_t *f, char *base)
{
    assert_non_null(mkdtemp(base));
    fx_init(f, base);
    tu_db_open(f);
    load(f->db);
    assert_int_equal(db_cut_blocks(f->db), MS_OK);
}

static void test_db_delete(void **state)
{
    (void)state;
    char base[] = "/tmp/ms_tombdb_XXXXXX";
    tu_db_t f;
    fx_loaded(&f, base);
    /* a late sample replacing a value in an already-cut range: a newer, overlapping block */
    sample_t late = {T0 + 1 * H, 12345};
    tu_db_put(f.db, "__name__=m,job=j4", &late, 1);
    assert_int_equal(db_cut_blocks(f.db), MS_OK);
    db_stats_t st;
    db_stats(f.db, &st);
    assert_true(st.blocks >= 11);
    assert_true(st.head_mint >= T0 + 20 * H); /* the window: blocks below 20h */
    view_t before;
    view_of(f.db, INT64_MIN, INT64_MAX, &before);
    assert_int_equal(before.n, NSER);

    del_t dels[4] = {
        {"job=j1,", T0 + 3 * H, T0 + 23 * H},     /* blocks and head */
        {"job=j3,", INT64_MIN, INT64_MAX},        /* all of it */
        {"job=j4,", T0 + 2 * H, T0 + 3 * H - 1},  /* one block whose range a newer block overlaps */
        {"job=j6,", T0 + 22 * H + 600000, T0 + 22 * H + 600000}, /* one head sample */
    };
    uint64_t n;
    assert_int_equal(del(f.db, "j1", dels[0].mint, dels[0].maxt, &n), MS_OK);
    assert_int_equal(n, 1);
    check(f.db, &before, dels, 1);
    assert_int_equal(del(f.db, "j3", dels[1].mint, dels[1].maxt, &n), MS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(del(f.db, "j4", dels[2].mint, dels[2].maxt, &n), MS_OK);
    assert_int_equal(del(f.db, "j6", dels[3].mint, dels[3].maxt, &n), MS_OK);
    check(f.db, &before, dels, 4);
    /* deleting again, or where nothing is, touches nothing */
    assert_int_equal(del(f.db, "j3", INT64_MIN, INT64_MAX, &n), MS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(del(f.db, "nope", INT64_MIN, INT64_MAX, &n), MS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(del(f.db, "j2", T0 - 10 * H, T0 - 1, &n), MS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(del(f.db, "j2", 5, 4, &n), MS_EINVAL);
    uint64_t ns, ni;
    tomb_counts(f.db->tomb, &ns, &ni);
    assert_int_equal(ns, 4);

    /* reopen: replay of a WAL holding the deleted head samples brings nothing back */
    db_close(f.db);
    tu_db_open(&f);
    check(f.db, &before, dels, 4);

    /* clean: blocks shrink, results stay; intervals covering head data stay */
    uint64_t b0 = block_bytes(f.db);
    assert_int_equal(db_clean_tombstones(f.db), MS_OK);
    uint64_t b1 = block_bytes(f.db);
    print_message("clean_tombstones: block bytes %llu -> %llu\n", (unsigned long long)b0, (unsigned long long)b1);
    assert_true(b1 < b0);
    check(f.db, &before, dels, 4);
    tomb_counts(f.db->tomb, &ns, &ni);
    assert_int_equal(ns, 3); /* j1 [3h, 23h], j3 (all) and j6's sample still cover head data */
    assert_int_equal(ni, 3);
    db_close(f.db);
    tu_db_open(&f);
    check(f.db, &before, dels, 4);

    /* flush the head into blocks, clean again: nothing left to remember */
    assert_int_equal(db_flush_head(f.db), MS_OK);
    check(f.db, &before, dels, 4);
    assert_int_equal(db_clean_tombstones(f.db), MS_OK);
    check(f.db, &before, dels, 4);
    assert_false(tomb_any(f.db->tomb));
    db_close(f.db);
    tu_db_open(&f);
    check(f.db, &before, dels, 4);
    assert_false(tomb_any(f.db->tomb));

    /* an open-ended delete is clamped to the data: later samples stay visible */
    assert_int_equal(del(f.db, "j2", T0 + 20 * H, INT64_MAX, &n), MS_OK);
    assert_int_equal(n, 1);
    sample_t later = {T0 + 25 * H, 7};
    tu_db_put(f.db, "__name__=m,job=j2", &later, 1);
    char *got = now_fmt(f.db, T0 + 20 * H, INT64_MAX);
    char line[96];
    snprintf(line, sizeof(line), "__name__=m,job=j2, n=1: %lld/7\n", (long long)(T0 + 25 * H));
    assert_non_null(strstr(got, line));
    free(got);
    view_free(&before);
    db_close(f.db);
    tu_rm_rf(base);
}

/* ---- kill -9 during clean_tombstones ---- */

static void test_clean_kill_loop(void **state)
{
    (void)state;
    char base[] = "/tmp/ms_tombkill_XXXXXX";
    tu_db_t f;
    fx_loaded(&f, base);
    view_t before;
    view_of(f.db, INT64_MIN, INT64_MAX, &before);
    del_t dels[2] = {{"job=j1,", T0 + 1 * H, T0 + 23 * H}, {"job=j5,", T0, T0 + 9 * H}};
    uint64_t n;
    assert_int_equal(del(f.db, "j1", dels[0].mint, dels[0].maxt, &n), MS_OK);
    assert_int_equal(del(f.db, "j5", dels[1].mint, dels[1].maxt, &n), MS_OK);
    char *want = fmt(&before, dels, 2, INT64_MIN, INT64_MAX);
    db_close(f.db);

    tu_db_t c = f;
    snprintf(c.dir, sizeof(c.dir), "%.40s/work", base);
    c.o.data_dir = c.dir;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s %s", c.dir, f.dir, c.dir);
    int64_t full = tu_db_op_us(cmd, &c, db_clean_tombstones);
    int killed = 0;
    for (int iter = 0; iter < 25; iter++) {
        if (tu_db_op_kill(cmd, &c, db_clean_tombstones, (int64_t)(xr() % (uint64_t)(full + 1)), NULL)) killed++;
        /* whatever the kill left: exactly the data minus the deletions; a full clean after it
         * keeps that, and so does the next open */
        c.db = NULL;
        tu_db_open(&c);
        char *got = now_fmt(c.db, INT64_MIN, INT64_MAX);
        assert_string_equal(got, want);
        free(got);
        assert_int_equal(db_clean_tombstones(c.db), MS_OK);
        db_close(c.db);
        tu_db_open(&c);
        got = now_fmt(c.db, INT64_MIN, INT64_MAX);
        assert_string_equal(got, want);
        free(got);
        db_close(c.db);
    }
    print_message("clean kill loop: uninterrupted run %lld us, %d killed mid-way\n", (long long)full, killed);
    assert_true(killed >= 20);
    free(want);
    view_free(&before);
    tu_rm_rf(base);
}

/* ---- deletes and cleans racing with appends and queries ---- */

typedef struct race {
    db_t *db;
    atomic_bool stop;
    atomic_int reads, writes;
} race_t;

static void *race_writer(void *arg)
{
    race_t *r = arg;
    /* six more hours, then the same again (duplicates), so the head and blocks stay small */
    for (int64_t t = T0 + 24 * H; !atomic_load(&r->stop); t = t + 60000 < T0 + 30 * H ? t + 60000 : T0 + 24 * H) {
        for (int k = 0; k < NSER; k++) {
            char spec[64];
            snprintf(spec, sizeof(spec), "__name__=m,job=j%d", k);
            sample_t s = {t, (double)k};
            tu_db_put(r->db, spec, &s, 1);
        }
        atomic_fetch_add(&r->writes, 1);
        usleep(200);
    }
    return NULL;
}

static void *race_reader(void *arg)
{
    race_t *r = arg;
    while (!atomic_load(&r->stop)) {
        view_t v;
        view_of(r->db, T0, T0 + 30 * H, &v);
        /* j2's deleted hours never show, whatever runs at the same time */
        for (size_t i = 0; i < v.n; i++) {
            if (!strstr(v.labels[i], "job=j2,")) continue;
            for (size_t k = 0; k < v.s[i].n; k++) assert_false(v.s[i].v[k].t >= T0 + 5 * H && v.s[i].v[k].t <= T0 + 7 * H);
        }
        view_free(&v);
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static void test_races(void **state)
{
    (void)state;
    char base[] = "/tmp/ms_tombrace_XXXXXX";
    tu_db_t f;
    fx_loaded(&f, base);
    view_t before;
    view_of(f.db, T0, T0 + 24 * H - 1, &before);
    uint64_t n;
    assert_int_equal(del(f.db, "j2", T0 + 5 * H, T0 + 7 * H, &n), MS_OK);
    race_t r = {.db = f.db};
    pthread_t w, rd[2];
    pthread_create(&w, NULL, race_writer, &r);
    for (int i = 0; i < 2; i++) pthread_create(&rd[i], NULL, race_reader, &r);
    for (int round = 0; round < 12; round++) {
        char job[8];
        snprintf(job, sizeof(job), "j%d", 3 + round % 4);
        int64_t a = T0 + (int64_t)round * H, b = a + H / 2;
        assert_int_equal(del(f.db, job, a, b, &n), MS_OK);
        assert_int_equal(db_clean_tombstones(f.db), MS_OK);
        assert_int_equal(db_cut_blocks(f.db), MS_OK);
        assert_int_equal(db_compact(f.db, NULL), MS_OK);
    }
    atomic_store(&r.stop, true);
    pthread_join(w, NULL);
    for (int i = 0; i < 2; i++) pthread_join(rd[i], NULL);
    print_message("races: %d reads and %d write rounds during 12 delete/clean/cut/compact rounds\n",
                  atomic_load(&r.reads), atomic_load(&r.writes));
    del_t dels[13] = {{"job=j2,", T0 + 5 * H, T0 + 7 * H}};
    for (int round = 0; round < 12; round++) {
        static const char *jobs[4] = {"job=j3,", "job=j4,", "job=j5,", "job=j6,"};
        int64_t a = T0 + (int64_t)round * H;
        dels[1 + round] = (del_t){jobs[round % 4], a, a + H / 2};
    }
    char *want = fmt(&before, dels, 13, T0, T0 + 24 * H - 1);
    char *got = now_fmt(f.db, T0, T0 + 24 * H - 1);
    assert_string_equal(got, want);
    free(got);
    db_close(f.db);
    tu_db_open(&f);
    got = now_fmt(f.db, T0, T0 + 24 * H - 1);
    assert_string_equal(got, want);
    free(got);
    free(want);
    view_free(&before);
    db_close(f.db);
    tu_rm_rf(base);
}

int main(void)
{
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intervals),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_db_delete),
        cmocka_unit_test(test_races),
        cmocka_unit_test(test_clean_kill_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
