/* bchunk_sizes.c owns measuring block chunk encodings on real data: it opens a data dir (WAL
 * replay and blocks, e.g. a copy kept by `bench/run_bench.py --keep`), reads every series in
 * full and encodes each as one block chunk record in both column layout versions, printing
 * bytes per sample for the record and for its timestamp and value columns.
 *
 *   build/bench/bchunk_sizes <data dir copy>      (opening replays the WAL and may append to it)
 */
#include "storage/bchunk.h"
#include "storage/storage.h"
#include "util/buf.h"
#include "util/clock.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct totals {
    size_t record[3], columns[3], ts_only[3];
    int64_t decode_ns[3];
} totals_t;

/* Bytes of the timestamp column alone: the columns of the same timestamps with constant 0. */
static size_t ts_bytes(const sample_t *s, size_t n, int version, sample_t *tmp)
{
    for (size_t i = 0; i < n; i++) tmp[i] = (sample_t){s[i].t, 0.0};
    buf_t b = BUF_INIT;
    bchunk_columns_version(tmp, n, version, &b);
    size_t len = b.len;
    buf_free(&b);
    return len;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <data dir>\n", argv[0]);
        return 2;
    }
    db_options_t o;
    db_options_default(&o);
    o.data_dir = argv[1];
    o.retention_ms = 0;
    o.head_window_ms = 0; /* no cuts while we read */
    db_t *db;
    char err[256];
    if (db_open(&o, &db, err, sizeof err) != 0) {
        fprintf(stderr, "open %s: %s\n", argv[1], err);
        return 1;
    }
    querier_t *q;
    if (db_querier(db, INT64_MIN, INT64_MAX, &q) != 0) return 1;
    matcher_t *m = NULL;
    char merr[128];
    if (matcher_new(MATCH_RE, "__name__", 8, ".+", 2, &m, merr, sizeof merr) != 0) {
        fprintf(stderr, "matcher: %s\n", merr);
        return 1;
    }
    const matcher_t *ms[1] = {m};
    series_set_t *set;
    if (querier_select(q, ms, 1, &set) != 0) return 1;
    totals_t tot = {0};
    size_t samples = 0;
    sample_vec_t sv = {0};
    sample_t *tmp = NULL;
    size_t tmpcap = 0;
    bchunk_dec_t *dec = bchunk_dec_new();
    for (size_t i = 0; i < series_set_len(set); i++) {
        sv.n = 0;
        if (series_set_samples(set, i, INT64_MIN, INT64_MAX, &sv) != 0 || sv.n == 0) continue;
        if (sv.n > tmpcap) {
            tmpcap = sv.n;
            tmp = realloc(tmp, tmpcap * sizeof(sample_t));
        }
        for (size_t off = 0; off < sv.n; off += BCHUNK_MAX_SAMPLES) {
            size_t k = sv.n - off < BCHUNK_MAX_SAMPLES ? sv.n - off : BCHUNK_MAX_SAMPLES;
            const sample_t *s = sv.v + off;
            samples += k;
            for (int v = 1; v <= 2; v++) {
                buf_t b = BUF_INIT;
                bchunk_encode_version(s, k, 3, v, &b);
                tot.record[v] += b.len;
                sample_vec_t back = {0};
                int64_t t0 = clock_mono_ns();
                if (bchunk_decode(dec, b.data, b.len, INT64_MIN, INT64_MAX, &back) != 0 || back.n != k) {
                    fprintf(stderr, "version %d record of series %zu does not decode\n", v, i);
                    return 1;
                }
                tot.decode_ns[v] += clock_mono_ns() - t0;
                sample_vec_free(&back);
                buf_free(&b);
                bchunk_columns_version(s, k, v, &b);
                tot.columns[v] += b.len;
                buf_free(&b);
                tot.ts_only[v] += ts_bytes(s, k, v, tmp);
            }
        }
    }
    printf("series %zu samples %zu\n", series_set_len(set), samples);
    for (int v = 1; v <= 2; v++)
        printf("version %d: record (zstd-3 when smaller) %.3f B/sample; columns uncompressed %.3f, of which "
               "timestamps ~%.3f; decoding %.1f ns/sample\n",
               v, (double)tot.record[v] / (double)samples, (double)tot.columns[v] / (double)samples,
               (double)tot.ts_only[v] / (double)samples, (double)tot.decode_ns[v] / (double)samples);
    bchunk_dec_free(dec);
    free(tmp);
    sample_vec_free(&sv);
    series_set_free(set);
    matcher_free(m);
    querier_close(q);
    db_close(db);
    return 0;
}
