/* api_query.c owns /api/v1/query, /api/v1/query_range and /api/v1/query_exemplars: parameter
 * checks with Prometheus's error texts, the call into the PromQL engine, and rendering its typed
 * result as Prometheus's JSON. */
#include "api/api.h"
#include "api/json.h"
#include "util/clock.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Parses a required time as Prometheus's query_range does (missing -> `cannot parse ""`); optional
 * ones go through api_param_time, whose message Prometheus words differently. */
static bool time_param(const api_request_t *req, api_response_t *res, const char *name, bool required,
                       int64_t dflt, int64_t *out)
{
    if (!required) return api_param_time(req, res, name, dflt, out);
    const char *s = params_get(&req->params, name);
    char err[512];
    if (params_parse_time(s ? s : "", out, err, sizeof err) != 0) {
        api_json_error(res, "bad_data", "invalid parameter \"%s\": %s", name, err);
        return false;
    }
    return true;
}

/* timeout= lowers the engine's default; it never raises it. */
static bool timeout_param(api_t *api, const api_request_t *req, api_response_t *res, int64_t *out)
{
    *out = api->query_timeout_ms;
    const char *s = params_get(&req->params, "timeout");
    if (!s || !*s) return true;
    char err[512];
    int64_t ms;
    if (params_parse_duration(s, &ms, err, sizeof err) != 0) {
        api_json_error(res, "bad_data", "invalid parameter \"timeout\": %s", err);
        return false;
    }
    if (ms > 0 && (*out <= 0 || ms < *out)) *out = ms;
    return true;
}

static bool query_param(const api_request_t *req, api_response_t *res, const char **out)
{
    const char *q = params_get(&req->params, "query");
    if (!q || !*q) {
        api_json_error(res, "bad_data", "invalid parameter \"query\": 1:1: parse error: no expression found in input");
        return false;
    }
    *out = q;
    return true;
}

static void engine_error(api_response_t *res, const promql_error_t *err)
{
    const char *type = promql_error_type_str(err->type);
    if (!type || err->type == PROMQL_ERR_NONE) type = "internal";
    if (err->type == PROMQL_ERR_BAD_DATA && strncmp(err->message, "invalid parameter", 17) != 0)
        api_json_error(res, type, "invalid parameter \"query\": %s", err->message);
    else
        api_json_error(res, type, "%s", err->message[0] ? err->message : "query failed");
}

static void write_point(buf_t *b, const promql_point_t *p)
{
    buf_putc(b, '[');
    json_timestamp(b, p->t);
    buf_putc(b, ',');
    json_float_str(b, p->v);
    buf_putc(b, ']');
}

static void write_result(api_response_t *res, const promql_result_t *r)
{
    buf_t *b = &res->body;
    api_json_begin(res);
    static const char *names[] = {"scalar", "vector", "matrix", "string"};
    buf_printf(b, "{\"resultType\":\"%s\",\"result\":", names[r->type]);
    switch (r->type) {
    case PROMQL_SCALAR:
        write_point(b, &r->scalar);
        break;
    case PROMQL_STRING:
        buf_putc(b, '[');
        json_timestamp(b, r->scalar.t);
        buf_putc(b, ',');
        json_cstr(b, r->string ? r->string : "");
        buf_putc(b, ']');
        break;
    case PROMQL_VECTOR:
    case PROMQL_MATRIX:
        buf_putc(b, '[');
        for (size_t i = 0; i < r->n_series; i++) {
            const promql_series_t *s = &r->series[i];
            if (i) buf_putc(b, ',');
            buf_puts(b, "{\"metric\":");
            json_labels(b, s->metric.v, s->metric.n);
            if (r->type == PROMQL_VECTOR) {
                buf_puts(b, ",\"value\":");
                if (s->n_points) {
                    write_point(b, &s->points[0]);
                } else {
                    buf_puts(b, "null");
                }
            } else {
                buf_puts(b, ",\"values\":[");
                for (size_t j = 0; j < s->n_points; j++) {
                    if (j) buf_putc(b, ',');
                    write_point(b, &s->points[j]);
                }
                buf_putc(b, ']');
            }
            buf_putc(b, '}');
        }
        buf_putc(b, ']');
        break;
    }
    buf_putc(b, '}');
    api_json_end(res);
}

void api_handle_query(api_t *api, const api_request_t *req, api_response_t *res)
{
    const char *q;
    int64_t t, timeout;
    if (!query_param(req, res, &q)) return;
    if (!time_param(req, res, "time", false, clock_now_ms(), &t)) return;
    if (!timeout_param(api, req, res, &timeout)) return;
    promql_result_t r;
    promql_error_t err;
    memset(&r, 0, sizeof r);
    memset(&err, 0, sizeof err);
    promql_exec_t x = {timeout, req->tenant, req->tenant_len, req->client_gone, req->client_gone_arg};
    if (promql_query_instant_exec(api->engine, q, t, &x, &r, &err) != 0)
        engine_error(res, &err);
    else
        write_result(res, &r);
    promql_result_free(&r);
}

/* 11000 -> "11,000", as Prometheus's message spells its limit. */
static void thousands(uint64_t v, char *out, size_t len)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = tmp[i];
    }
    out[o] = 0;
}

void api_handle_query_range(api_t *api, const api_request_t *req, api_response_t *res)
{
    const char *q;
    int64_t start, end, step, timeout;
    char err[512];
    if (!query_param(req, res, &q)) return;
    if (!time_param(req, res, "start", true, 0, &start)) return;
    if (!time_param(req, res, "end", true, 0, &end)) return;
    if (end < start) {
        api_json_error(res, "bad_data", "invalid parameter \"end\": end timestamp must not be before start time");
        return;
    }
    const char *s = params_get(&req->params, "step");
    if (params_parse_duration(s ? s : "", &step, err, sizeof err) != 0) {
        api_json_error(res, "bad_data", "invalid parameter \"step\": %s", err);
        return;
    }
    if (step <= 0) {
        api_json_error(res, "bad_data", "invalid parameter \"step\": zero or negative query resolution step widths "
                                        "are not accepted. Try a positive integer");
        return;
    }
    uint64_t max_points = api->max_points_per_series ? api->max_points_per_series : 11000;
    /* unsigned: end - start may not fit an int64 when both are extreme */
    if (((uint64_t)end - (uint64_t)start) / (uint64_t)step > max_points) {
        char lim[32];
        thousands(max_points, lim, sizeof lim);
        api_json_error(res, "bad_data",
                       "exceeded maximum resolution of %s points per timeseries. Try decreasing the query "
                       "resolution (?step=XX)", lim);
        return;
    }
    if (!timeout_param(api, req, res, &timeout)) return;
    promql_result_t r;
    promql_error_t perr;
    memset(&r, 0, sizeof r);
    memset(&perr, 0, sizeof perr);
    promql_exec_t x = {timeout, req->tenant, req->tenant_len, req->client_gone, req->client_gone_arg};
    if (promql_query_range_exec(api->engine, q, start, end, step, &x, &r, &perr) != 0)
        engine_error(res, &perr);
    else
        write_result(res, &r);
    promql_result_free(&r);
}

/* Exemplars are not stored (remote_write exemplars are counted and dropped), so every valid
 * request has an empty answer; parameters are still checked as Prometheus checks them. */
void api_handle_query_exemplars(api_t *api, const api_request_t *req, api_response_t *res)
{
    int64_t start, end;
    if (!time_param(req, res, "start", false, PARAMS_MIN_TIME_MS, &start)) return;
    if (!time_param(req, res, "end", false, PARAMS_MAX_TIME_MS, &end)) return;
    if (end < start) {
        api_json_error(res, "bad_data", "end timestamp must not be before start timestamp");
        return;
    }
    api_json_begin(res);
    buf_puts(&res->body, "[]");
    api_json_end(res);
}
