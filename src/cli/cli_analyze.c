/* cli_analyze.c owns `metricstor-cli tsdb analyze`: it opens a data dir through storage.h (the
 * same lock the server takes, so a dir in use by a running server is refused with a clear
 * message), reads every series' labels, and prints a cardinality report: top metric names by
 * series, top label names by distinct values, and top label pairs by series. */
#include "cli/cli.h"
#include "storage/storage.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/status.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct pair {
    const char *name, *value; /* borrowed from the querier */
    uint32_t name_len, value_len;
} pair_t;

typedef struct count {
    const char *a, *b;
    uint32_t a_len, b_len;
    uint64_t n, m; /* n: series (or values); m: series for label names */
} count_t;

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int pair_cmp(const void *x, const void *y)
{
    const pair_t *a = x, *b = y;
    int c = bytes_cmp(a->name, a->name_len, b->name, b->name_len);
    return c ? c : bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}

static int count_desc(const void *x, const void *y)
{
    const count_t *a = x, *b = y;
    if (a->n != b->n) return a->n < b->n ? 1 : -1;
    int c = bytes_cmp(a->a, a->a_len, b->a, b->a_len);
    return c ? c : bytes_cmp(a->b ? a->b : "", a->b_len, b->b ? b->b : "", b->b_len);
}

static void print_top(const char *title, const char *h1, const char *h2, const char *h3, count_t *c, size_t n,
                      size_t limit, uint64_t total)
{
    qsort(c, n, sizeof *c, count_desc);
    printf("\n%s (%zu of %zu):\n", title, n < limit ? n : limit, n);
    table_t t;
    table_init(&t, h3 ? 3 : 2);
    table_add(&t, h1);
    table_add(&t, h2);
    if (h3) table_add(&t, h3);
    for (size_t i = 0; i < n && i < limit; i++) {
        if (c[i].b) table_addf(&t, "%.*s=\"%.*s\"", (int)c[i].a_len, c[i].a, (int)c[i].b_len, c[i].b);
        else table_addf(&t, "%.*s", (int)c[i].a_len, c[i].a);
        if (h3) {
            table_addf(&t, "%llu", (unsigned long long)c[i].n);
            table_addf(&t, "%llu", (unsigned long long)c[i].m);
        } else {
            table_addf(&t, "%llu (%.1f%%)", (unsigned long long)c[i].n, total ? 100.0 * (double)c[i].n / (double)total : 0);
        }
    }
    table_print(&t);
    table_free(&t);
}

int cli_cmd_tsdb(int argc, char **argv)
{
    const char *dir = NULL;
    size_t limit = 20;
    bool analyze = argc >= 1 && !strcmp(argv[0], "analyze");
    for (int i = 1; analyze && i < argc; i++) {
        if (!strcmp(argv[i], "--data-dir") && i + 1 < argc) dir = argv[++i];
        else if (!strncmp(argv[i], "--data-dir=", 11)) dir = argv[i] + 11;
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc) limit = (size_t)strtoull(argv[++i], NULL, 10);
        else analyze = false;
    }
    if (!analyze || !dir) {
        fprintf(stderr, "usage: metricstor-cli tsdb analyze --data-dir DIR [--limit N]\n");
        return 2;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "metricstor-cli: %s is not a data directory (%s)\n", dir, strerror(errno ? errno : ENOTDIR));
        return 1;
    }
    db_options_t o;
    db_options_default(&o);
    o.data_dir = dir;
    o.retention_ms = 0;   /* never delete anything while looking */
    o.head_window_ms = 0; /* and never cut blocks */
    char err[512] = "";
    db_t *db = NULL;
    log_set_level(LOG_WARN); /* the storage's replay chatter is not part of the report */
    int rc = db_open(&o, &db, err, sizeof err);
    if (rc == MS_EBUSY) {
        fprintf(stderr, "metricstor-cli: %s is locked by a running metricstor server (%s).\n"
                        "Stop the server first, or ask it instead: GET /api/v1/status/tsdb\n", dir, err);
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "metricstor-cli: cannot open %s: %s\n", dir, err[0] ? err : ms_strerror(rc));
        return 1;
    }
    db_stats_t ds;
    db_stats(db, &ds);
    querier_t *q = NULL;
    series_set_t *set = NULL;
    matcher_t *m = NULL;
    rc = db_querier(db, INT64_MIN, INT64_MAX, &q);
    if (rc == 0) rc = matcher_new(MATCH_RE, METRIC_NAME_LABEL, 8, ".*", 2, &m, err, sizeof err);
    if (rc == 0) rc = querier_select(q, (const matcher_t *const *)&m, 1, &set);
    if (rc != 0) {
        fprintf(stderr, "metricstor-cli: reading %s: %s\n", dir, ms_strerror(rc));
        series_set_free(set);
        matcher_free(m);
        querier_close(q);
        db_close(db);
        return 1;
    }
    size_t n_series = series_set_len(set);
    pair_t *pairs = NULL;
    size_t n_pairs = 0, cap = 0;
    for (size_t i = 0; i < n_series; i++) {
        labels_t ls = series_set_labels(set, i);
        for (size_t k = 0; k < ls.n; k++) {
            XGROW(pairs, cap, n_pairs + 1);
            pairs[n_pairs++] = (pair_t){ls.v[k].name, ls.v[k].value, ls.v[k].name_len, ls.v[k].value_len};
        }
    }
    if (n_pairs) qsort(pairs, n_pairs, sizeof *pairs, pair_cmp);
    /* One pass over the sorted pairs: runs of equal pairs are series per pair; runs of equal
     * names are distinct values and series per label name. */
    count_t *metrics = NULL, *names = NULL, *pcounts = NULL;
    size_t nm = 0, nn = 0, np = 0, cm = 0, cn = 0, cp = 0;
    for (size_t i = 0; i < n_pairs;) {
        size_t j = i + 1;
        while (j < n_pairs && !pair_cmp(&pairs[i], &pairs[j])) j++;
        const pair_t *p = &pairs[i];
        bool is_name = p->name_len == 8 && !memcmp(p->name, METRIC_NAME_LABEL, 8);
        if (is_name) {
            XGROW(metrics, cm, nm + 1);
            metrics[nm++] = (count_t){p->value, NULL, p->value_len, 0, j - i, 0};
        } else {
            XGROW(pcounts, cp, np + 1);
            pcounts[np++] = (count_t){p->name, p->value, p->name_len, p->value_len, j - i, 0};
        }
        if (!nn || bytes_cmp(names[nn - 1].a, names[nn - 1].a_len, p->name, p->name_len)) {
            XGROW(names, cn, nn + 1);
            names[nn++] = (count_t){p->name, NULL, p->name_len, 0, 0, 0};
        }
        names[nn - 1].n++;          /* distinct values */
        names[nn - 1].m += j - i;   /* series having the label */
        i = j;
    }
    printf("Data dir:        %s\n", dir);
    printf("Series:          %zu\n", n_series);
    printf("Metric names:    %zu\n", nm);
    printf("Label names:     %zu\n", nn);
    printf("Label pairs:     %zu\n", np + nm);
    printf("Head:            %llu series, %llu chunks\n", (unsigned long long)ds.series,
           (unsigned long long)ds.head_chunks);
    printf("Blocks:          %llu (%llu bytes)\n", (unsigned long long)ds.blocks, (unsigned long long)ds.block_bytes);
    printf("WAL:             %llu bytes, %llu records replayed\n", (unsigned long long)ds.wal_bytes,
           (unsigned long long)ds.wal_replay_records);
    print_top("Top metric names by series", "METRIC", "SERIES", NULL, metrics, nm, limit, n_series);
    print_top("Top label names by distinct values", "LABEL", "VALUES", "SERIES", names, nn, limit, n_series);
    print_top("Top label pairs by series", "PAIR", "SERIES", NULL, pcounts, np, limit, n_series);
    free(metrics);
    free(names);
    free(pcounts);
    free(pairs);
    series_set_free(set);
    matcher_free(m);
    querier_close(q);
    db_close(db);
    return 0;
}
