/* storage_bench.c measures the storage engine through storage.h: append throughput (1M samples,
 * 10k series x 100 samples, batches of 1000) under fsync never and always, head bytes per
 * series for 100k series, and WAL replay time. Usage: storage_bench [dir-prefix]. */
#include "storage/storage.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/status.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct lbl {
    label_t l[3];
    uint64_t hash;
    char inst[32];
} lbl_t;

static lbl_t *make_series(size_t n)
{
    lbl_t *s = calloc(n, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        snprintf(s[i].inst, sizeof(s[i].inst), "host-%06zu:9100", i);
        s[i].l[0] = (label_t){"__name__", "node_cpu_seconds_total", 8, 22};
        s[i].l[1] = (label_t){"instance", s[i].inst, 8, (uint32_t)strlen(s[i].inst)};
        s[i].l[2] = (label_t){"job", "node", 3, 4};
        s[i].hash = labels_hash(s[i].l, 3);
    }
    return s;
}

static db_t *open_db(const char *dir, wal_fsync_t mode)
{
    db_options_t o;
    db_options_default(&o);
    o.data_dir = dir;
    o.retention_ms = 0;
    o.wal_fsync = mode;
    db_t *db;
    char err[256];
    if (db_open(&o, &db, err, sizeof(err)) != MS_OK) {
        fprintf(stderr, "db_open %s: %s\n", dir, err);
        exit(1);
    }
    return db;
}

/* Appends rounds x nseries samples, batch series per commit; returns seconds. */
static double append(db_t *db, lbl_t *s, size_t nseries, int rounds, size_t batch, int64_t base)
{
    int64_t t0 = clock_mono_ns();
    for (int r = 0; r < rounds; r++) {
        for (size_t b = 0; b < nseries; b += batch) {
            appender_t *a;
            db_appender(db, &a);
            for (size_t i = b; i < b + batch && i < nseries; i++) {
                sample_t smp = {base + r * 15000LL, (double)(r * 7 + (int)i % 13)};
                appender_add(a, s[i].l, 3, s[i].hash, &smp, 1);
            }
            if (appender_commit(a, NULL) != MS_OK) {
                fprintf(stderr, "commit failed\n");
                exit(1);
            }
        }
    }
    return (double)(clock_mono_ns() - t0) / 1e9;
}

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", dir);
}

int main(int argc, char **argv)
{
    const char *prefix = argc > 1 ? argv[1] : "/tmp/ms_storage_bench";
    log_set_level(LOG_WARN);
    char dir[256];
    int64_t base = clock_now_ms() - 100 * 15000LL;

    /* 1. 1M samples: 10k series x 100 samples, 1000 samples per commit */
    lbl_t *s = make_series(100000);
    wal_fsync_t modes[] = {WAL_FSYNC_NEVER, WAL_FSYNC_ALWAYS};
    const char *names[] = {"never", "always"};
    for (int m = 0; m < 2; m++) {
        snprintf(dir, sizeof(dir), "%s_%s", prefix, names[m]);
        rm_rf(dir);
        db_t *db = open_db(dir, modes[m]);
        double c0 = cpu_s();
        double sec = append(db, s, 10000, 100, 1000, base);
        double cpu = cpu_s() - c0;
        db_stats_t st;
        db_stats(db, &st);
        printf("append fsync=%-6s 1M samples (10k series x 100, batch 1000): %.3f s wall, %.0f samples/s "
               "(%.3f s CPU, %.0f samples per CPU-s), wal %.1f MiB, head_bytes %.1f MiB (%.2f per sample)\n",
               names[m], sec, 1e6 / sec, cpu, 1e6 / cpu, st.wal_bytes / 1048576.0, st.head_bytes / 1048576.0,
               (double)st.head_bytes / 1e6);
        db_close(db);
        int64_t t0 = clock_mono_ns();
        c0 = cpu_s();
        db = open_db(dir, WAL_FSYNC_NEVER);
        double rsec = (double)(clock_mono_ns() - t0) / 1e9;
        cpu = cpu_s() - c0;
        db_stats(db, &st);
        printf("replay of that WAL: %.3f s (db_open total, %.3f s CPU), wal_replay_ms=%llu, series=%llu, chunks=%llu\n", rsec, cpu,
               (unsigned long long)st.wal_replay_ms, (unsigned long long)st.series,
               (unsigned long long)st.head_chunks);
        (void)cpu;
        db_close(db);
        rm_rf(dir);
    }

    /* 2. head bytes per series for 100k series (10 samples each) and replay of that WAL */
    snprintf(dir, sizeof(dir), "%s_100k", prefix);
    rm_rf(dir);
    db_t *db = open_db(dir, WAL_FSYNC_NEVER);
    double sec = append(db, s, 100000, 10, 1000, base);
    db_stats_t st;
    db_stats(db, &st);
    printf("100k series x 10 samples: append %.3f s (%.0f samples/s), head_bytes %.1f MiB = %.0f bytes/series, "
           "wal %.1f MiB\n",
           sec, 1e6 / sec, st.head_bytes / 1048576.0, (double)st.head_bytes / 100000.0, st.wal_bytes / 1048576.0);
    db_close(db);
    int64_t t0 = clock_mono_ns();
    db = open_db(dir, WAL_FSYNC_NEVER);
    double rsec = (double)(clock_mono_ns() - t0) / 1e9;
    db_stats(db, &st);
    printf("replay of the 100k-series WAL: %.3f s (db_open), wal_replay_ms=%llu, series=%llu, head_bytes/series=%.0f\n",
           rsec, (unsigned long long)st.wal_replay_ms, (unsigned long long)st.series,
           (double)st.head_bytes / 100000.0);
    db_close(db);
    rm_rf(dir);
    free(s);
    return 0;
}
