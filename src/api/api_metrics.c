/* api_metrics.c owns GET /metrics: the server's self-monitoring in the Prometheus text exposition
 * format 0.0.4, rendered by selfmon (counters, histograms, db_stats, process memory). */
#include "api/api_ops.h"
#include "api/selfmon.h"

void api_handle_metrics(api_t *api, const api_request_t *req, api_response_t *res)
{
    res->status = 200;
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    buf_reset(&res->body);
    selfmon_render(api->selfmon, api->db, &res->body);
}
