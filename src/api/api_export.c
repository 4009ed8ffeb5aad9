/* api_export.c owns GET/POST /api/v1/export: every raw sample of the series matching match[] in
 * [start, end], one series per line, as JSON lines (the VictoriaMetrics shape, which
 * /api/v1/import reads back exactly) or, with format=prometheus, the text exposition format with
 * millisecond timestamps (which /api/v1/import/prometheus reads back).
 *
 * Special values. JSON has no NaN or infinities, so those values are the strings "NaN", "+Inf"
 * and "-Inf", and Prometheus's staleness marker (the NaN with bits 0x7ff0000000000002) is the
 * string "stale"; every other value is a JSON number printed with the shortest digits that read
 * back to the same double, so import restores the exact bits. The text format can spell NaN and
 * the infinities but has no staleness marker: format=prometheus leaves stale markers out (use the
 * JSON lines for an exact copy), and series without a __name__ are left out of it too.
 *
 * Buffering: the answer is built whole, then sent. A querier holds the db's gc lock shared for its
 * life, so keeping one open while a slow client drains a stream would stall block cuts and
 * retention; a streamed export needs batches of series each read under its own short querier
 * (and a streaming response in http_server.c). Until then the body size is the export's size,
 * bounded by the queries' sample budget (--query.max-samples: past it, 422); exports also count
 * against the query concurrency limit (http_server.c) and stop when the client has gone away. */
#include "api/api_ops.h"
#include "api/json.h"
#include "ingest/jsonl.h"
#include "util/alloc.h"
#include "util/metrics.h"
#include "util/status.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_stale(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == JSONL_STALE_NAN_BITS;
}

typedef struct sel {
    matcher_t **ms;
    size_t n;
} sel_t;

static int labels_qsort_cmp(const void *a, const void *b)
{
    const labels_t *x = a, *y = b;
    return labels_cmp(x->v, x->n, y->v, y->n);
}

/* A series' position: which set and index, ordered by labels for the union. */
typedef struct ref {
    labels_t labels;
    size_t set, idx;
} ref_t;

static int ref_cmp(const void *a, const void *b) { return labels_qsort_cmp(&((const ref_t *)a)->labels, &((const ref_t *)b)->labels); }

static void write_json_value(buf_t *b, double v)
{
    if (is_stale(v)) buf_puts(b, "\"stale\"");
    else if (isnan(v)) buf_puts(b, "\"NaN\"");
    else if (isinf(v)) buf_puts(b, v > 0 ? "\"+Inf\"" : "\"-Inf\"");
    else if (v == 0 && signbit(v)) buf_puts(b, "-0"); /* keep the sign bit through the round trip */
    else {
        char tmp[JSON_FLOAT_MAX];
        size_t n = json_format_float(v, tmp);
        buf_append(b, tmp, n);
    }
}

static void write_json_series(buf_t *b, labels_t ls, const sample_vec_t *sv)
{
    buf_puts(b, "{\"metric\":");
    json_labels(b, ls.v, ls.n);
    buf_puts(b, ",\"values\":[");
    for (size_t i = 0; i < sv->n; i++) {
        if (i) buf_putc(b, ',');
        write_json_value(b, sv->v[i].v);
    }
    buf_puts(b, "],\"timestamps\":[");
    for (size_t i = 0; i < sv->n; i++) buf_printf(b, "%s%lld", i ? "," : "", (long long)sv->v[i].t);
    buf_puts(b, "]}\n");
}

static void write_text_series(buf_t *b, labels_t ls, const sample_vec_t *sv)
{
    uint32_t nl = 0;
    const char *name = labels_get(ls.v, ls.n, METRIC_NAME_LABEL, 8, &nl);
    if (!name || !nl) return;
    /* The series prefix once, then one line per sample. */
    buf_t pre = BUF_INIT;
    buf_append(&pre, name, nl);
    bool any = false;
    for (size_t i = 0; i < ls.n; i++) {
        if (ls.v[i].name_len == 8 && !memcmp(ls.v[i].name, METRIC_NAME_LABEL, 8)) continue;
        buf_putc(&pre, any ? ',' : '{');
        buf_append(&pre, ls.v[i].name, ls.v[i].name_len);
        buf_puts(&pre, "=\"");
        metrics_escape_label_value(&pre, ls.v[i].value, ls.v[i].value_len);
        buf_putc(&pre, '"');
        any = true;
    }
    if (any) buf_putc(&pre, '}');
    char tmp[32];
    for (size_t i = 0; i < sv->n; i++) {
        if (is_stale(sv->v[i].v)) continue;
        buf_append(b, pre.data, pre.len);
        buf_putc(b, ' ');
        buf_append(b, tmp, metrics_format_double(sv->v[i].v, tmp));
        buf_printf(b, " %lld\n", (long long)sv->v[i].t);
    }
    buf_free(&pre);
}

void api_handle_export(api_t *api, const api_request_t *req, api_response_t *res)
{
    size_t n_sel = params_count(&req->params, "match[]");
    if (n_sel == 0) {
        api_json_error(res, "bad_data", "missing match[] parameter: export needs at least one series selector");
        return;
    }
    const char *fmt = params_get(&req->params, "format");
    bool text = false;
    if (fmt && *fmt) {
        if (!strcmp(fmt, "prometheus") || !strcmp(fmt, "text")) text = true;
        else if (strcmp(fmt, "json") && strcmp(fmt, "jsonl")) {
            api_json_error(res, "bad_data", "invalid parameter \"format\": want json or prometheus");
            return;
        }
    }
    int64_t start, end;
    if (!api_param_time(req, res, "start", PARAMS_MIN_TIME_MS, &start)) return;
    if (!api_param_time(req, res, "end", PARAMS_MAX_TIME_MS, &end)) return;
    if (end < start) {
        api_json_error(res, "bad_data", "invalid parameter \"end\": end timestamp must not be before start time");
        return;
    }
    sel_t *sels = xcalloc(n_sel, sizeof *sels);
    querier_t *q = NULL;
    series_set_t **sets = xcalloc(n_sel, sizeof *sets);
    ref_t *refs = NULL;
    size_t n_refs = 0, cap_refs = 0;
    sample_vec_t sv = {NULL, 0, 0};
    bool ok = true;
    for (size_t i = 0; ok && i < n_sel; i++) {
        promql_error_t perr;
        memset(&perr, 0, sizeof perr);
        if (promql_parse_selector(params_get_nth(&req->params, "match[]", i), &sels[i].ms, &sels[i].n, &perr) != 0) {
            api_json_error(res, "bad_data", "invalid parameter \"match[]\": %s", perr.message);
            ok = false;
            break;
        }
        bool nonempty = false;
        for (size_t j = 0; j < sels[i].n; j++) nonempty |= !sels[i].ms[j]->matches_empty;
        if (!nonempty) {
            api_json_error(res, "bad_data", "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher");
            ok = false;
        }
    }
    int rc = ok ? db_querier(api->db, start, end, &q) : 0;
    if (ok && rc == 0) rc = api_scope_querier(req, q);
    for (size_t i = 0; ok && rc == 0 && i < n_sel; i++) {
        rc = querier_select(q, (const matcher_t *const *)sels[i].ms, sels[i].n, &sets[i]);
        for (size_t j = 0; rc == 0 && j < series_set_len(sets[i]); j++) {
            XGROW(refs, cap_refs, n_refs + 1);
            refs[n_refs++] = (ref_t){series_set_labels(sets[i], j), i, j};
        }
    }
    if (ok && rc != 0) {
        api_json_error(res, rc == MS_EBUSY || rc == MS_ECLOSED ? "unavailable" : "internal", "storage: %s",
                       ms_strerror(rc));
        ok = false;
    }
    if (ok) {
        if (n_sel > 1) qsort(refs, n_refs, sizeof *refs, ref_cmp);
        res->status = 200;
        res->content_type = text ? "text/plain; version=0.0.4; charset=utf-8" : "application/stream+json";
        buf_reset(&res->body);
        uint64_t budget = api->engine ? promql_engine_max_samples(api->engine) : UINT64_MAX, total = 0;
        for (size_t i = 0; i < n_refs; i++) {
            if (i && !labels_cmp(refs[i - 1].labels.v, refs[i - 1].labels.n, refs[i].labels.v, refs[i].labels.n))
                continue; /* matched by two selectors */
            if (i % 256 == 255 && req->client_gone && req->client_gone(req->client_gone_arg)) {
                api_json_error(res, "canceled", "export canceled: the client closed the connection");
                break;
            }
            sv.n = 0;
            rc = series_set_samples(sets[refs[i].set], refs[i].idx, start, end, &sv);
            if (rc != 0) {
                api_json_error(res, "internal", "storage: %s", ms_strerror(rc));
                break;
            }
            total += sv.n;
            if (total > budget) {
                api_json_error(res, "execution",
                               "export would read more than %llu samples (--query.max-samples); narrow match[] or "
                               "the time range", (unsigned long long)budget);
                break;
            }
            if (!sv.n) continue;
            if (text) write_text_series(&res->body, refs[i].labels, &sv);
            else write_json_series(&res->body, refs[i].labels, &sv);
        }
    }
    sample_vec_free(&sv);
    free(refs);
    for (size_t i = 0; i < n_sel; i++) {
        series_set_free(sets[i]);
        for (size_t j = 0; j < sels[i].n; j++) matcher_free(sels[i].ms[j]);
        free(sels[i].ms);
    }
    free(sets);
    free(sels);
    querier_close(q);
}
