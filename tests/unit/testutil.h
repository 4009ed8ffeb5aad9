/* testutil.h owns the small helpers several unit tests share: temp dirs made and removed, a
 * xorshift generator, a double's bits, "a=1,b=2" label specs, matchers, a db opened on a temp
 * dir with the tests' usual options, and a db operation run in a child SIGKILLed at a random
 * moment.
 *
 * Everything is static inline so that each tests/unit/test_X.c (one binary each, see the
 * Makefile) can include it without a shared object; include it after <cmocka.h>. */
#ifndef MS_TESTUTIL_H
#define MS_TESTUTIL_H

#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "model/matcher.h"
#include "storage/storage.h"
#include "util/status.h"

/* ---- temp dirs ---- */

static inline int tu_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

/* Removes dir and everything below it (errors ignored: best-effort cleanup). */
static inline void tu_rm_rf(const char *dir) { nftw(dir, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Copies tmpl ("/tmp/ms_x_XXXXXX") into dir (which must hold it) and creates it; asserts. */
static inline void tu_tmpdir(char *dir, const char *tmpl)
{
    strcpy(dir, tmpl);
    assert_non_null(mkdtemp(dir));
}

/* ---- numbers ---- */

/* One xorshift64 step on *s (never seed with 0). */
static inline uint64_t tu_xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline uint64_t tu_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static inline double tu_from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

/* ---- labels and matchers ---- */

/* A label set parsed from "a=1,b=2" (given sorted by name); the strings point into buf. */
typedef struct tu_lset {
    label_t l[16];
    size_t n;
    char buf[256];
} tu_lset_t;

static inline void tu_labels(tu_lset_t *s, const char *spec)
{
    snprintf(s->buf, sizeof(s->buf), "%s", spec);
    s->n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s->buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        *eq = 0;
        s->l[s->n++] = (label_t){tok, eq + 1, (uint32_t)strlen(tok), (uint32_t)strlen(eq + 1)};
    }
}

/* Series i of a node-like set: __name__=metric_<i % nmetrics>, instance=host-<i>, job=node
 * (sorted); the strings live in s. */
typedef struct tu_node {
    label_t l[3];
    char name[32], inst[32];
} tu_node_t;

static inline void tu_node_labels(tu_node_t *s, int i, int nmetrics)
{
    snprintf(s->name, sizeof s->name, "metric_%d", i % nmetrics);
    snprintf(s->inst, sizeof s->inst, "host-%d", i);
    s->l[0] = (label_t){"__name__", s->name, 8, (uint32_t)strlen(s->name)};
    s->l[1] = (label_t){"instance", s->inst, 8, (uint32_t)strlen(s->inst)};
    s->l[2] = (label_t){"job", "node", 3, 4};
}

/* One series' samples for round r of a replay-style workload: per in-order samples 15 s apart
 * from t0 + r * per * 15 s, sometimes (r > 2) a late one into an older, possibly full chunk,
 * sometimes (r > 0) a replacement of the previous round's first value, and with dups sometimes
 * an exact duplicate (a no-op). smp needs room for per + 3; returns the count. */
static inline size_t tu_round_samples(sample_t *smp, int64_t t0, int r, int per, bool dups, uint64_t *rng)
{
    size_t n = 0;
    for (int k = 0; k < per; k++)
        smp[n++] = (sample_t){t0 + ((int64_t)r * per + k) * 15000, (double)(tu_xorshift(rng) % 100000) / 100.0};
    if (r > 2 && tu_xorshift(rng) % 5 == 0)
        smp[n++] = (sample_t){t0 + (int64_t)(tu_xorshift(rng) % (uint64_t)(r * per)) * 15000 + 7,
                              (double)(tu_xorshift(rng) % 1000)};
    if (r > 0 && tu_xorshift(rng) % 7 == 0) smp[n++] = (sample_t){t0 + ((int64_t)(r - 1) * per) * 15000, -1.25};
    if (dups && tu_xorshift(rng) % 11 == 0) smp[n++] = smp[0];
    return n;
}

/* Adds round r of tu_round_samples for each of the n node series ls to appender a. */
static inline void tu_node_round(appender_t *a, const tu_node_t *ls, int n, int64_t t0, int r, int per, bool dups,
                                 uint64_t *rng)
{
    sample_t smp[per + 3];
    for (int i = 0; i < n; i++) {
        size_t k = tu_round_samples(smp, t0, r, per, dups, rng);
        assert_int_equal(appender_add(a, ls[i].l, 3, labels_hash(ls[i].l, 3), smp, k), MS_OK);
    }
}

static inline matcher_t *tu_matcher(match_type_t ty, const char *n, const char *v)
{
    matcher_t *m;
    char err[128];
    assert_int_equal(matcher_new(ty, n, strlen(n), v, strlen(v), &m, err, sizeof(err)), MS_OK);
    return m;
}

/* ---- a db on a temp dir ---- */

typedef struct tu_db {
    char dir[64];
    db_options_t o;
    db_t *db;
} tu_db_t;

/* f->o: defaults for a db in f->dir, no retention, no fsync; f->db NULL. */
static inline void tu_db_options(tu_db_t *f)
{
    db_options_default(&f->o);
    f->o.data_dir = f->dir;
    f->o.retention_ms = 0;
    f->o.wal_fsync = WAL_FSYNC_NEVER;
    f->db = NULL;
}

/* A new temp dir from tmpl as f->dir (asserted), with tu_db_options; does not open. */
static inline void tu_db_init(tu_db_t *f, const char *tmpl)
{
    tu_tmpdir(f->dir, tmpl);
    tu_db_options(f);
}

static inline void tu_db_open(tu_db_t *f)
{
    char err[256];
    assert_int_equal(db_open(&f->o, &f->db, err, sizeof(err)), MS_OK);
}

/* Commits n samples for the series spec ("a=1,b=2") in one appender. */
static inline void tu_db_put(db_t *db, const char *spec, const sample_t *smp, size_t n)
{
    tu_lset_t l;
    tu_labels(&l, spec);
    appender_t *a;
    assert_int_equal(db_appender(db, &a), MS_OK);
    assert_int_equal(appender_add(a, l.l, l.n, labels_hash(l.l, l.n), smp, n), MS_OK);
    assert_int_equal(appender_commit(a, NULL), MS_OK);
}

/* cmocka setup: *state = a calloc'ed tu_db_t opened on a new temp dir from tmpl; -1 on failure. */
static inline int tu_db_setup(void **state, const char *tmpl)
{
    tu_db_t *f = calloc(1, sizeof(*f));
    strcpy(f->dir, tmpl);
    if (!mkdtemp(f->dir)) return -1;
    tu_db_options(f);
    char err[256];
    if (db_open(&f->o, &f->db, err, sizeof(err)) != MS_OK) return -1;
    *state = f;
    return 0;
}

/* cmocka teardown for tu_db_setup: closes, removes the dir, frees. */
static inline int tu_db_teardown(void **state)
{
    tu_db_t *f = *state;
    db_close(f->db);
    tu_rm_rf(f->dir);
    free(f);
    return 0;
}

/* ---- a db operation killed at a random moment ---- */

typedef int (*tu_db_op_t)(db_t *db);

static inline int64_t tu_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Forks a child that opens c's db, runs op on it and closes; it exits 0, or 2 if the open
 * failed, 3 if op did. The parent may SIGKILL it at any moment. */
static inline pid_t tu_db_fork(const tu_db_t *c, tu_db_op_t op)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256];
        db_t *db;
        if (db_open(&c->o, &db, err, sizeof(err)) != MS_OK) _exit(2);
        if (op(db) != MS_OK) _exit(3);
        db_close(db);
        _exit(0);
    }
    return pid;
}

/* Microseconds an uninterrupted child run of op on c takes, each after the shell command restore
 * (which rebuilds c's dir): the fastest of three, since a loaded box only makes later runs
 * slower, which makes kills land earlier, never later. Every run must exit 0. */
static inline int64_t tu_db_op_us(const char *restore, const tu_db_t *c, tu_db_op_t op)
{
    int64_t full = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(system(restore), 0);
        int64_t t0 = tu_mono_us();
        pid_t pid = tu_db_fork(c, op);
        int ws;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
        if (tu_mono_us() - t0 < full) full = tu_mono_us() - t0;
    }
    return full;
}

/* After restore, runs op on c in a child and SIGKILLs it delay us later; if the child finished
 * first (a busy box makes run times vary), tries again with half the delay, up to 8 times.
 * Returns whether a child was killed; *finished (if not NULL) counts the children that won. */
static inline bool tu_db_op_kill(const char *restore, const tu_db_t *c, tu_db_op_t op, int64_t delay, int *finished)
{
    for (int attempt = 0; attempt < 8; attempt++, delay /= 2) {
        assert_int_equal(system(restore), 0);
        pid_t pid = tu_db_fork(c, op);
        usleep((useconds_t)delay);
        kill(pid, SIGKILL);
        int ws;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        if (WIFSIGNALED(ws)) return true;
        assert_int_equal(WEXITSTATUS(ws), 0);
        if (finished) (*finished)++;
    }
    return false;
}

#endif
