/* main.c owns the metricstor process: command-line flags, opening the database and the PromQL
 * engine, starting the HTTP server, and the clean shutdown on SIGTERM/SIGINT (stop accepting,
 * drain in-flight requests, stop HTTP, close the engine and the db so the WAL is flushed). */
#include "api/api.h"
#include "api/auth.h"
#include "api/http_server.h"
#include "api/params.h"
#include "api/selfmon.h"
#include "api/version.h"
#include "ingest/remote_write.h"
#include "promql/promql.h"
#include "storage/storage.h"
#include "util/clock.h"
#include "util/log.h"
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct flag {
    const char *name;     /* without the leading "--" */
    const char *dflt;
    const char *help;
    const char *value;    /* current value (dflt until set) */
} flag_t;

enum {
    F_HTTP_ADDR, F_DATA_DIR, F_ADMIN_API, F_RETENTION, F_RETENTION_SIZE, F_HEAD_WINDOW, F_COMPACTION, F_HEAD_SNAPSHOT, F_MAX_BLOCK_RANGE, F_LOG_LEVEL, F_WAL_FSYNC, F_MAX_FUTURE, F_MAX_REQUEST_BYTES,
    F_LOOKBACK, F_QUERY_TIMEOUT, F_MAX_SAMPLES, F_MAX_CONCURRENCY, F_MAX_POINTS,
    F_MAX_CONC_WRITES, F_MAX_REQ_SAMPLES, F_MAX_LABELS, F_MAX_LNAME, F_MAX_LVALUE, F_MAX_MATCH, F_MAX_SERIES, F_SELF_SCRAPE,
    F_SELF_SCRAPE_TENANT, F_TLS_CERT, F_TLS_KEY, F_AUTH_FILE, F_COUNT
};

static flag_t flags[F_COUNT] = {
    [F_HTTP_ADDR] = {"http-addr", "127.0.0.1:9101", "address to listen on (host:port)", NULL},
    [F_DATA_DIR] = {"data-dir", "./data", "directory for the WAL and blocks", NULL},
    [F_RETENTION] = {"retention", "15d", "how long to keep samples (e.g. 15d, 12h); 0 keeps forever", NULL},
    [F_RETENTION_SIZE] = {"retention-size", "0",
                          "delete the oldest blocks while blocks take more than this (e.g. 512MB, 10GB; "
                          "units are powers of 1024); 0: no limit", NULL},
    [F_HEAD_WINDOW] = {"storage.head-window", "2h",
                       "keep this much recent data in memory; older samples are cut into on-disk blocks (0: never)",
                       NULL},
    [F_ADMIN_API] = {"web.enable-admin-api", "false",
                     "serve /api/v1/admin/tsdb/* (delete_series, clean_tombstones, flush, compact); without it "
                     "they answer 500 \"admin APIs disabled\" as Prometheus does", NULL},
    [F_COMPACTION] = {"storage.compaction", "true",
                      "merge on-disk blocks in the background (2h -> 6h -> 24h); false: only when asked", NULL},
    [F_HEAD_SNAPSHOT] = {"storage.head-snapshot", "true",
                         "at a clean shutdown, snapshot the in-memory head so the next start loads it instead of "
                         "replaying the WAL (used only if the WAL is unchanged; a crash always replays the WAL)",
                         NULL},
    [F_MAX_BLOCK_RANGE] = {"storage.max-block-range", "24h",
                           "largest time span compaction builds one block for (2h, 6h or 24h; also at most "
                           "retention/10)", NULL},
    [F_LOG_LEVEL] = {"log-level", "info", "debug, info, warn or error", NULL},
    [F_WAL_FSYNC] = {"wal-fsync", "always", "always, never, or an interval such as 1s", NULL},
    [F_MAX_FUTURE] = {"max-future", "10m", "drop samples further than this ahead of now", NULL},
    [F_MAX_REQUEST_BYTES] = {"max-request-bytes", "33554432",
                             "largest request body, compressed or decompressed remote_write", NULL},
    [F_LOOKBACK] = {"query.lookback-delta", "5m", "how far back an instant selector looks for a sample", NULL},
    [F_QUERY_TIMEOUT] = {"query.timeout", "2m", "maximum time a query may run", NULL},
    [F_MAX_SAMPLES] = {"query.max-samples", "50000000", "maximum samples a query may hold in memory", NULL},
    [F_MAX_CONCURRENCY] = {"query.max-concurrency", "20", "maximum queries executing at once", NULL},
    [F_MAX_POINTS] = {"query.max-points-per-series", "11000", "maximum points per series in a range query", NULL},
    [F_MAX_CONC_WRITES] = {"max-concurrent-writes", "32",
                           "remote_write requests handled at once; excess get 429 with Retry-After", NULL},
    [F_MAX_REQ_SAMPLES] = {"max-samples-per-request", "1000000", "samples in one remote_write request", NULL},
    [F_MAX_LABELS] = {"max-labels-per-series", "128", "labels of one written series", NULL},
    [F_MAX_LNAME] = {"max-label-name-length", "1024", "bytes in a written label name", NULL},
    [F_MAX_LVALUE] = {"max-label-value-length", "8192", "bytes in a written label value", NULL},
    [F_MAX_MATCH] = {"max-match-selectors", "1000", "match[] selectors in one request", NULL},
    [F_MAX_SERIES] = {"max-series-per-request", "1000000",
                      "series one /api/v1/series answer may list; more: 422 unless the request's limit= is lower "
                      "(0: no cap)", NULL},
    [F_SELF_SCRAPE] = {"self-scrape-interval", "0",
                       "append our own /metrics into storage this often (job=\"metricstor\"); 0: off", NULL},
    [F_SELF_SCRAPE_TENANT] = {"self-scrape-tenant", "",
                              "tenant that owns the self-scrape's series (with --auth-file); empty: no tenant, so "
                              "only an open server shows them", NULL},
    [F_TLS_CERT] = {"tls-cert-file", "", "PEM certificate (chain) for HTTPS; with --tls-key-file, serve HTTPS only", NULL},
    [F_TLS_KEY] = {"tls-key-file", "", "PEM private key for --tls-cert-file", NULL},
    [F_AUTH_FILE] = {"auth-file", "",
                     "credentials file (bearer tokens / basic-auth users as salted hashes, each with a tenant and "
                     "a role; README \"Security\"); empty: no authentication, one tenant", NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: metricstor [flags]\n\nA Prometheus-compatible metrics store (remote_write in, PromQL out).\n\n"
               "flags (also accepted as --flag=value):\n");
    for (int i = 0; i < F_COUNT; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s", flags[i].name);
        fprintf(f, "  %-32s %s (default %s)\n", left, flags[i].help, flags[i].dflt);
    }
    fprintf(f, "  %-32s %s\n  %-32s %s\n", "--version", "print the version and exit", "--help", "print this help and exit");
}

static void die_usage(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "metricstor: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\nrun 'metricstor --help' for the list of flags\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 0; i < F_COUNT; i++) flags[i].value = flags[i].dflt;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); exit(0); }
        if (!strcmp(a, "--version")) { printf("metricstor %s\n", METRICSTOR_VERSION); exit(0); }
        if (strncmp(a, "--", 2) != 0) die_usage("unexpected argument %s%s", a, "");
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        int f = -1;
        for (int k = 0; k < F_COUNT; k++)
            if (strlen(flags[k].name) == nl && !strncmp(flags[k].name, name, nl)) f = k;
        if (f < 0) die_usage("unknown flag %s%s", a, "");
        bool boolean = !strcmp(flags[f].dflt, "true") || !strcmp(flags[f].dflt, "false");
        if (eq) {
            flags[f].value = eq + 1;
        } else if (boolean && (i + 1 >= argc || (strcmp(argv[i + 1], "true") && strcmp(argv[i + 1], "false")))) {
            flags[f].value = "true"; /* a boolean flag alone means true, as in Prometheus */
        } else {
            if (i + 1 >= argc) die_usage("flag --%s needs a value%s", flags[f].name, "");
            flags[f].value = argv[++i];
        }
    }
}

static int64_t duration_flag(int f, bool allow_zero)
{
    int64_t ms;
    char err[256];
    if (params_parse_duration(flags[f].value, &ms, err, sizeof err) != 0)
        die_usage("invalid value for --%s: %s", flags[f].name, err);
    if (ms < 0 || (!allow_zero && ms == 0)) die_usage("invalid value for --%s: %s must be positive", flags[f].name,
                                                      flags[f].value);
    return ms;
}

/* A byte size: an integer with an optional B, KB, MB, GB, TB suffix (powers of 1024, as
 * Prometheus's --storage.tsdb.retention.size reads them); 0 allowed. */
static int64_t size_flag(int f)
{
    const char *s = flags[f].value;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    static const char *units[] = {"", "B", "KB", "MB", "GB", "TB"};
    static const int shift[] = {0, 0, 10, 20, 30, 40};
    int u = -1;
    for (int i = 0; i < 6 && end != s; i++)
        if (!strcmp(end, units[i])) u = i;
    if (!*s || *s == '-' || errno || u < 0 || v > (unsigned long long)(INT64_MAX >> shift[u]))
        die_usage("invalid value for --%s: %s (want bytes, e.g. 512MB)", flags[f].name, s);
    return (int64_t)(v << shift[u]);
}

static uint64_t uint_flag(int f)
{
    const char *s = flags[f].value;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || *s == '-' || v == 0)
        die_usage("invalid value for --%s: %s (want a positive integer)", flags[f].name, s);
    return v;
}

int main(int argc, char **argv)
{
    /* A fixed mmap threshold: glibc otherwise raises it up to 32 MiB after the first big buffer
     * is freed, so later query and request buffers are carved from the arenas and leave holes
     * there; mmapped ones go back to the OS on free (bench round: steady RSS -0.6 MiB). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    /* Signals are taken synchronously by sigwait below; block them before any thread exists so
     * every thread inherits the mask. A vanished client must not kill us with SIGPIPE. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    parse_args(argc, argv);

    log_level_t lvl;
    if (log_parse_level(flags[F_LOG_LEVEL].value, &lvl) != 0)
        die_usage("invalid value for --log-level: %s%s (want debug, info, warn or error)", flags[F_LOG_LEVEL].value, "");
    log_set_level(lvl);

    db_options_t dbo;
    db_options_default(&dbo);
    dbo.data_dir = flags[F_DATA_DIR].value;
    if (!*dbo.data_dir) die_usage("invalid value for --data-dir: empty%s%s", "", "");
    dbo.retention_ms = duration_flag(F_RETENTION, true);
    dbo.head_window_ms = duration_flag(F_HEAD_WINDOW, true);
    const char *adm = flags[F_ADMIN_API].value;
    if (strcmp(adm, "true") != 0 && strcmp(adm, "false") != 0)
        die_usage("invalid value for --web.enable-admin-api: %s%s (want true or false)", adm, "");
    const char *comp = flags[F_COMPACTION].value;
    if (strcmp(comp, "true") != 0 && strcmp(comp, "false") != 0)
        die_usage("invalid value for --storage.compaction: %s%s (want true or false)", comp, "");
    dbo.no_compaction = !strcmp(comp, "false");
    const char *snap = flags[F_HEAD_SNAPSHOT].value;
    if (strcmp(snap, "true") != 0 && strcmp(snap, "false") != 0)
        die_usage("invalid value for --storage.head-snapshot: %s%s (want true or false)", snap, "");
    dbo.no_head_snapshot = !strcmp(snap, "false");
    dbo.max_block_range_ms = duration_flag(F_MAX_BLOCK_RANGE, false);
    dbo.retention_bytes = size_flag(F_RETENTION_SIZE);
    dbo.max_future_ms = duration_flag(F_MAX_FUTURE, true);
    const char *fs = flags[F_WAL_FSYNC].value;
    if (!strcmp(fs, "always")) {
        dbo.wal_fsync = WAL_FSYNC_ALWAYS;
    } else if (!strcmp(fs, "never")) {
        dbo.wal_fsync = WAL_FSYNC_NEVER;
    } else {
        int64_t ms;
        char err[256];
        if (params_parse_duration(fs, &ms, err, sizeof err) != 0 || ms <= 0)
            die_usage("invalid value for --wal-fsync: %s%s (want always, never or a positive duration)", fs, "");
        dbo.wal_fsync = WAL_FSYNC_INTERVAL;
        dbo.wal_fsync_interval_ms = ms;
    }
    uint64_t max_req = uint_flag(F_MAX_REQUEST_BYTES);
    char aerr[256];
    if (http_addr_check(flags[F_HTTP_ADDR].value, aerr, sizeof aerr) != 0) die_usage("%s%s", aerr, "");

    promql_options_t po;
    promql_options_default(&po);
    po.lookback_delta_ms = duration_flag(F_LOOKBACK, false);
    po.default_timeout_ms = duration_flag(F_QUERY_TIMEOUT, false);
    po.max_samples = uint_flag(F_MAX_SAMPLES);
    uint64_t conc = uint_flag(F_MAX_CONCURRENCY);
    if (conc > 100000) die_usage("invalid value for --query.max-concurrency: %s%s (too large)", flags[F_MAX_CONCURRENCY].value, "");
    po.max_concurrent = (int)conc;
    po.max_points_per_series = uint_flag(F_MAX_POINTS);
    uint64_t max_req_samples = uint_flag(F_MAX_REQ_SAMPLES), max_labels = uint_flag(F_MAX_LABELS);
    uint64_t max_lname = uint_flag(F_MAX_LNAME), max_lvalue = uint_flag(F_MAX_LVALUE);
    uint64_t max_match = uint_flag(F_MAX_MATCH), wconc = uint_flag(F_MAX_CONC_WRITES);
    if (wconc > 100000) die_usage("invalid value for --max-concurrent-writes: %s%s (too large)",
                                  flags[F_MAX_CONC_WRITES].value, "");

    log_info("starting metricstor version %s", METRICSTOR_VERSION);
    for (int i = 0; i < F_COUNT; i++) log_info("config --%s=%s", flags[i].name, flags[i].value);

    char err[512] = "";
    const char *tls_cert = flags[F_TLS_CERT].value, *tls_key = flags[F_TLS_KEY].value;
    if (!*tls_cert != !*tls_key) die_usage("--tls-cert-file and --tls-key-file go together%s%s", "", "");
    const char *sst = flags[F_SELF_SCRAPE_TENANT].value;
    if (*sst && !auth_tenant_valid(sst, strlen(sst)))
        die_usage("--self-scrape-tenant %s: a tenant is 1..64 of [A-Za-z0-9_.:-]%s", sst, "");
    auth_t *auth = NULL;
    if (*flags[F_AUTH_FILE].value) {
        if (auth_load(flags[F_AUTH_FILE].value, &auth, err, sizeof err) != 0) {
            log_error("%s", err);
            return 1;
        }
        log_info("auth: %zu credentials from %s; every request but /-/healthy and /-/ready needs one, each "
                 "tenant sees only its own series", auth_count(auth), flags[F_AUTH_FILE].value);
    } else {
        log_warn("auth: no --auth-file: the server is OPEN (no authentication, one tenant) to anyone who can "
                 "reach %s", flags[F_HTTP_ADDR].value);
    }
    db_t *db = NULL;
    if (db_open(&dbo, &db, err, sizeof err) != 0) {
        log_error("cannot open database in %s: %s", dbo.data_dir, err);
        auth_free(auth);
        return 1;
    }
    promql_engine_t *engine = NULL;
    if (promql_engine_new(db, &po, &engine) != 0) {
        log_error("cannot create the PromQL engine");
        db_close(db);
        auth_free(auth);
        return 1;
    }

    static api_flag_t api_flags[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) api_flags[i] = (api_flag_t){flags[i].name, flags[i].value};
    static api_t api;
    memset(&api, 0, sizeof api);
    api.db = db;
    api.engine = engine;
    rw_limits_default(&api.rw_limits);
    api.rw_limits.max_decompressed_bytes = (size_t)max_req;
    api.max_request_bytes = (size_t)max_req;
    api.query_timeout_ms = po.default_timeout_ms;
    api.max_points_per_series = po.max_points_per_series;
    api.rw_limits.max_samples = (size_t)max_req_samples;
    api.rw_limits.max_labels_per_series = (size_t)max_labels;
    api.rw_limits.max_label_name_len = (size_t)max_lname;
    api.rw_limits.max_label_value_len = (size_t)max_lvalue;
    api.max_match_selectors = (size_t)max_match;
    api.max_series_returned = (size_t)uint_flag(F_MAX_SERIES);
    api.max_concurrent_writes = (unsigned)wconc;
    api.max_concurrent_queries = (unsigned)po.max_concurrent;
    api.data_dir = dbo.data_dir;
    api.retention_ms = dbo.retention_ms;
    api.flags = api_flags;
    api.n_flags = F_COUNT;
    api.start_time_ms = clock_now_ms();
    api.auth = auth;
    api.admin_api_enabled = !strcmp(flags[F_ADMIN_API].value, "true");
    int64_t self_scrape_ms = duration_flag(F_SELF_SCRAPE, true);
    selfmon_new(&api.selfmon);
    atomic_init(&api.ready, false);

    http_options_t ho = {.addr = flags[F_HTTP_ADDR].value,
                         .tls_cert_file = *tls_cert ? tls_cert : NULL,
                         .tls_key_file = *tls_key ? tls_key : NULL};
    http_server_t *srv = NULL;
    if (http_server_start(&api, &ho, &srv, err, sizeof err) != 0) {
        log_error("%s", err);
        promql_engine_free(engine);
        db_close(db);
        auth_free(auth);
        return 1;
    }
    http_server_log_routes();
    atomic_store(&api.ready, true);
    log_info("ready");
    const char *ss_tenant = flags[F_SELF_SCRAPE_TENANT].value;
    if (self_scrape_ms > 0 && auth && !*ss_tenant)
        log_warn("self-scrape: no --self-scrape-tenant, so with --auth-file no tenant can read its series");
    selfmon_set_tenant(api.selfmon, ss_tenant);
    if (self_scrape_ms > 0 && selfmon_scrape_start(api.selfmon, db, self_scrape_ms, flags[F_HTTP_ADDR].value) != 0)
        log_error("cannot start the self-scrape thread");

    int sig = 0;
    /* While waiting for a signal, give freed heap pages back to the OS every 2 s: glibc keeps
     * them after a burst (a big query's working set, an ingest spike), and with one malloc arena
     * per thread they would otherwise stay resident for good. jemalloc's dirty-page decay and
     * Go's scavenger do the same. A trim with nothing to give back costs well under a ms. */
    for (;;) {
        struct timespec wait = {2, 0};
        sig = sigtimedwait(&sigs, NULL, &wait);
        if (sig > 0) break;
        if (errno == EAGAIN) malloc_trim(0);
    }
    log_info("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    atomic_store(&api.ready, false);
    /* In-flight queries end by their own timeout at the latest; don't wait past 30 s. */
    int64_t drain = po.default_timeout_ms + 1000;
    if (drain > 30000) drain = 30000;
    http_server_stop(srv, drain);
    selfmon_free(api.selfmon); /* joins the self-scrape thread before the db goes */
    promql_engine_free(engine);
    db_close(db);
    auth_free(auth);
    log_info("stopped");
    return 0;
}
