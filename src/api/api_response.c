/* api_response.c owns the shape of API responses: Prometheus's success/error JSON envelopes, the
 * error-type -> HTTP status mapping, and parameter errors worded as Prometheus words them. */
#include "api/api.h"
#include "api/json.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void api_json_begin(api_response_t *res)
{
    res->status = 200;
    res->content_type = "application/json";
    buf_reset(&res->body);
    buf_puts(&res->body, "{\"status\":\"success\",\"data\":");
}

void api_json_end(api_response_t *res) { buf_putc(&res->body, '}'); }

int api_error_http_status(const char *type)
{
    static const struct { const char *type; int status; } map[] = {
        {"bad_data", 400}, {"execution", 422}, {"canceled", 499}, {"internal", 500},
        {"timeout", 503},  {"unavailable", 503}, {"not_found", 404},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(map[i].type, type)) return map[i].status;
    return 500;
}

void api_json_error(api_response_t *res, const char *type, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    res->status = api_error_http_status(type);
    res->content_type = "application/json";
    buf_reset(&res->body);
    buf_puts(&res->body, "{\"status\":\"error\",\"errorType\":");
    json_cstr(&res->body, type);
    buf_puts(&res->body, ",\"error\":");
    json_cstr(&res->body, msg);
    buf_putc(&res->body, '}');
}

void api_text(api_response_t *res, int status, const char *text)
{
    res->status = status;
    res->content_type = "text/plain; charset=utf-8";
    buf_reset(&res->body);
    buf_puts(&res->body, text);
}

bool api_param_time(const api_request_t *req, api_response_t *res, const char *name, int64_t dflt, int64_t *out)
{
    const char *s = params_get(&req->params, name);
    if (!s || !*s) { *out = dflt; return true; }
    char err[512];
    if (params_parse_time(s, out, err, sizeof err) != 0) {
        api_json_error(res, "bad_data", "invalid parameter \"%s\": Invalid time value for '%s': %s", name, name, err);
        return false;
    }
    return true;
}
