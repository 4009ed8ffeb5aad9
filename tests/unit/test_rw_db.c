/* test_rw_db.c tests rw_handle end to end against a real db in a temporary directory: accepted
 * requests are visible through a querier, rejected ones store nothing, dropped samples give a
 * partial outcome naming the counts, metadata reaches the db, and a WAL failure (file size limit)
 * gives RW_UNAVAILABLE with nothing stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ingest/remote_write.h"
#include "ingest/rw_encode.h"
#include "util/buf.h"
#include "util/clock.h"

typedef struct fixture {
    char dir[64];
    db_t *db;
    rw_limits_t lim;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_rw_db.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    db_options_t o;
    db_options_default(&o);
    o.data_dir = f->dir;
    o.retention_ms = 3600 * 1000;     /* 1h: older samples are dropped */
    o.max_future_ms = 10 * 60 * 1000; /* 10m */
    o.wal_fsync = WAL_FSYNC_NEVER;
    char err[256];
    if (db_open(&o, &f->db, err, sizeof err) != 0) {
        fprintf(stderr, "db_open: %s\n", err);
        return -1;
    }
    rw_limits_default(&f->lim);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    db_close(f->db);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

#define L(n, v) {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)}

static void push(fixture_t *f, const buf_t *pb, const char *ce, rw_result_t *res)
{
    buf_t z = BUF_INIT;
    assert_int_equal(rw_snappy_compress(pb->data, pb->len, &z), 0);
    rw_handle(f->db, &f->lim, ce, z.data, z.len, res);
    buf_free(&z);
}

/* Number of series named `name`, and their samples concatenated into out (if non-NULL). */
static size_t select_name(fixture_t *f, const char *name, sample_vec_t *out, labels_t *first_labels, querier_t **keep)
{
    querier_t *q = NULL;
    assert_int_equal(db_querier(f->db, INT64_MIN / 2, INT64_MAX / 2, &q), 0);
    matcher_t *m = NULL;
    char err[128];
    assert_int_equal(matcher_new(MATCH_EQ, "__name__", 8, name, strlen(name), &m, err, sizeof err), 0);
    const matcher_t *ms[] = {m};
    series_set_t *ss = NULL;
    assert_int_equal(querier_select(q, ms, 1, &ss), 0);
    size_t n = series_set_len(ss);
    for (size_t i = 0; i < n && out; i++)
        assert_int_equal(series_set_samples(ss, i, INT64_MIN / 2, INT64_MAX / 2, out), 0);
    if (first_labels && n) {
        *first_labels = series_set_labels(ss, 0);
    }
    series_set_free(ss);
    matcher_free(m);
    if (keep) *keep = q;
    else querier_close(q);
    return n;
}

static void test_accepted_is_queryable(void **state)
{
    fixture_t *f = *state;
    int64_t now = clock_now_ms();
    label_t ls[] = {L("job", "api"), L("__name__", "rw_up"), L("empty", ""), L("instance", "a:1")};
    sample_t ss[] = {{now - 2000, 1}, {now - 1000, 2}, {now, 3}};
    label_t ls2[] = {L("__name__", "rw_other")};
    buf_t pb = BUF_INIT;
    rw_encode_series(&pb, ls, 4, ss, 3);
    rw_encode_series(&pb, ls2, 1, NULL, 0); /* a series with no samples is fine */
    rw_result_t res;
    push(f, &pb, "snappy", &res);
    assert_int_equal(res.outcome, RW_OK);
    assert_int_equal(res.series, 2);
    assert_int_equal(res.samples, 3);
    assert_int_equal(res.append.samples_accepted, 3);

    sample_vec_t sv = {0};
    labels_t lab;
    querier_t *q;
    assert_int_equal(select_name(f, "rw_up", &sv, &lab, &q), 1);
    assert_int_equal(lab.n, 3); /* empty-valued label dropped, rest sorted */
    assert_memory_equal(lab.v[0].name, "__name__", 8);
    assert_memory_equal(lab.v[1].name, "instance", 8);
    assert_memory_equal(lab.v[2].name, "job", 3);
    querier_close(q);
    assert_int_equal(sv.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(sv.v[i].t == ss[i].t);
        assert_true(sv.v[i].v == ss[i].v);
    }
    sample_vec_free(&sv);
    buf_free(&pb);
}

static void test_rejected_stores_nothing(void **state)
{
    fixture_t *f = *state;
    int64_t now = clock_now_ms();
    label_t good[] = {L("__name__", "must_not_exist"), L("job", "bad")};
    label_t dup[] = {L("__name__", "dupseries"), L("a", "1"), L("a", "2")};
    sample_t s[] = {{now, 1}};
    buf_t pb = BUF_INIT;
    rw_encode_series(&pb, good, 2, s, 1);
    rw_encode_series(&pb, dup, 3, s, 1);
    rw_result_t res;
    push(f, &pb, "snappy", &res);
    assert_int_equal(res.outcome, RW_BAD_REQUEST);
    assert_non_null(strstr(res.message, "duplicate label name"));
    assert_non_null(strstr(res.message, "dupseries"));
    assert_int_equal(select_name(f, "must_not_exist", NULL, NULL, NULL), 0);

    /* a native histogram anywhere rejects the whole request */
    buf_t pb2 = BUF_INIT;
    rw_encode_series(&pb2, good, 2, s, 1);
    label_t h[] = {L("__name__", "h")};
    buf_t ts = BUF_INIT;
    rw_encode_series(&ts, h, 1, NULL, 0); /* field 1 key + length + body: re-wrap with a histogram */
    buf_t body = BUF_INIT;
    buf_append(&body, ts.data + 2, ts.len - 2); /* the body is short: one-byte key, one-byte length */
    buf_append(&body, "\x22\x02\x08\x01", 4);
    buf_putc(&pb2, 0x0a);
    buf_put_uvarint(&pb2, body.len);
    buf_append(&pb2, body.data, body.len);
    push(f, &pb2, "snappy", &res);
    assert_int_equal(res.outcome, RW_BAD_REQUEST);
    assert_non_null(strstr(res.message, "native histograms are not supported"));
    assert_int_equal(select_name(f, "must_not_exist", NULL, NULL, NULL), 0);

    /* wrong content-encoding: nothing stored either */
    buf_t pb3 = BUF_INIT;
    rw_encode_series(&pb3, good, 2, s, 1);
    push(f, &pb3, "gzip", &res);
    assert_int_equal(res.outcome, RW_BAD_REQUEST);
    push(f, &pb3, NULL, &res);
    assert_int_equal(res.outcome, RW_BAD_REQUEST);
    assert_int_equal(select_name(f, "must_not_exist", NULL, NULL, NULL), 0);
    /* and the same bytes with the right header are stored: the test can fail */
    push(f, &pb3, "snappy", &res);
    assert_int_equal(res.outcome, RW_OK);
    assert_int_equal(select_name(f, "must_not_exist", NULL, NULL, NULL), 1);
    buf_free(&pb);
    buf_free(&pb2);
    buf_free(&pb3);
    buf_free(&ts);
    buf_free(&body);
}

static void test_partial_drops(void **state)
{
    fixture_t *f = *state;
    int64_t now = clock_now_ms();
    label_t ls[] = {L("__name__", "rw_partial")};
    sample_t ss[] = {{now - 2 * 3600 * 1000, 1}, {now, 2}, {now + 3600 * 1000, 3}};
    buf_t pb = BUF_INIT;
    rw_encode_series(&pb, ls, 1, ss, 3);
    rw_result_t res;
    push(f, &pb, "snappy", &res);
    assert_int_equal(res.outcome, RW_PARTIAL);
    assert_int_equal(res.append.samples_too_old, 1);
    assert_int_equal(res.append.samples_too_new, 1);
    assert_non_null(strstr(res.message, "2 samples dropped"));
    assert_non_null(strstr(res.message, "1 older than the retention window"));
    assert_non_null(strstr(res.message, "1 too far in the future"));
    sample_vec_t sv = {0};
    assert_int_equal(select_name(f, "rw_partial", &sv, NULL, NULL), 1);
    assert_int_equal(sv.n, 1); /* the rest IS stored */
    assert_true(sv.v[0].t == now && sv.v[0].v == 2);
    sample_vec_free(&sv);
    buf_free(&pb);
}

typedef struct md_seen {
    int found;
    char type[32], help[64], unit[32];
} md_seen_t;

static int md_cb(const metric_metadata_t *m, void *arg)
{
    md_seen_t *s = arg;
    if (strcmp(m->metric, "rw_requests_total") != 0) return 0;
    s->found++;
    snprintf(s->type, sizeof s->type, "%s", m->type);
    snprintf(s->help, sizeof s->help, "%s", m->help ? m->help : "");
    snprintf(s->unit, sizeof s->unit, "%s", m->unit ? m->unit : "");
    return 0;
}

static void test_metadata_stored(void **state)
{
    fixture_t *f = *state;
    buf_t pb = BUF_INIT;
    rw_encode_metadata(&pb, 1, "rw_requests_total", "Requests served.", "requests");
    rw_encode_metadata(&pb, 2, NULL, "no name: skipped", NULL);
    rw_result_t res;
    push(f, &pb, "snappy", &res);
    assert_int_equal(res.outcome, RW_OK);
    assert_int_equal(res.metadata, 1);
    md_seen_t seen = {0};
    assert_int_equal(db_metadata_each(f->db, NULL, md_cb, &seen), 0);
    assert_int_equal(seen.found, 1);
    assert_string_equal(seen.type, "counter");
    assert_string_equal(seen.help, "Requests served.");
    assert_string_equal(seen.unit, "requests");
    buf_free(&pb);
}

static void test_too_large_stores_nothing(void **state)
{
    fixture_t *f = *state;
    label_t ls[] = {L("__name__", "rw_big")};
    sample_t ss[] = {{clock_now_ms(), 1}};
    buf_t pb = BUF_INIT;
    rw_encode_series(&pb, ls, 1, ss, 1);
    rw_result_t res;
    f->lim.max_decompressed_bytes = pb.len - 1;
    push(f, &pb, "snappy", &res);
    assert_int_equal(res.outcome, RW_TOO_LARGE);
    f->lim.max_decompressed_bytes = 1 << 20;
    f->lim.max_samples = 0;
    assert_int_equal(select_name(f, "rw_big", NULL, NULL, NULL), 0);
    buf_free(&pb);
}

static void test_wal_failure_is_unavailable(void **state)
{
    fixture_t *f = *state;
    int64_t now = clock_now_ms();
    label_t ls[] = {L("__name__", "rw_lost"), L("job", "x")};
    sample_t ss[] = {{now - 1, 1}, {now, 2}};
    buf_t pb = BUF_INIT;
    rw_encode_series(&pb, ls, 2, ss, 2);
    rw_result_t res;
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 16;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    push(f, &pb, "snappy", &res);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(res.outcome, RW_UNAVAILABLE);
    assert_non_null(strstr(res.message, "nothing"));
    assert_int_equal(select_name(f, "rw_lost", NULL, NULL, NULL), 0);
    /* once the fault clears, the same request is stored */
    push(f, &pb, "snappy", &res);
    assert_int_equal(res.outcome, RW_OK);
    assert_int_equal(select_name(f, "rw_lost", NULL, NULL, NULL), 1);
    buf_free(&pb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accepted_is_queryable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_failure_is_unavailable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
