/* api_status.c owns the health, readiness and status endpoints (/-/healthy, /-/ready,
 * /api/v1/status/...) and the empty answers for rules and alerts that Grafana and promtool ask
 * for; everything is in Prometheus's response shape, filled with Metricstor's own facts. */
#include "api/api.h"
#include "api/auth.h"
#include "api/json.h"
#include "api/version.h"
#include "util/status.h"
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

void api_handle_healthy(api_t *api, const api_request_t *req, api_response_t *res)
{
    api_text(res, 200, "Metricstor is Healthy.\n");
}

void api_handle_ready(api_t *api, const api_request_t *req, api_response_t *res)
{
    if (atomic_load(&api->ready))
        api_text(res, 200, "Metricstor is Ready.\n");
    else
        api_text(res, 503, "Service Unavailable\n");
}

void api_handle_buildinfo(api_t *api, const api_request_t *req, api_response_t *res)
{
    api_json_begin(res);
    buf_t *b = &res->body;
    buf_puts(b, "{\"version\":");
    json_cstr(b, METRICSTOR_VERSION);
    buf_puts(b, ",\"revision\":");
    json_cstr(b, METRICSTOR_REVISION);
    buf_puts(b, ",\"branch\":");
    json_cstr(b, METRICSTOR_BRANCH);
    buf_puts(b, ",\"buildUser\":");
    json_cstr(b, METRICSTOR_BUILD_USER);
    buf_puts(b, ",\"buildDate\":");
    json_cstr(b, __DATE__ " " __TIME__);
    buf_puts(b, ",\"goVersion\":\"none (C11)\"}");
    api_json_end(res);
}

void api_handle_flags(api_t *api, const api_request_t *req, api_response_t *res)
{
    api_json_begin(res);
    buf_putc(&res->body, '{');
    for (size_t i = 0; i < api->n_flags; i++) {
        if (i) buf_putc(&res->body, ',');
        json_cstr(&res->body, api->flags[i].name);
        buf_putc(&res->body, ':');
        json_cstr(&res->body, api->flags[i].value);
    }
    buf_putc(&res->body, '}');
    api_json_end(res);
}

/* Formats ms as Prometheus's model.Duration prints: largest units first, "0s" for zero. */
static void format_duration(int64_t ms, char *out, size_t len)
{
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000}, {"h", 3600000},
        {"m", 60000}, {"s", 1000}, {"ms", 1},
    };
    if (ms <= 0) { snprintf(out, len, "0s"); return; }
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof units / sizeof *units && o < len; i++) {
        int64_t n = ms / units[i].ms;
        if (i <= 1 && ms % units[i].ms) continue; /* y and w only when exact, as Prometheus */
        if (!n) continue;
        ms -= n * units[i].ms;
        o += (size_t)snprintf(out + o, len - o, "%" PRId64 "%s", n, units[i].unit);
    }
}

static void format_rfc3339(int64_t ms, char *out, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void api_handle_runtimeinfo(api_t *api, const api_request_t *req, api_response_t *res)
{
    char start[64], cwd[4096], ret[64];
    db_stats_t st;
    db_stats(api->db, &st);
    format_rfc3339(api->start_time_ms, start, sizeof start);
    if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
    if (api->retention_ms > 0)
        format_duration(api->retention_ms, ret, sizeof ret);
    else
        snprintf(ret, sizeof ret, "forever");
    api_json_begin(res);
    buf_t *b = &res->body;
    buf_puts(b, "{\"startTime\":");
    json_cstr(b, start);
    buf_puts(b, ",\"CWD\":");
    json_cstr(b, cwd);
    buf_puts(b, ",\"reloadConfigSuccess\":true,\"lastConfigTime\":");
    json_cstr(b, start);
    buf_printf(b, ",\"corruptionCount\":%" PRIu64 ",\"goroutineCount\":0,\"GOMAXPROCS\":%ld,\"GOMEMLIMIT\":0,"
                  "\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":",
               st.wal_replay_corrupt, sysconf(_SC_NPROCESSORS_ONLN));
    json_cstr(b, ret);
    buf_putc(b, '}');
    api_json_end(res);
}

void api_handle_config(api_t *api, const api_request_t *req, api_response_t *res)
{
    api_json_begin(res);
    buf_puts(&res->body, "{\"yaml\":\"\"}");
    api_json_end(res);
}

static void stat_list(buf_t *b, const char *key, const db_stat_list_t *l)
{
    buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < l->n; i++) {
        buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        json_cstr(b, l->v[i].name);
        buf_printf(b, ",\"value\":%" PRIu64 "}", l->v[i].value);
    }
    buf_putc(b, ']');
}

/* Metricstor's own object, beside Prometheus's keys (clients ignore keys they do not know):
 * blocks, WAL, cut and compaction counts, and integrity figures (quarantined blocks, corrupt
 * chunks met, corrupt WAL records skipped at replay). */
static void tsdb_extra(api_t *api, buf_t *b)
{
    db_stats_t st;
    db_stats(api->db, &st);
    db_quarantined_t *q = NULL;
    size_t nq = 0;
    if (db_quarantined(api->db, &q, &nq) != MS_OK) nq = 0;
    buf_printf(b,
               ",\"metricstor\":{\"headBytes\":%" PRIu64 ",\"blocks\":%" PRIu64 ",\"blockBytes\":%" PRIu64
               ",\"blockSamples\":%" PRIu64 ",\"blockSeries\":%" PRIu64 ",\"blocksMinTime\":%" PRId64
               ",\"blocksMaxTime\":%" PRId64 ",\"walBytes\":%" PRIu64 ",\"walReplayRecords\":%" PRIu64
               ",\"walReplayCorruptRecords\":%" PRIu64 ",\"headFromSnapshot\":%s,\"blockCuts\":%" PRIu64 ",\"blockCutFailures\":%" PRIu64
               ",\"compactions\":%" PRIu64 ",\"compactionFailures\":%" PRIu64 ",\"compactionBlocksIn\":%" PRIu64
               ",\"corruptChunkReads\":%" PRIu64 ",\"quarantinedBlocks\":%zu,\"quarantine\":[",
               st.head_bytes, st.blocks, st.block_bytes, st.block_samples, st.block_series, st.blocks_mint,
               st.blocks_maxt, st.wal_bytes, st.wal_replay_records, st.wal_replay_corrupt,
               st.head_snapshot_loaded ? "true" : "false", st.cuts, st.cut_failures,
               st.compactions, st.compaction_failures, st.compaction_blocks_in, db_block_corrupt_reads(api->db), nq);
    for (size_t i = 0; i < nq; i++) {
        buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        json_cstr(b, q[i].name);
        buf_puts(b, ",\"reason\":");
        json_cstr(b, q[i].reason);
        buf_printf(b, ",\"time\":%" PRId64 ",\"bytes\":%" PRIu64 "}", q[i].time_s, q[i].bytes);
    }
    buf_puts(b, "]}");
    db_quarantined_free(q, nq);
}

/* GET /api/v1/status/tsdb in Prometheus 2.42's shape: head stats and four top-10 lists from the
 * head's index. 2.42 takes no parameters (a `limit` is ignored, as there), so neither do we. */
void api_handle_tsdb_status(api_t *api, const api_request_t *req, api_response_t *res)
{
    db_head_status_opts_t opts = {0};
    /* a tenant sees only its series, without the tenant label; the store-wide "metricstor"
     * object (blocks, WAL) only with the admin role */
    matcher_t *tm = api_tenant_matcher(req);
    const matcher_t *tms[1] = {tm};
    if (tm) {
        opts.ms = tms;
        opts.nms = 1;
        opts.hide_name = TENANT_LABEL;
        opts.hide_len = TENANT_LABEL_LEN;
    }
    db_head_status_t hs;
    int hrc = db_head_status(api->db, &opts, &hs);
    matcher_free(tm);
    if (hrc != MS_OK) {
        api_json_error(res, "internal", "computing the TSDB status failed");
        return;
    }
    api_json_begin(res);
    buf_t *b = &res->body;
    buf_printf(b,
               "{\"headStats\":{\"numSeries\":%" PRIu64 ",\"numLabelPairs\":%" PRIu64 ",\"chunkCount\":%" PRIu64
               ",\"minTime\":%" PRId64 ",\"maxTime\":%" PRId64 "}",
               hs.num_series, hs.num_label_pairs, hs.chunk_count, hs.min_time, hs.max_time);
    stat_list(b, "seriesCountByMetricName", &hs.series_by_metric);
    stat_list(b, "labelValueCountByLabelName", &hs.values_by_label);
    stat_list(b, "memoryInBytesByLabelName", &hs.memory_by_label);
    stat_list(b, "seriesCountByLabelValuePair", &hs.series_by_pair);
    if (!req->tenant || (req->roles & AUTH_ADMIN)) tsdb_extra(api, b);
    buf_putc(b, '}');
    api_json_end(res);
    db_head_status_free(&hs);
}

void api_handle_rules(api_t *api, const api_request_t *req, api_response_t *res)
{
    api_json_begin(res);
    buf_puts(&res->body, "{\"groups\":[]}");
    api_json_end(res);
}

void api_handle_alerts(api_t *api, const api_request_t *req, api_response_t *res)
{
    api_json_begin(res);
    buf_puts(&res->body, "{\"alerts\":[]}");
    api_json_end(res);
}
