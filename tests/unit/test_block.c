/* test_block.c tests on-disk blocks: the block chunk encoding (round trips of decimal, integer,
 * random and special values, irregular timestamps, range filtering, corruption detection), a
 * block written and read back through the reader interface with every matcher kind, damaged
 * index files refused, and through storage.h: query results identical before a cut, after it,
 * after reopen, and after out-of-order samples land in an already-cut range and are cut again;
 * the WAL shrinks after a cut and replay skips what blocks hold; retention by time and by size
 * deletes exactly the oldest blocks;
 * 60 SIGKILLs of a child process at random moments of open + replay + cut, each followed by a
 * reopen that must show exactly the data loaded before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "model/matcher.h"
#include "storage/bchunk.h"
#include "storage/block.h"
#include "storage/storage.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/status.h"
#include "testutil.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t xr(void) { return tu_xorshift(&rng); }

/* ---- bchunk ---- */

static void roundtrip(const sample_t *s, size_t n, int zlevel)
{
    buf_t b = BUF_INIT;
    bchunk_encode(s, n, zlevel, &b);
    sample_vec_t out = {0};
    assert_int_equal(bchunk_decode(NULL, b.data, b.len, INT64_MIN, INT64_MAX, &out), MS_OK);
    assert_int_equal(out.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out.v[i].t, s[i].t);
        assert_int_equal(tu_bits(out.v[i].v), tu_bits(s[i].v));
    }
    /* a sub-range */
    if (n > 4) {
        out.n = 0;
        assert_int_equal(bchunk_decode(NULL, b.data, b.len, s[1].t, s[n - 2].t, &out), MS_OK);
        assert_int_equal(out.n, n - 2);
        assert_int_equal(out.v[0].t, s[1].t);
    }
    /* every single-byte flip is detected or decodes to something well-formed (never a crash);
     * flips inside the stored bytes are caught by the CRC */
    for (size_t i = 0; i < b.len; i++) {
        b.data[i] ^= 0x41;
        out.n = 0;
        int rc = bchunk_decode(NULL, b.data, b.len, INT64_MIN, INT64_MAX, &out);
        if (i >= 3 && i + 4 < b.len) assert_int_equal(rc, MS_ECORRUPT);
        b.data[i] ^= 0x41;
    }
    /* truncation */
    for (size_t k = 0; k < b.len; k += 1 + b.len / 50) {
        out.n = 0;
        assert_int_equal(bchunk_decode(NULL, b.data, k, INT64_MIN, INT64_MAX, &out), MS_ECORRUPT);
    }
    sample_vec_free(&out);
    buf_free(&b);
}

static void test_bchunk_roundtrip(void **state)
{
    (void)state;
    enum { N = 480 };
    sample_t s[N];
    int64_t t0 = 1700000000000;
    /* counter (integers), regular 15 s */
    double c = 0;
    for (size_t i = 0; i < N; i++) {
        c += (double)(xr() % 100);
        s[i] = (sample_t){t0 + 15000 * (int64_t)i, c};
    }
    roundtrip(s, N, 0);
    roundtrip(s, N, 3);
    /* decimals with jitter in timestamps */
    for (size_t i = 0; i < N; i++) s[i] = (sample_t){t0 + 15000 * (int64_t)i + (int64_t)(xr() % 7), (double)(int64_t)(xr() % 100000) / 100.0};
    roundtrip(s, N, 3);
    /* random doubles, NaN, staleness marker, -0, infinities, huge */
    for (size_t i = 0; i < N; i++) s[i] = (sample_t){t0 + 1000 * (int64_t)i, tu_from_bits(xr())};
    s[3].v = NAN;
    s[4].v = tu_from_bits(0x7ff0000000000002ull);
    s[5].v = -0.0;
    s[6].v = INFINITY;
    s[7].v = -1e300;
    roundtrip(s, N, 3);
    /* -0.0 alone forces XOR; a single sample; negative timestamps */
    sample_t one[1] = {{-5, -0.0}};
    roundtrip(one, 1, 3);
    sample_t neg[5] = {{-100000, 1.5}, {-99000, -2.25}, {-1, 3}, {0, 4}, {INT64_MAX / 2, 1e-9}};
    roundtrip(neg, 5, 0);
}

static void test_bchunk_density(void **state)
{
    (void)state;
    enum { N = 480 };
    sample_t s[N];
    for (size_t i = 0; i < N; i++) s[i] = (sample_t){1700000000000 + 15000 * (int64_t)i, (double)(i * 7)};
    buf_t b = BUF_INIT;
    bchunk_encode(s, N, 3, &b);
    /* a regular-interval, constant-rate counter costs well under a byte per sample */
    assert_true(b.len < N / 4);
    buf_free(&b);
}

/* ---- block write / read ---- */

/* Selects with one matcher over a view; returns the matched series' "job" values joined. */
static void vsel(block_view_t *v, matcher_t *m, int64_t mint, int64_t maxt, char *out, size_t len)
{
    rs_vec_t rs = {0};
    const matcher_t *ms[1] = {m};
    block_reader_ops.select(v, ms, 1, mint, maxt, &rs);
    out[0] = 0;
    for (size_t i = 0; i < rs.n; i++) {
        for (size_t k = 0; k < rs.v[i].labels.n; k++)
            if (!strcmp(rs.v[i].labels.v[k].name, "job")) {
                strncat(out, rs.v[i].labels.v[k].value, len - strlen(out) - 2);
                strcat(out, " ");
            }
    }
    free(rs.v);
    matcher_free(m);
}

static void test_block_write_read(void **state)
{
    (void)state;
    char dir[] = "/tmp/ms_block_XXXXXX";
    assert_non_null(mkdtemp(dir));
    block_writer_t *w;
    assert_int_equal(block_writer_open(dir, 7, 3, true, &w), MS_OK);
    const char *specs[] = {"__name__=up,job=a", "__name__=up,env=prod,job=b", "__name__=x,job=c"};
    sample_t s[100];
    for (int k = 0; k < 3; k++) {
        tu_lset_t l;
        tu_labels(&l, specs[k]);
        for (int i = 0; i < 100; i++) s[i] = (sample_t){1000 * i + k * 100000, i * 0.5 + k};
        assert_int_equal(block_writer_add(w, l.l, l.n, s, 100), MS_OK);
    }
    block_meta_t m;
    assert_int_equal(block_writer_finish(w, &m), MS_OK);
    assert_int_equal(m.nseries, 3);
    assert_int_equal(m.nsamples, 300);
    assert_int_equal(m.mint, 0);
    assert_int_equal(m.maxt, 299000);
    char bdir[64], err[512];
    snprintf(bdir, sizeof(bdir), "%s/00000007", dir);
    block_t *b;
    assert_int_equal(block_open(bdir, 7, &b, err, sizeof(err)), MS_OK);
    assert_int_equal(block_meta(b)->nsamples, 300);
    block_view_t *v = block_view_new(b);
    char got[256];
    vsel(v, tu_matcher(MATCH_EQ, "__name__", "up"), INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, "a b ");
    vsel(v, tu_matcher(MATCH_NEQ, "env", "prod"), INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, "a c ");
    vsel(v, tu_matcher(MATCH_EQ, "env", ""), INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, "a c ");
    vsel(v, tu_matcher(MATCH_RE, "job", "a|c"), INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, "a c ");
    vsel(v, tu_matcher(MATCH_NRE, "job", "[ab]"), INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, "c ");
    vsel(v, tu_matcher(MATCH_EQ, "nolabel", "x"), INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, "");
    vsel(v, tu_matcher(MATCH_RE, "job", ".*"), 150000, 160000, got, sizeof(got)); /* only b has data there */
    assert_string_equal(got, "b ");
    vsel(v, tu_matcher(MATCH_RE, "job", ".*"), 99500, 99900, got, sizeof(got)); /* a gap inside a's range */
    assert_string_equal(got, "");
    /* samples of b in a sub-range */
    rs_vec_t rs = {0};
    matcher_t *jm = tu_matcher(MATCH_EQ, "job", "b");
    const matcher_t *ms[1] = {jm};
    block_reader_ops.select(v, ms, 1, INT64_MIN, INT64_MAX, &rs);
    assert_int_equal(rs.n, 1);
    sample_vec_t sv = {0};
    block_reader_ops.samples(v, rs.v[0].h, 110000, 112000, &sv);
    assert_int_equal(sv.n, 3);
    assert_int_equal(sv.v[0].t, 110000);
    assert_true(sv.v[0].v == 10 * 0.5 + 1);
    sample_vec_free(&sv);
    free(rs.v);
    matcher_free(jm);
    /* label names / values */
    str_vec_t names = {0};
    block_reader_ops.label_names(v, INT64_MIN, INT64_MAX, &names);
    assert_int_equal(names.n, 3);
    assert_string_equal(names.s[0], "__name__");
    assert_string_equal(names.s[1], "env");
    assert_string_equal(names.s[2], "job");
    names.n = 0;
    block_reader_ops.label_names(v, 250000, 260000, &names); /* only c: no env */
    assert_int_equal(names.n, 2);
    names.n = 0;
    block_reader_ops.label_values(v, "job", 3, 0, 100000, &names);
    assert_int_equal(names.n, 2);
    assert_string_equal(names.s[1], "b");
    free(names.s);
    free(names.len);
    assert_int_equal(block_view_errors(v), 0);
    block_view_free(v);
    block_close(b);

    /* a flipped byte anywhere in the index is refused at open */
    char ipath[96];
    snprintf(ipath, sizeof(ipath), "%s/index", bdir);
    int fd = open(ipath, O_RDWR);
    assert_true(fd >= 0);
    struct stat sb;
    fstat(fd, &sb);
    for (off_t off = 0; off < sb.st_size; off += 1 + sb.st_size / 40) {
        uint8_t c, d;
        assert_int_equal(pread(fd, &c, 1, off), 1);
        d = c ^ 0x10;
        assert_int_equal(pwrite(fd, &d, 1, off), 1);
        assert_int_equal(block_open(bdir, 7, &b, err, sizeof(err)), MS_ECORRUPT);
        assert_int_equal(pwrite(fd, &c, 1, off), 1);
    }
    close(fd);
    /* a damaged chunk reads as empty and is counted, never crashes */
    char cpath[96];
    snprintf(cpath, sizeof(cpath), "%s/chunks", bdir);
    fd = open(cpath, O_RDWR);
    uint8_t junk = 0xff;
    assert_int_equal(pwrite(fd, &junk, 1, 20), 1);
    close(fd);
    assert_int_equal(block_open(bdir, 7, &b, err, sizeof(err)), MS_OK);
    v = block_view_new(b);
    vsel(v, tu_matcher(MATCH_RE, "job", ".*"), 50, 60, got, sizeof(got)); /* needs decoding the chunk of a */
    assert_true(block_view_errors(v) > 0);
    block_view_free(v);
    block_close(b);
    /* an empty writer leaves nothing */
    assert_int_equal(block_writer_open(dir, 8, 3, false, &w), MS_OK);
    assert_int_equal(block_writer_finish(w, NULL), MS_ENOENT);
    snprintf(bdir, sizeof(bdir), "%s/00000008.tmp", dir);
    assert_int_equal(access(bdir, F_OK), -1);
    tu_rm_rf(dir);
}

/* ---- through storage.h ---- */

/* Everything visible in [mint, maxt]: every series' labels and sample bits, label names and
 * the values of "job", as one string. */
static char *dump(db_t *db, int64_t mint, int64_t maxt)
{
    buf_t b = BUF_INIT;
    querier_t *q;
    assert_int_equal(db_querier(db, mint, maxt, &q), MS_OK);
    matcher_t *m = tu_matcher(MATCH_RE, "__name__", ".+");
    const matcher_t *ms[1] = {m};
    series_set_t *ss;
    assert_int_equal(querier_select(q, ms, 1, &ss), MS_OK);
    for (size_t i = 0; i < series_set_len(ss); i++) {
        labels_t l = series_set_labels(ss, i);
        for (size_t k = 0; k < l.n; k++) buf_printf(&b, "%s=%s,", l.v[k].name, l.v[k].value);
        sample_vec_t sv = {0};
        assert_int_equal(series_set_samples(ss, i, INT64_MIN, INT64_MAX, &sv), MS_OK);
        buf_printf(&b, " n=%zu:", sv.n);
        for (size_t k = 0; k < sv.n; k++) buf_printf(&b, " %lld/%llx", (long long)sv.v[k].t, (unsigned long long)tu_bits(sv.v[k].v));
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

#define H (3600LL * 1000)
#define T0 (1700000000000LL / (2 * H) * (2 * H))
#define DAYS 3

static void load_days(db_t *db, int nseries, int64_t step, int days)
{
    enum { BATCH = 60 };
    sample_t s[BATCH];
    double c[64] = {0};
    /* time-major, as scrapes arrive: WAL segments then age together */
    for (int64_t t0 = T0; t0 < T0 + days * 24 * H; t0 += BATCH * step) {
        for (int k = 0; k < nseries; k++) {
            char spec[128];
            snprintf(spec, sizeof(spec), "__name__=m%d,job=j%d,kind=%s", k % 3, k, k % 2 ? "dec" : "rnd");
            size_t n = 0;
            for (int64_t t = t0; n < BATCH && t < T0 + days * 24 * H; n++, t += step) {
                c[k] += (double)(xr() % 1000) / 10.0;
                s[n] = (sample_t){t + (int64_t)(xr() % 3), k % 2 ? c[k] : tu_from_bits(xr() >> 2)};
            }
            tu_db_put(db, spec, s, n);
        }
    }
}

static void load(db_t *db, int nseries, int64_t step) { load_days(db, nseries, step, DAYS); }

static void check_ranges(db_t *db, char **want, const int64_t (*r)[2], size_t nr)
{
    for (size_t i = 0; i < nr; i++) {
        char *got = dump(db, r[i][0], r[i][1]);
        assert_string_equal(got, want[i]);
        free(got);
    }
}

typedef struct par {
    series_set_t *ss;
    int64_t mint, maxt;
    size_t total;
} par_t;

static void *par_read(void *arg)
{
    par_t *p = arg;
    sample_vec_t sv = {0};
    for (int rep = 0; rep < 4; rep++)
        for (size_t i = 0; i < series_set_len(p->ss); i++) {
            sv.n = 0;
            series_set_samples(p->ss, i, p->mint, p->maxt, &sv);
            p->total += sv.n;
        }
    sample_vec_free(&sv);
    return NULL;
}

/* The PromQL engine reads the series of one set from parallel threads: block readers must
 * give every thread the same answer as a lone reader. */
static void check_parallel_reads(db_t *db, int64_t mint, int64_t maxt)
{
    querier_t *q;
    assert_int_equal(db_querier(db, mint, maxt, &q), MS_OK);
    matcher_t *m = tu_matcher(MATCH_RE, "__name__", ".+");
    const matcher_t *ms[1] = {m};
    series_set_t *ss;
    assert_int_equal(querier_select(q, ms, 1, &ss), MS_OK);
    par_t lone = {ss, mint, maxt, 0};
    par_read(&lone);
    assert_true(lone.total > 0);
    pthread_t th[4];
    par_t p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = lone;
        p[i].total = 0;
        assert_int_equal(pthread_create(&th[i], NULL, par_read, &p[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].total, lone.total);
    }
    series_set_free(ss);
    matcher_free(m);
    querier_close(q);
}

static void test_db_cut_equivalence(void **state)
{
    (void)state;
    tu_db_t f;
    tu_db_init(&f, "/tmp/ms_blockdb_XXXXXX");
    f.o.head_window_ms = 0; /* no background cuts while loading: the first dump is head-only */
    f.o.wal_segment_bytes = 1 << 16;
    f.o.no_compaction = true; /* block counts below are the cuts' (test_compact covers merges) */
    tu_db_open(&f);
    load(f.db, 12, 60000);
    const int64_t r[][2] = {{INT64_MIN, INT64_MAX}, {T0 + 5 * H + 1, T0 + 7 * H - 1},
                            {T0 + 2 * H - 5, T0 + 2 * H + 5}, {T0 + 30 * H, T0 + 70 * H}, {T0 - 10 * H, T0 - 1}};
    enum { NR = sizeof(r) / sizeof(r[0]) };
    char *want[NR];
    for (size_t i = 0; i < NR; i++) want[i] = dump(f.db, r[i][0], r[i][1]);
    db_stats_t st;
    db_stats(f.db, &st);
    uint64_t wal_before = st.wal_bytes, head_before = st.head_bytes;
    assert_int_equal(st.blocks, 0);
    db_close(f.db);

    f.o.head_window_ms = 2 * H;
    tu_db_open(&f);
    check_ranges(f.db, want, r, NR);
    assert_int_equal(db_cut_blocks(f.db), MS_OK);
    db_stats(f.db, &st);
    fprintf(stderr, "blocks %llu samples %llu series %llu head %llu/%llu wal %llu/%llu\n", (unsigned long long)st.blocks, (unsigned long long)st.block_samples, (unsigned long long)st.block_series, (unsigned long long)st.head_bytes, (unsigned long long)head_before, (unsigned long long)st.wal_bytes, (unsigned long long)wal_before);
    assert_true(st.blocks >= DAYS * 12 - 2);
    assert_int_equal(st.block_samples, 12 * (DAYS * 24 - 4) * 60); /* boundary: floor((newest - 2h) / 2h) */
    assert_true(st.head_bytes < head_before / 4);
    assert_true(st.wal_bytes < wal_before / 4);
    assert_int_equal(st.cut_failures, 0);
    check_ranges(f.db, want, r, NR);
    check_parallel_reads(f.db, INT64_MIN, INT64_MAX);
    check_parallel_reads(f.db, T0 + 5 * H + 1, T0 + 9 * H - 1);
    /* a second cut finds nothing more */
    uint64_t blocks = st.blocks;
    assert_int_equal(db_cut_blocks(f.db), MS_OK);
    db_stats(f.db, &st);
    assert_int_equal(st.blocks, blocks);

    /* reopen: blocks loaded, the WAL replays only what the head still needs */
    db_close(f.db);
    tu_db_open(&f);
    db_stats(f.db, &st);
    assert_int_equal(st.blocks, blocks);
    check_ranges(f.db, want, r, NR);
    for (size_t i = 0; i < NR; i++) free(want[i]);

    /* out-of-order samples in an already-cut range: a new sample and a replaced value */
    char *before = dump(f.db, T0 + 3 * H, T0 + 3 * H + 10 * 60000);
    sample_t ooo[2] = {{T0 + 3 * H + 30000, 42.5}, {T0 + 3 * H + 5 * 60000 + 1, -7}};
    {
        /* one commit: the background cut may run at any moment, and must see both or neither */
        tu_lset_t l1, l2;
        tu_labels(&l1, "__name__=m1,job=j1,kind=dec");
        tu_labels(&l2, "__name__=m1,job=new,kind=dec");
        appender_t *a;
        assert_int_equal(db_appender(f.db, &a), MS_OK);
        assert_int_equal(appender_add(a, l1.l, l1.n, labels_hash(l1.l, l1.n), ooo, 2), MS_OK);
        assert_int_equal(appender_add(a, l2.l, l2.n, labels_hash(l2.l, l2.n), ooo, 1), MS_OK);
        assert_int_equal(appender_commit(a, NULL), MS_OK);
    }
    char *after = dump(f.db, T0 + 3 * H, T0 + 3 * H + 10 * 60000);
    assert_string_not_equal(before, after);
    assert_non_null(strstr(after, "job=new"));
    assert_int_equal(db_cut_blocks(f.db), MS_OK);
    db_stats(f.db, &st);
    assert_int_equal(st.blocks, blocks + 1);
    char *after_cut = dump(f.db, T0 + 3 * H, T0 + 3 * H + 10 * 60000);
    assert_string_equal(after, after_cut);
    db_close(f.db);
    tu_db_open(&f);
    char *after_reopen = dump(f.db, T0 + 3 * H, T0 + 3 * H + 10 * 60000);
    assert_string_equal(after, after_reopen);
    free(before);
    free(after);
    free(after_cut);
    free(after_reopen);

    /* retention by time deletes whole expired blocks only */
    db_stats(f.db, &st);
    blocks = st.blocks;
    int64_t now = T0 + DAYS * 24 * H;
    db_close(f.db);
    f.o.retention_ms = DAYS * 24 * H - 10 * H; /* the first ~10 h expire */
    tu_db_open(&f);
    assert_int_equal(db_apply_retention(f.db, now), MS_OK);
    db_stats(f.db, &st);
    assert_true(st.blocks < blocks);
    assert_true(st.blocks_mint >= now - f.o.retention_ms - 2 * H);
    char *old = dump(f.db, T0, T0 + 8 * H - 1);
    assert_null(strstr(old, "n="));
    free(old);

    /* retention by size: the oldest blocks go until the rest fits; the newest data stays */
    db_stats(f.db, &st);
    int64_t mint_before = st.blocks_mint, maxt_before = st.blocks_maxt;
    char *newest = dump(f.db, maxt_before - H, INT64_MAX);
    db_close(f.db);
    f.o.retention_bytes = (int64_t)(st.block_bytes / 2);
    tu_db_open(&f);
    assert_int_equal(db_apply_retention(f.db, now), MS_OK);
    db_stats(f.db, &st);
    assert_true(st.block_bytes <= (uint64_t)f.o.retention_bytes);
    assert_true(st.block_bytes > (uint64_t)f.o.retention_bytes / 2);
    assert_true(st.blocks_mint > mint_before);
    assert_int_equal(st.blocks_maxt, maxt_before);
    char *newest_after = dump(f.db, maxt_before - H, INT64_MAX);
    assert_string_equal(newest, newest_after);
    free(newest);
    free(newest_after);
    db_close(f.db);
    tu_rm_rf(f.dir);
}

static void test_db_cut_kill_loop(void **state)
{
    (void)state;
    char base[] = "/tmp/ms_blockkill_XXXXXX";
    assert_non_null(mkdtemp(base));
    tu_db_t f;
    snprintf(f.dir, sizeof(f.dir), "%.40s/data", base);
    tu_db_options(&f);
    f.o.head_window_ms = 0;
    f.o.wal_segment_bytes = 1 << 16;
    tu_db_open(&f);
    load_days(f.db, 6, 120000, 1);
    char *want = dump(f.db, INT64_MIN, INT64_MAX);
    db_close(f.db);
    char cmd[512], work[64];
    snprintf(work, sizeof(work), "%.40s/work", base);
    f.o.head_window_ms = 2 * H;
    /* how long an uninterrupted open + cut + close takes */
    snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s %s", work, f.dir, work);
    tu_db_t c = f;
    memcpy(c.dir, work, sizeof(c.dir));
    c.o.data_dir = c.dir;
    int64_t full = tu_db_op_us(cmd, &c, db_cut_blocks);
    int killed = 0, finished = 0;
    for (int iter = 0; iter < 60; iter++) {
        /* a random moment within a normal run (halved while the child wins the race) */
        if (tu_db_op_kill(cmd, &c, db_cut_blocks, (int64_t)(xr() % (uint64_t)(full + 1)), &finished)) killed++;
        /* reopen whatever the killed child left: all data, once; then a cut must keep it so */
        c.db = NULL;
        tu_db_open(&c);
        char *got = dump(c.db, INT64_MIN, INT64_MAX);
        assert_string_equal(got, want);
        free(got);
        assert_int_equal(db_cut_blocks(c.db), MS_OK);
        got = dump(c.db, INT64_MIN, INT64_MAX);
        assert_string_equal(got, want);
        free(got);
        db_close(c.db);
    }
    print_message("cut kill loop: uninterrupted run %lld us, %d killed mid-way, %d retries after the child won\n",
                  (long long)full, killed, finished);
    assert_true(killed >= 55);
    free(want);
    tu_rm_rf(base);
}

/* A WAL deleted by hand after a cut must not restart its numbering below the cut's mark, or
 * samples older than the boundary written afterwards would be skipped at the next replay. */
static void test_db_cut_wal_deleted(void **state)
{
    (void)state;
    tu_db_t f;
    tu_db_init(&f, "/tmp/ms_blockwal_XXXXXX");
    f.o.head_window_ms = 2 * H;
    f.o.wal_segment_bytes = 1 << 14;
    tu_db_open(&f);
    load_days(f.db, 4, 300000, 1);
    assert_int_equal(db_cut_blocks(f.db), MS_OK);
    db_close(f.db);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s/wal", f.dir);
    assert_int_equal(system(cmd), 0);
    tu_db_open(&f);
    sample_t s[1] = {{T0 + 60000 + 7, 3.25}}; /* far below the cut boundary */
    tu_db_put(f.db, "__name__=late,job=x,kind=dec", s, 1);
    db_close(f.db);
    tu_db_open(&f);
    char *got = dump(f.db, T0, T0 + H);
    assert_non_null(strstr(got, "__name__=late"));
    free(got);
    db_close(f.db);
    tu_rm_rf(f.dir);
}

typedef struct race {
    db_t *db, *ref;
    atomic_int stop;
    uint64_t seed;
} race_t;

static uint64_t rr(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Writes the same batches to db (being cut concurrently) and ref (head only): in-order samples
 * moving time forward, plus late ones (new and replacing) anywhere in already-cut ranges. */
static void *race_writer(void *arg)
{
    race_t *r = arg;
    int64_t t = T0 + 30 * H;
    for (int i = 0; i < 3000; i++) {
        sample_t s[3];
        size_t n = 0;
        s[n++] = (sample_t){t, (double)i};
        int64_t late = T0 + (int64_t)(rr(&r->seed) % (uint64_t)(28 * H));
        if (i % 3 == 0) late = late / 60000 * 60000; /* often an existing timestamp: a replace */
        s[n++] = (sample_t){late, (double)(rr(&r->seed) % 1000) / 4};
        char spec[64];
        snprintf(spec, sizeof(spec), "__name__=race,job=r%d,kind=dec", (int)(rr(&r->seed) % 5));
        tu_db_put(r->db, spec, s, n);
        tu_db_put(r->ref, spec, s, n);
        t += 60000;
    }
    atomic_store(&r->stop, 1);
    return NULL;
}

/* Block cuts racing with in-order and late appends end with exactly the data of a db that
 * never cut (newest write wins on equal timestamps in both). */
static void test_db_cut_races_appends(void **state)
{
    (void)state;
    tu_db_t f, g;
    strcpy(f.dir, "/tmp/ms_blockrace_XXXXXX");
    strcpy(g.dir, "/tmp/ms_blockref_XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    assert_non_null(mkdtemp(g.dir));
    tu_db_options(&f);
    f.o.head_window_ms = 2 * H;
    f.o.wal_segment_bytes = 1 << 14;
    g.o = f.o;
    g.o.data_dir = g.dir;
    g.o.head_window_ms = 0;
    tu_db_open(&f);
    tu_db_open(&g);
    rng = 88172645463325252ull; /* the same samples in both: load() draws from this generator */
    load_days(f.db, 5, 60000, 1);
    db_close(f.db);
    rng = 88172645463325252ull;
    load_days(g.db, 5, 60000, 1);
    tu_db_open(&f);
    race_t r = {f.db, g.db, 0, 12345};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, race_writer, &r), 0);
    int cuts = 0;
    while (!atomic_load(&r.stop)) {
        assert_int_equal(db_cut_blocks(f.db), MS_OK);
        cuts++;
    }
    pthread_join(th, NULL);
    assert_int_equal(db_cut_blocks(f.db), MS_OK);
    char *want = dump(g.db, INT64_MIN, INT64_MAX);
    char *got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, want);
    free(got);
    db_close(f.db);
    tu_db_open(&f);
    got = dump(f.db, INT64_MIN, INT64_MAX);
    assert_string_equal(got, want);
    free(got);
    free(want);
    db_stats_t st;
    db_stats(f.db, &st);
    print_message("cut races: %d cuts during 3000 commits, %llu blocks\n", cuts, (unsigned long long)st.blocks);
    db_close(f.db);
    db_close(g.db);
    tu_rm_rf(f.dir);
    tu_rm_rf(g.dir);
}

static void test_db_cut_leftover_tmp(void **state)
{
    (void)state;
    tu_db_t f;
    tu_tmpdir(f.dir, "/tmp/ms_blocktmp_XXXXXX");
    char p[128];
    snprintf(p, sizeof(p), "%s/blocks", f.dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/blocks/00000003.tmp", f.dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/blocks/00000003.tmp/chunks", f.dir);
    FILE *fp = fopen(p, "w");
    fputs("partial", fp);
    fclose(fp);
    tu_db_options(&f);
    tu_db_open(&f);
    snprintf(p, sizeof(p), "%s/blocks/00000003.tmp", f.dir);
    assert_int_equal(access(p, F_OK), -1);
    db_close(f.db);
    tu_rm_rf(f.dir);
}

int main(void)
{
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bchunk_roundtrip),
        cmocka_unit_test(test_bchunk_density),
        cmocka_unit_test(test_block_write_read),
        cmocka_unit_test(test_db_cut_equivalence),
        cmocka_unit_test(test_db_cut_leftover_tmp),
        cmocka_unit_test(test_db_cut_wal_deleted),
        cmocka_unit_test(test_db_cut_races_appends),
        cmocka_unit_test(test_db_cut_kill_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
