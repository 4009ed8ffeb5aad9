/* selfmon.c owns the self-monitoring instruments of selfmon.h, the GET /metrics exposition built
 * from them plus db_stats and /proc, and the self-scrape thread. */
#include "api/selfmon.h"
#include "api/version.h"
#include "ingest/textfmt.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/status.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HANDLERS 48
static const int status_codes[] = {200, 204, 400, 404, 405, 406, 413, 422, 429, 499, 500, 503};
#define N_CODES (sizeof status_codes / sizeof *status_codes)

static const char *const reject_names[SELFMON_REJECT_N] = {"too_old", "too_new", "invalid_series", "syntax",
                                                           "storage"};

typedef struct handler_stats {
    _Atomic(const char *) name;           /* claimed once by CAS, then never changes */
    metrics_counter_t by_code[N_CODES + 1]; /* last: any other status */
    metrics_histogram_t duration;
} handler_stats_t;

struct selfmon {
    handler_stats_t handlers[MAX_HANDLERS];
    metrics_counter_t rejected[SELFMON_REJECT_N];
    metrics_counter_t imported_samples, imported_series;
    metrics_counter_t scrapes, scrape_failures;
    metrics_histogram_t query_instant, query_range; /* PromQL request durations, by kind */
    int64_t start_ms;
    /* self-scrape thread */
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    db_t *db;
    int64_t interval_ms;
    char *instance;
    char *tenant; /* NULL: the self-scrape's series carry no tenant label */
};

void selfmon_new(selfmon_t **out)
{
    selfmon_t *m = xcalloc(1, sizeof *m);
    for (size_t i = 0; i < MAX_HANDLERS; i++) {
        atomic_init(&m->handlers[i].name, NULL);
        metrics_histogram_init(&m->handlers[i].duration, metrics_latency_buckets, metrics_latency_buckets_n);
    }
    metrics_histogram_init(&m->query_instant, metrics_latency_buckets, metrics_latency_buckets_n);
    metrics_histogram_init(&m->query_range, metrics_latency_buckets, metrics_latency_buckets_n);
    m->start_ms = clock_now_ms();
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    *out = m;
}

void selfmon_free(selfmon_t *m)
{
    if (!m) return;
    selfmon_scrape_stop(m);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m->instance);
    free(m->tenant);
    free(m);
}

/* The slot of a handler name, claiming a free one on first use; NULL when the table is full. */
static handler_stats_t *handler_slot(selfmon_t *m, const char *name)
{
    for (size_t i = 0; i < MAX_HANDLERS; i++) {
        handler_stats_t *h = &m->handlers[i];
        const char *cur = atomic_load(&h->name);
        if (!cur) {
            const char *expected = NULL;
            if (atomic_compare_exchange_strong(&h->name, &expected, name)) return h;
            cur = expected;
        }
        if (cur == name || !strcmp(cur, name)) return h;
    }
    return NULL;
}

void selfmon_request(selfmon_t *m, const char *handler, int status, double seconds)
{
    if (!m || !handler) return;
    handler_stats_t *h = handler_slot(m, handler);
    if (!h) return;
    size_t c = 0;
    while (c < N_CODES && status_codes[c] != status) c++;
    metrics_counter_add(&h->by_code[c], 1);
    metrics_histogram_observe(&h->duration, seconds);
    if (!strcmp(handler, "/api/v1/query")) metrics_histogram_observe(&m->query_instant, seconds);
    else if (!strcmp(handler, "/api/v1/query_range")) metrics_histogram_observe(&m->query_range, seconds);
}

void selfmon_rejected(selfmon_t *m, selfmon_reject_t reason, uint64_t samples)
{
    if (m && reason < SELFMON_REJECT_N && samples) metrics_counter_add(&m->rejected[reason], samples);
}

void selfmon_imported(selfmon_t *m, uint64_t samples, uint64_t series_created)
{
    if (!m) return;
    metrics_counter_add(&m->imported_samples, samples);
    metrics_counter_add(&m->imported_series, series_created);
}

/* Resident set size from /proc/self/statm (second field, in pages); 0 if unreadable. */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? resident * (uint64_t)page : 0;
}

static void write_handler_label(buf_t *lb, const char *name)
{
    buf_puts(lb, "handler=\"");
    metrics_escape_label_value(lb, name, strlen(name));
    buf_putc(lb, '"');
}

void selfmon_render(selfmon_t *m, db_t *db, buf_t *b)
{
    db_stats_t st;
    memset(&st, 0, sizeof st);
    if (db) db_stats(db, &st);
    buf_t lb = BUF_INIT;

    metrics_write_header(b, "metricstor_build_info", "gauge", "Metricstor version; always 1.");
    metrics_write_u64(b, "metricstor_build_info", "version=\"" METRICSTOR_VERSION "\",revision=\"" METRICSTOR_REVISION "\"", 1);

    metrics_write_one_u64(b, "metricstor_samples_appended_total", "counter", "Samples appended to storage since start (remote_write, import and self-scrape).", st.samples_appended);
    metrics_write_one_u64(b, "metricstor_import_samples_total", "counter", "Samples stored by /api/v1/import and /api/v1/import/prometheus.", m ? metrics_counter_get(&m->imported_samples) : 0);
    metrics_write_header(b, "metricstor_import_series_created_total", "counter",
                         "Series created by /api/v1/import and /api/v1/import/prometheus.");
    metrics_write_u64(b, "metricstor_import_series_created_total", NULL,
                      m ? metrics_counter_get(&m->imported_series) : 0);
    metrics_write_header(b, "metricstor_samples_rejected_total", "counter", "Samples refused, by reason.");
    for (int r = 0; r < SELFMON_REJECT_N; r++) {
        buf_reset(&lb);
        buf_printf(&lb, "reason=\"%s\"", reject_names[r]);
        metrics_write_u64(b, "metricstor_samples_rejected_total", buf_cstr(&lb),
                          m ? metrics_counter_get(&m->rejected[r]) : 0);
    }

    metrics_write_one_u64(b, "metricstor_head_series", "gauge", "Active series in the head.", st.series);
    metrics_write_one_u64(b, "metricstor_head_chunks", "gauge", "Chunks in the head.", st.head_chunks);
    metrics_write_one_u64(b, "metricstor_head_bytes", "gauge", "Memory held by head structures (series, chunks, index).", st.head_bytes);
    metrics_write_one_double(b, "metricstor_head_min_time_seconds", "gauge", "Oldest sample timestamp in the head.", (double)st.head_mint / 1000.0);
    metrics_write_one_double(b, "metricstor_head_max_time_seconds", "gauge", "Newest sample timestamp in the head.", (double)st.head_maxt / 1000.0);
    metrics_write_one_u64(b, "metricstor_wal_bytes", "gauge", "Size of the write-ahead log on disk.", st.wal_bytes);
    if (st.wal_fsync_seconds) {
        metrics_write_header(b, "metricstor_wal_fsync_duration_seconds", "histogram",
                             "Latency of the WAL's fdatasync calls (group commit, interval sync, segment cut).");
        metrics_write_histogram(b, "metricstor_wal_fsync_duration_seconds", NULL, st.wal_fsync_seconds);
    }
    metrics_write_one_u64(b, "metricstor_wal_write_failures_total", "counter",
                          "Failed WAL writes, fsyncs and segment creations; each refused its write with 503.",
                          st.wal_write_failures);
    metrics_write_one_u64(b, "metricstor_wal_writable", "gauge",
                          "1 while the WAL persists writes; 0 from a failed write until one persists again.",
                          st.wal_writable ? 1 : 0);
    metrics_write_one_u64(b, "metricstor_wal_replay_records", "gauge", "WAL records replayed at start.", st.wal_replay_records);
    metrics_write_one_u64(b, "metricstor_wal_replay_corrupt_records", "gauge", "Corrupt WAL records skipped at start.", st.wal_replay_corrupt);
    metrics_write_one_double(b, "metricstor_wal_replay_duration_seconds", "gauge",
                             "Time the WAL replay (or the head snapshot load standing in for it) took at start.",
                             (double)st.wal_replay_ms / 1000.0);
    metrics_write_one_u64(b, "metricstor_head_snapshot_loaded", "gauge",
                          "1 when the head was loaded from the snapshot a clean shutdown wrote, 0 when the WAL was replayed.",
                          st.head_snapshot_loaded ? 1 : 0);
    metrics_write_one_u64(b, "metricstor_blocks", "gauge", "On-disk blocks.", st.blocks);
    metrics_write_one_u64(b, "metricstor_block_bytes", "gauge", "Size of the on-disk blocks.", st.block_bytes);
    metrics_write_one_u64(b, "metricstor_block_cuts_total", "counter", "Head-to-block cuts since start.", st.cuts);
    metrics_write_one_u64(b, "metricstor_block_cut_failures_total", "counter", "Failed head-to-block cuts since start.", st.cut_failures);
    metrics_write_one_u64(b, "metricstor_ingest_backpressure_waits_total", "counter",
                          "Commits of old samples that waited for the block cut (a backfill ahead of it).",
                          st.ingest_backpressure_waits);
    metrics_write_one_u64(b, "metricstor_ingest_backpressure_rejections_total", "counter",
                          "Of those, commits refused after the wait (HTTP 429 with Retry-After; nothing stored).",
                          st.ingest_backpressure_rejections);
    metrics_write_one_u64(b, "metricstor_compactions_total", "counter", "Block merges (compactions) since start.", st.compactions);
    metrics_write_one_u64(b, "metricstor_compaction_failures_total", "counter", "Failed block merges since start.", st.compaction_failures);
    metrics_write_one_u64(b, "metricstor_compaction_blocks_merged_total", "counter", "Input blocks merged away by compaction since start.", st.compaction_blocks_in);
    metrics_write_one_double(b, "metricstor_compaction_seconds_total", "counter", "Time spent merging blocks since start.", (double)st.compaction_ms / 1000.0);
    db_quarantined_t *quar = NULL;
    size_t nquar = 0;
    if (db_quarantined(db, &quar, &nquar) != MS_OK) nquar = 0;
    db_quarantined_free(quar, nquar);
    metrics_write_one_u64(b, "metricstor_quarantined_blocks", "gauge", "Damaged block directories moved to <data_dir>/quarantine (also by earlier runs).", nquar);
    metrics_write_one_u64(b, "metricstor_block_corrupt_reads_total", "counter", "Corrupt chunks or index entries met reading the loaded blocks (read as empty).", db_block_corrupt_reads(db));

    metrics_write_header(b, "metricstor_http_requests_total", "counter", "HTTP requests handled, by handler and status code.");
    for (size_t i = 0; m && i < MAX_HANDLERS; i++) {
        const char *name = atomic_load(&m->handlers[i].name);
        if (!name) break;
        for (size_t c = 0; c <= N_CODES; c++) {
            uint64_t v = metrics_counter_get(&m->handlers[i].by_code[c]);
            if (!v) continue;
            buf_reset(&lb);
            write_handler_label(&lb, name);
            if (c < N_CODES) buf_printf(&lb, ",code=\"%d\"", status_codes[c]);
            else buf_puts(&lb, ",code=\"other\"");
            metrics_write_u64(b, "metricstor_http_requests_total", buf_cstr(&lb), v);
        }
    }
    metrics_write_header(b, "metricstor_http_request_duration_seconds", "histogram",
                         "Time spent in each handler; /api/v1/query and /api/v1/query_range are the query durations.");
    for (size_t i = 0; m && i < MAX_HANDLERS; i++) {
        const char *name = atomic_load(&m->handlers[i].name);
        if (!name) break;
        buf_reset(&lb);
        write_handler_label(&lb, name);
        metrics_write_histogram(b, "metricstor_http_request_duration_seconds", buf_cstr(&lb), &m->handlers[i].duration);
    }

    metrics_write_header(b, "metricstor_query_duration_seconds", "histogram",
                         "PromQL query requests (parse, evaluation and JSON), by kind.");
    if (m) {
        metrics_write_histogram(b, "metricstor_query_duration_seconds", "kind=\"instant\"", &m->query_instant);
        metrics_write_histogram(b, "metricstor_query_duration_seconds", "kind=\"range\"", &m->query_range);
    }

    metrics_write_one_u64(b, "metricstor_self_scrapes_total", "counter", "Self-scrapes appended to storage.", m ? metrics_counter_get(&m->scrapes) : 0);
    metrics_write_one_u64(b, "metricstor_self_scrape_failures_total", "counter", "Self-scrapes that failed (storage refused or output did not parse).", m ? metrics_counter_get(&m->scrape_failures) : 0);

    metrics_write_one_u64(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss_bytes());
    metrics_write_one_double(b, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", m ? (double)m->start_ms / 1000.0 : 0);
    buf_free(&lb);
}

/* ---- self-scrape ---- */

int selfmon_scrape_once(selfmon_t *m, db_t *db, const char *instance, int64_t now_ms)
{
    buf_t body = BUF_INIT;
    selfmon_render(m, db, &body);
    textfmt_doc_t doc;
    char err[256];
    int rc = textfmt_parse((const char *)body.data, body.len, NULL, &doc, NULL, err, sizeof err);
    if (rc != 0) { /* our own output must parse; say so loudly if it does not */
        log_error("self-scrape: own /metrics output does not parse: %s", err);
        buf_free(&body);
        metrics_counter_add(&m->scrape_failures, 1);
        return rc;
    }
    appender_t *a = NULL;
    rc = db_appender(db, &a);
    if (rc == 0 && m->tenant) rc = appender_set_tenant(a, m->tenant, strlen(m->tenant));
    /* One label array for the whole batch: the appender borrows labels until the commit. */
    label_t *all = xmalloc((doc.n_labels + 2 * doc.n_samples + 1) * sizeof *all);
    size_t used = 0, ilen = strlen(instance);
    for (size_t i = 0; rc == 0 && i < doc.n_samples; i++) {
        const textfmt_sample_t *s = &doc.samples[i];
        label_t *ls = all + used;
        memcpy(ls, s->labels, s->n_labels * sizeof *ls);
        ls[s->n_labels] = (label_t){"instance", instance, 8, (uint32_t)ilen};
        ls[s->n_labels + 1] = (label_t){"job", "metricstor", 3, 10};
        size_t n = s->n_labels + 2;
        labels_sort(ls, n);
        n = labels_drop_empty(ls, n);
        used += n;
        if (labels_validate(ls, n) != LABELS_OK) continue;
        sample_t smp = {now_ms, s->v};
        rc = appender_add(a, ls, n, labels_hash(ls, n), &smp, 1);
    }
    for (size_t i = 0; rc == 0 && i < doc.n_meta; i++) {
        const textfmt_meta_t *md = &doc.meta[i];
        rc = appender_add_metadata(a, md->metric, strlen(md->metric), md->type, strlen(md->type), md->help,
                                   strlen(md->help), md->unit, strlen(md->unit));
    }
    append_result_t ar;
    if (rc == 0) rc = appender_commit(a, &ar); /* the label bytes (body, doc) are still alive here */
    else appender_rollback(a);
    free(all);
    textfmt_doc_free(&doc);
    buf_free(&body);
    metrics_counter_add(rc == 0 ? &m->scrapes : &m->scrape_failures, 1);
    return rc;
}

static void *scrape_main(void *arg)
{
    selfmon_t *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (m->interval_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(m->interval_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &ts) == 0) {}
        if (m->stop) break;
        pthread_mutex_unlock(&m->mu);
        int rc = selfmon_scrape_once(m, m->db, m->instance, clock_now_ms());
        if (rc != 0) log_warn("self-scrape failed: %s", ms_strerror(rc));
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

void selfmon_set_tenant(selfmon_t *m, const char *tenant)
{
    free(m->tenant);
    m->tenant = tenant && *tenant ? xstrdup(tenant) : NULL;
}

int selfmon_scrape_start(selfmon_t *m, db_t *db, int64_t interval_ms, const char *instance)
{
    if (!m || !db || interval_ms <= 0 || m->running) return MS_EINVAL;
    m->db = db;
    m->interval_ms = interval_ms;
    free(m->instance);
    m->instance = xstrdup(instance ? instance : "");
    m->stop = false;
    if (pthread_create(&m->thread, NULL, scrape_main, m) != 0) return MS_EIO;
    m->running = true;
    return MS_OK;
}

void selfmon_scrape_stop(selfmon_t *m)
{
    if (!m || !m->running) return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    m->running = false;
}
