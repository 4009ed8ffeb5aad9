/* test_auth.c tests access control below HTTP: the --auth-file parser (valid files, every refusal
 * with its line number), secret hashing and verification for each scheme, auth_check on bearer and
 * basic credentials (wrong, malformed, expired, the verified-secret cache and expiry on a cache
 * hit), and storage tenancy (appender_set_tenant / querier_set_tenant: labels inserted and
 * stripped, order kept, label names/values scoped, forged tenant labels refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "api/auth.h"
#include "storage/storage.h"
#include "util/status.h"
#include "testutil.h"

/* ---- helpers ---- */

static char *hash_of(auth_scheme_t s, const char *secret)
{
    static char out[8][512];
    static int k;
    char *o = out[k++ % 8];
    assert_int_equal(auth_hash_secret(s, secret, o, 512), MS_OK);
    return o;
}

static auth_t *parse_ok(const char *text)
{
    auth_t *a = NULL;
    char err[300] = "";
    int rc = auth_parse(text, strlen(text), &a, err, sizeof err);
    if (rc != MS_OK) fail_msg("parse failed: %s", err);
    return a;
}

static void parse_fails(const char *text, const char *want)
{
    auth_t *a = NULL;
    char err[300] = "";
    assert_int_not_equal(auth_parse(text, strlen(text), &a, err, sizeof err), MS_OK);
    assert_null(a);
    if (!strstr(err, want)) fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static const char *b64(const char *in)
{
    static _Thread_local char out[512];
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
    return out;
}

static _Thread_local char hdr_buf[600];
static const char *basic_hdr(const char *user, const char *pw)
{
    char up[300];
    snprintf(up, sizeof up, "%s:%s", user, pw);
    snprintf(hdr_buf, sizeof hdr_buf, "Basic %s", b64(up));
    return hdr_buf;
}

/* ---- hashing ---- */

static void test_hash_and_verify(void **state)
{
    (void)state;
    const auth_scheme_t schemes[] = {AUTH_SCHEME_YESCRYPT, AUTH_SCHEME_SHA512, AUTH_SCHEME_SHA256};
    const char *prefix[] = {"$y$", "$6$", "$sha256$"};
    for (size_t i = 0; i < 3; i++) {
        char *h = hash_of(schemes[i], "s3cret");
        assert_true(!strncmp(h, prefix[i], strlen(prefix[i])));
        assert_null(strstr(h, "s3cret"));
        assert_true(auth_verify(h, "s3cret", 6));
        assert_false(auth_verify(h, "s3cret", 5));
        assert_false(auth_verify(h, "s3cret!", 7));
        assert_false(auth_verify(h, "S3cret", 6));
        char *h2 = hash_of(schemes[i], "s3cret"); /* salted: two hashes of one secret differ */
        assert_string_not_equal(h, h2);
        assert_true(auth_verify(h2, "s3cret", 6));
        /* a flipped character in the stored hash fails */
        char t[512];
        strcpy(t, h);
        size_t L = strlen(t);
        t[L - 2] = t[L - 2] == 'a' ? 'b' : 'a';
        assert_false(auth_verify(t, "s3cret", 6));
    }
    char out[512];
    assert_int_equal(auth_hash_secret(AUTH_SCHEME_SHA256, "", out, sizeof out), MS_EINVAL);
    assert_int_equal(auth_hash_secret(AUTH_SCHEME_SHA256, "a\nb", out, sizeof out), MS_EINVAL);
    assert_false(auth_verify("plaintext", "plaintext", 9));
    assert_false(auth_verify("$sha256$zz$00", "x", 1));
}

/* ---- the file ---- */

static void test_parse_valid(void **state)
{
    (void)state;
    char text[4096];
    snprintf(text, sizeof text,
             "# comment\n\n   \t\n"
             "bearer agent1 %s team-a write\n"
             "  basic\talice  %s  team.b:x read expires=2030-01-02T03:04:05Z  \r\n"
             "bearer ops %s ops admin expires=1900000000\n"
             "# trailing comment without newline",
             hash_of(AUTH_SCHEME_SHA256, "t1"), hash_of(AUTH_SCHEME_SHA512, "pw"), hash_of(AUTH_SCHEME_SHA256, "t2"));
    auth_t *a = parse_ok(text);
    assert_int_equal(auth_count(a), 3);
    assert_string_equal(auth_tenant_at(a, 0), "team-a");
    assert_string_equal(auth_tenant_at(a, 1), "team.b:x");
    assert_null(auth_tenant_at(a, 3));
    auth_identity_t who;
    assert_int_equal(auth_check(a, "Bearer t1", 0, &who), AUTH_OK);
    assert_string_equal(who.tenant, "team-a");
    assert_int_equal(who.tenant_len, 6);
    assert_int_equal(who.roles, AUTH_WRITE);
    assert_int_equal(auth_check(a, "Bearer t2", 0, &who), AUTH_OK);
    assert_int_equal(who.roles, AUTH_ALL); /* admin implies read and write */
    assert_string_equal(who.name, "ops");
    assert_int_equal(auth_check(a, basic_hdr("alice", "pw"), 0, &who), AUTH_OK);
    assert_int_equal(who.roles, AUTH_READ);
    /* expires=2030-01-02T03:04:05Z is 1893553445 s */
    assert_int_equal(auth_check(a, basic_hdr("alice", "pw"), 1893553445000LL - 1, &who), AUTH_OK);
    assert_int_equal(auth_check(a, basic_hdr("alice", "pw"), 1893553445000LL, &who), AUTH_EXPIRED);
    assert_int_equal(auth_check(a, "Bearer t2", 1900000000000LL - 1, &who), AUTH_OK);
    assert_int_equal(auth_check(a, "Bearer t2", 1900000000000LL, &who), AUTH_EXPIRED);
    auth_free(a);
    auth_free(NULL);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    const char *h = hash_of(AUTH_SCHEME_SHA256, "x");
    char t[1024];
    snprintf(t, sizeof t, "\n\nbearer a %s A read\nbasic b plaintext A read\n", h);
    parse_fails(t, "line 4: the third field must be a salted hash");
    snprintf(t, sizeof t, "token a %s A read\n", h);
    parse_fails(t, "line 1: unknown kind");
    snprintf(t, sizeof t, "bearer a %s A read extra expires=1\n", h);
    parse_fails(t, "want 5 or 6 fields");
    snprintf(t, sizeof t, "bearer a %s A\n", h);
    parse_fails(t, "want 5 or 6 fields");
    snprintf(t, sizeof t, "bearer a %s A root\n", h);
    parse_fails(t, "unknown role");
    snprintf(t, sizeof t, "bearer a %s A/B read\n", h);
    parse_fails(t, "invalid tenant");
    snprintf(t, sizeof t, "bearer a %s AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA read\n", h);
    parse_fails(t, "invalid tenant"); /* 65 bytes */
    snprintf(t, sizeof t, "bearer a %s A read expires=soon\n", h);
    parse_fails(t, "bad expires");
    snprintf(t, sizeof t, "bearer a %s A read until=1\n", h);
    parse_fails(t, "sixth field must be expires=");
    snprintf(t, sizeof t, "basic a:b %s A read\n", h);
    parse_fails(t, "cannot contain ':'");
    snprintf(t, sizeof t, "bearer a %s A read\nbearer a %s B read\n", h, h);
    parse_fails(t, "line 2: duplicate name");
    parse_fails("bearer a $sha256$abc$00 A read\n", "malformed $sha256$");
    parse_fails("bearer a $nosuch$salt$hash A read\n", "unsupported or malformed hash");
    /* costs that would make each verification take seconds are refused before crypt runs */
    parse_fails("bearer a $6$rounds=999999999$salt$hash A read\n", "cost not accepted");
    parse_fails("bearer a $y$jFT$salt$hash A read\n", "cost not accepted");  /* N = 2^18 */
    parse_fails("bearer a $y$j9z$salt$hash A read\n", "cost not accepted");  /* r = 64 */
    parse_fails("bearer a $2b$20$0123456789012345678901234567890123456789012345678901 A read\n", "cost not accepted");
    parse_fails("# nothing\n\n", "no credentials");
    parse_fails("", "no credentials");
    /* a bearer and a basic credential may share a name */
    snprintf(t, sizeof t, "bearer a %s A read\nbasic a %s A read\n", h, h);
    auth_free(parse_ok(t));
}

static void test_auth_file_load(void **state)
{
    (void)state;
    char path[] = "/tmp/ms_auth_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char line[600];
    int n = snprintf(line, sizeof line, "bearer t %s A read\n", hash_of(AUTH_SCHEME_SHA256, "tok"));
    assert_int_equal(write(fd, line, (size_t)n), n);
    close(fd);
    auth_t *a = NULL;
    char err[300];
    assert_int_equal(auth_load(path, &a, err, sizeof err), MS_OK);
    assert_int_equal(auth_count(a), 1);
    auth_free(a);
    unlink(path);
    a = NULL;
    assert_int_not_equal(auth_load(path, &a, err, sizeof err), MS_OK);
    assert_non_null(strstr(err, "cannot open --auth-file"));
    assert_null(a);
}

/* ---- checking requests ---- */

static void test_check_requests(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof text,
             "bearer t1 %s A read\nbearer t2 %s B write\nbasic alice %s A admin\nbasic bob %s B read\n",
             hash_of(AUTH_SCHEME_SHA256, "tok-one"), hash_of(AUTH_SCHEME_YESCRYPT, "tok-two"),
             hash_of(AUTH_SCHEME_YESCRYPT, "same-pw"), hash_of(AUTH_SCHEME_SHA512, "same-pw"));
    auth_t *a = parse_ok(text);
    auth_identity_t who;
    assert_int_equal(auth_check(a, NULL, 0, &who), AUTH_MISSING);
    assert_int_equal(auth_check(a, "  ", 0, &who), AUTH_MISSING);
    assert_int_equal(auth_check(a, "Bearer", 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, "Bearer ", 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, "Bearer tok-on", 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, "Bearer tok-onee", 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, "Digest tok-one", 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, "Bearertok-one", 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, "bearer  tok-one ", 0, &who), AUTH_OK); /* scheme case-insensitive */
    assert_string_equal(who.tenant, "A");
    assert_int_equal(auth_check(a, "Bearer tok-two", 0, &who), AUTH_OK);
    assert_string_equal(who.tenant, "B");
    assert_int_equal(who.roles, AUTH_WRITE);
    /* a bearer secret is not a basic password and vice versa */
    assert_int_equal(auth_check(a, basic_hdr("t1", "tok-one"), 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, "Bearer same-pw", 0, &who), AUTH_BAD);
    /* basic: right, wrong password, unknown user, malformed */
    assert_int_equal(auth_check(a, basic_hdr("alice", "same-pw"), 0, &who), AUTH_OK);
    assert_string_equal(who.name, "alice");
    assert_int_equal(who.roles, AUTH_ALL);
    assert_int_equal(auth_check(a, basic_hdr("bob", "same-pw"), 0, &who), AUTH_OK);
    assert_string_equal(who.name, "bob"); /* same password, cache keyed by user too */
    assert_string_equal(who.tenant, "B");
    assert_int_equal(auth_check(a, basic_hdr("alice", "same-pw "), 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, basic_hdr("alice", ""), 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, basic_hdr("carol", "same-pw"), 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, basic_hdr("", "same-pw"), 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, "Basic !!!!", 0, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, "Basic YWxpY2U=", 0, &who), AUTH_BAD); /* "alice", no colon */
    assert_int_equal(auth_check(a, "Basic ", 0, &who), AUTH_BAD);
    auth_free(a);
}

static void test_cache(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, "bearer t %s A read expires=2000\nbasic u %s A read\n",
             hash_of(AUTH_SCHEME_YESCRYPT, "tok"), hash_of(AUTH_SCHEME_YESCRYPT, "pw"));
    auth_t *a = parse_ok(text);
    auth_identity_t who;
    uint64_t hits, slow;
    auth_cache_stats(a, &hits, &slow);
    assert_int_equal(hits + slow, 0);
    assert_int_equal(auth_check(a, "Bearer tok", 1000, &who), AUTH_OK);
    auth_cache_stats(a, &hits, &slow);
    assert_int_equal(hits, 0);
    assert_int_equal(slow, 1);
    for (int i = 0; i < 5; i++) assert_int_equal(auth_check(a, "Bearer tok", 1000, &who), AUTH_OK);
    auth_cache_stats(a, &hits, &slow);
    assert_int_equal(hits, 5);
    assert_int_equal(slow, 1);
    /* a cached credential still expires */
    assert_int_equal(auth_check(a, "Bearer tok", 2000000, &who), AUTH_EXPIRED);
    /* wrong secrets are never cached: each costs a verification */
    assert_int_equal(auth_check(a, "Bearer tok2", 1000, &who), AUTH_BAD);
    assert_int_equal(auth_check(a, "Bearer tok2", 1000, &who), AUTH_BAD);
    auth_cache_stats(a, &hits, &slow);
    assert_int_equal(slow, 3);
    assert_int_equal(auth_check(a, basic_hdr("u", "pw"), 0, &who), AUTH_OK);
    assert_int_equal(auth_check(a, basic_hdr("u", "pw"), 0, &who), AUTH_OK);
    assert_int_equal(auth_check(a, basic_hdr("u", "pwx"), 0, &who), AUTH_BAD);
    auth_cache_stats(a, &hits, &slow);
    assert_int_equal(slow, 5);
    assert_int_equal(hits, 7);
    auth_free(a);
}

typedef struct busy_arg {
    auth_t *a;
    const char *hdr;  /* NULL: a fresh wrong password each time */
    int id;
    int counts[6];    /* by verdict */
} busy_arg_t;

static void *busy_thread(void *p)
{
    busy_arg_t *b = p;
    for (int i = 0; i < 12; i++) {
        char pw[32];
        snprintf(pw, sizeof pw, "wrong-%d-%d", b->id, i);
        char hdr[128];
        snprintf(hdr, sizeof hdr, "%s", b->hdr ? b->hdr : basic_hdr("u", pw));
        auth_identity_t who;
        b->counts[auth_check(b->a, hdr, 0, &who)]++;
    }
    return NULL;
}

/* Unknown secrets against crypt hashes run at most AUTH_SLOW_MAX at once (the rest get
 * AUTH_BUSY), while a cached credential is never refused. */
static void test_slow_limit(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, "bearer t %s A read\nbasic u %s A read\n", hash_of(AUTH_SCHEME_SHA256, "tok"),
             hash_of(AUTH_SCHEME_YESCRYPT, "pw"));
    auth_t *a = parse_ok(text);
    auth_identity_t who;
    assert_int_equal(auth_check(a, "Bearer tok", 0, &who), AUTH_OK);
    enum { N = 6 };
    pthread_t th[N + 1];
    busy_arg_t args[N + 1];
    memset(args, 0, sizeof args);
    for (int i = 0; i <= N; i++) {
        args[i].a = a;
        args[i].id = i;
        if (i == N) args[i].hdr = "Bearer tok";
        assert_int_equal(pthread_create(&th[i], NULL, busy_thread, &args[i]), 0);
    }
    int bad = 0, busy = 0;
    for (int i = 0; i <= N; i++) {
        pthread_join(th[i], NULL);
        if (i < N) {
            bad += args[i].counts[AUTH_BAD];
            busy += args[i].counts[AUTH_BUSY];
            assert_int_equal(args[i].counts[AUTH_OK], 0);
        }
    }
    assert_int_equal(args[N].counts[AUTH_OK], 12);
    assert_int_equal(bad + busy, N * 12);
    assert_true(bad > 0);
    assert_true(busy > 0);
    auth_free(a);
}

static void test_roles_and_tenants(void **state)
{
    (void)state;
    assert_int_equal(auth_role_parse("read", 4), AUTH_READ);
    assert_int_equal(auth_role_parse("write", 5), AUTH_WRITE);
    assert_int_equal(auth_role_parse("admin", 5), AUTH_ADMIN);
    assert_int_equal(auth_role_parse("admins", 6), 0);
    assert_int_equal(auth_role_parse("Read", 4), 0);
    assert_string_equal(auth_role_str(AUTH_WRITE), "write");
    assert_true(auth_tenant_valid("a-b_c.d:9", 9));
    assert_false(auth_tenant_valid("", 0));
    assert_false(auth_tenant_valid("a b", 3));
    assert_false(auth_tenant_valid("a\"b", 3));
    assert_false(auth_tenant_valid("\xc3\xa9", 2));
}

/* ---- storage tenancy ---- */

static int db_setup(void **state) { return tu_db_setup(state, "/tmp/ms_tenant_XXXXXX"); }

#define L(n, v) ((label_t){n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)})

static void add(appender_t *a, label_t *ls, size_t n, double v)
{
    sample_t s = {1000, v};
    assert_int_equal(appender_add(a, ls, n, labels_hash(ls, n), &s, 1), MS_OK);
}

/* Writes for tenant t (NULL: open) the sets used below. */
static void write_tenant(db_t *db, const char *t, double v)
{
    appender_t *a;
    assert_int_equal(db_appender(db, &a), MS_OK);
    if (t) assert_int_equal(appender_set_tenant(a, t, strlen(t)), MS_OK);
    label_t s1[] = {L("B", "1")};                                /* {B="1",__tenant__} */
    label_t s2[] = {L("B", "1"), L("C", "2")};                   /* {B="1",C="2",__tenant__} */
    label_t s3[] = {L("__name__", "m"), L("job", t ? t : "open")}; /* tenant label in the middle */
    add(a, s1, 1, v);
    add(a, s2, 2, v + 0.25);
    add(a, s3, 2, v + 0.5);
    append_result_t r;
    assert_int_equal(appender_commit(a, &r), MS_OK);
    assert_int_equal(r.series_created, 3);
}

static bool has_tenant_label(labels_t ls)
{
    uint32_t l;
    return labels_get(ls.v, ls.n, TENANT_LABEL, TENANT_LABEL_LEN, &l) != NULL;
}

static void test_storage_tenancy(void **state)
{
    tu_db_t *f = *state;
    write_tenant(f->db, "A", 1);
    write_tenant(f->db, "B", 2);
    write_tenant(f->db, NULL, 3);
    /* a tenant appender refuses a forged tenant label */
    appender_t *a;
    assert_int_equal(db_appender(f->db, &a), MS_OK);
    assert_int_equal(appender_set_tenant(a, "A", 1), MS_OK);
    label_t forged[] = {L("__name__", "x"), L(TENANT_LABEL, "B")};
    sample_t s = {1000, 1};
    assert_int_equal(appender_add(a, forged, 2, labels_hash(forged, 2), &s, 1), MS_EINVAL);
    appender_rollback(a);

    char err[64];
    matcher_t *any = NULL;
    assert_int_equal(matcher_new(MATCH_RE, "B", 1, ".*", 2, &any, err, sizeof err), MS_OK);
    matcher_t *all = NULL;
    assert_int_equal(matcher_new(MATCH_NEQ, "nonexistent", 11, "x", 1, &all, err, sizeof err), MS_OK);
    const char *tenants[] = {"A", "B"};
    for (int k = 0; k < 2; k++) {
        querier_t *q;
        assert_int_equal(db_querier(f->db, 0, 10000, &q), MS_OK);
        assert_int_equal(querier_set_tenant(q, tenants[k], 1), MS_OK);
        assert_int_equal(querier_set_tenant(q, "C", 1), MS_EINVAL); /* once only */
        series_set_t *ss;
        const matcher_t *ms[] = {all};
        assert_int_equal(querier_select(q, ms, 1, &ss), MS_OK);
        assert_int_equal(series_set_len(ss), 3);
        for (size_t i = 0; i < 3; i++) {
            labels_t ls = series_set_labels(ss, i);
            assert_false(has_tenant_label(ls));
            if (i) { /* sorted by the stripped labels: {B=1} < {B=1,C=2} < {__name__=m,...} */
                labels_t p = series_set_labels(ss, i - 1);
                assert_true(labels_cmp(p.v, p.n, ls.v, ls.n) < 0);
            }
            sample_vec_t sv = {0};
            assert_int_equal(series_set_samples(ss, i, 0, 10000, &sv), MS_OK);
            assert_int_equal(sv.n, 1);
            /* this tenant's samples of this series: the re-sorting moved {B=1} ahead of {B=1,C=2} */
            assert_true(sv.v[0].v == (double)(k + 1) + 0.25 * (double)i);
            sample_vec_free(&sv);
        }
        labels_t first = series_set_labels(ss, 0), second = series_set_labels(ss, 1);
        assert_int_equal(first.n, 1);
        assert_int_equal(second.n, 2);
        series_set_free(ss);
        /* a tenant selecting another tenant's label finds nothing */
        matcher_t *other = NULL;
        assert_int_equal(matcher_new(MATCH_EQ, TENANT_LABEL, TENANT_LABEL_LEN, tenants[1 - k], 1, &other, err,
                                     sizeof err), MS_OK);
        const matcher_t *ms2[] = {other};
        assert_int_equal(querier_select(q, ms2, 1, &ss), MS_OK);
        assert_int_equal(series_set_len(ss), 0);
        series_set_free(ss);
        matcher_free(other);
        const char **v;
        size_t *vl, n;
        assert_int_equal(querier_label_names(q, &v, &vl, &n), MS_OK);
        assert_int_equal(n, 4); /* B C __name__ job */
        assert_memory_equal(v[0], "B", 1);
        assert_memory_equal(v[2], "__name__", 8);
        for (size_t i = 0; i < n; i++) assert_false(vl[i] == TENANT_LABEL_LEN && !memcmp(v[i], TENANT_LABEL, vl[i]));
        free(v);
        free(vl);
        assert_int_equal(querier_label_values(q, "job", 3, &v, &vl, &n), MS_OK);
        assert_int_equal(n, 1);
        assert_memory_equal(v[0], tenants[k], 1);
        free(v);
        free(vl);
        assert_int_equal(querier_label_values(q, TENANT_LABEL, TENANT_LABEL_LEN, &v, &vl, &n), MS_OK);
        assert_int_equal(n, 0);
        free(v);
        free(vl);
        querier_close(q);
    }
    /* open mode sees every series as stored, tenant labels included */
    querier_t *q;
    assert_int_equal(db_querier(f->db, 0, 10000, &q), MS_OK);
    series_set_t *ss;
    const matcher_t *ms[] = {all};
    assert_int_equal(querier_select(q, ms, 1, &ss), MS_OK);
    assert_int_equal(series_set_len(ss), 9);
    size_t tagged = 0;
    for (size_t i = 0; i < 9; i++) tagged += has_tenant_label(series_set_labels(ss, i));
    assert_int_equal(tagged, 6);
    series_set_free(ss);
    const char **v;
    size_t *vl, n;
    assert_int_equal(querier_label_values(q, TENANT_LABEL, TENANT_LABEL_LEN, &v, &vl, &n), MS_OK);
    assert_int_equal(n, 2);
    free(v);
    free(vl);
    querier_close(q);
    matcher_free(any);
    matcher_free(all);

    /* after a restart (WAL replay) the tenant labels are still there */
    db_close(f->db);
    char e2[256];
    assert_int_equal(db_open(&f->o, &f->db, e2, sizeof e2), MS_OK);
    assert_int_equal(db_querier(f->db, 0, 10000, &q), MS_OK);
    assert_int_equal(querier_set_tenant(q, "B", 1), MS_OK);
    assert_int_equal(matcher_new(MATCH_EQ, "__name__", 8, "m", 1, &all, err, sizeof err), MS_OK);
    const matcher_t *ms3[] = {all};
    assert_int_equal(querier_select(q, ms3, 1, &ss), MS_OK);
    assert_int_equal(series_set_len(ss), 1);
    labels_t ls = series_set_labels(ss, 0);
    assert_int_equal(ls.n, 2);
    assert_memory_equal(ls.v[1].value, "B", 1);
    series_set_free(ss);
    querier_close(q);
    matcher_free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_and_verify),
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_auth_file_load),
        cmocka_unit_test(test_check_requests),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_slow_limit),
        cmocka_unit_test(test_roles_and_tenants),
        cmocka_unit_test_setup_teardown(test_storage_tenancy, db_setup, tu_db_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
