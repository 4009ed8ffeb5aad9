/* api_status.c owns the health, readiness and status endpoints (/-/healthy, /-/ready,
 * /api/v1/status/...) and the empty answers for rules and alerts that Grafana and promtool ask
 * for; everything is in Prometheus's response shape, filled with Metricstor's own facts. */
#include "api/api.h"
#include "api/json.h"
#include "api/version.h"
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

void api_handle_tsdb_status(api_t *api, const api_request_t *req, api_response_t *res)
{
    db_stats_t st;
    db_stats(api->db, &st);
    api_json_begin(res);
    buf_printf(&res->body,
               "{\"headStats\":{\"numSeries\":%" PRIu64 ",\"numLabelPairs\":0,\"chunkCount\":%" PRIu64
               ",\"minTime\":%" PRId64 ",\"maxTime\":%" PRId64 "},\"seriesCountByMetricName\":[],"
               "\"labelValueCountByLabelName\":[],\"memoryInBytesByLabelName\":[],\"seriesCountByLabelValuePair\":[]}",
               st.series, st.head_chunks, st.head_mint, st.head_maxt);
    api_json_end(res);
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
