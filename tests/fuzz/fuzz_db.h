/* fuzz_db.h owns what the fuzz targets that open a whole db share: emptying a directory between
 * inputs and reading a db back in full (every series' labels and samples, label names). Header
 * only: each target is one translation unit. */
#ifndef MS_FUZZ_DB_H
#define MS_FUZZ_DB_H
#include "model/labels.h"
#include "model/matcher.h"
#include "storage/storage.h"
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Removes the plain files directly in dir (not subdirectories). */
static inline void fuzz_clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
}

/* Reads every series of db with every sample. strict: the labels must validate and the samples
 * come in strictly increasing time (abort otherwise), as for data that only went through the
 * append path. */
static inline void fuzz_read_all(db_t *db, bool strict)
{
    querier_t *q = NULL;
    if (db_querier(db, INT64_MIN, INT64_MAX, &q) != 0) abort();
    matcher_t *m = NULL;
    char err[256];
    if (matcher_new(MATCH_RE, "__name__", 8, ".*", 2, &m, err, sizeof err) != 0) abort();
    const matcher_t *ms[1] = {m};
    series_set_t *ss = NULL;
    if (querier_select(q, ms, 1, &ss) == 0) {
        sample_vec_t sv = {NULL, 0, 0};
        for (size_t i = 0; i < series_set_len(ss); i++) {
            labels_t l = series_set_labels(ss, i);
            if (strict && labels_validate(l.v, l.n) != LABELS_OK) abort();
            sv.n = 0;
            if (series_set_samples(ss, i, INT64_MIN, INT64_MAX, &sv) == 0 && strict)
                for (size_t j = 1; j < sv.n; j++)
                    if (sv.v[j].t <= sv.v[j - 1].t) abort(); /* time order, one per timestamp */
        }
        sample_vec_free(&sv);
        series_set_free(ss);
    }
    matcher_free(m);
    const char **names = NULL;
    size_t *lens = NULL, n = 0;
    if (querier_label_names(q, &names, &lens, &n) == 0) {
        free(names);
        free(lens);
    }
    querier_close(q);
    db_stats_t st;
    db_stats(db, &st);
}

#endif
