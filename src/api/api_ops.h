/* api_ops.h declares the operations endpoints kept apart from api.h's query API: self-monitoring
 * (GET /metrics, api_metrics.c), import (api_import.c) and export (api_export.c). They read
 * api_t like every handler; /metrics also reads api->selfmon (may be NULL). */
#ifndef MS_API_API_OPS_H
#define MS_API_API_OPS_H
#include "api/api.h"

/* GET /metrics: text exposition format 0.0.4. */
void api_handle_metrics(api_t *api, const api_request_t *req, api_response_t *res);
/* POST /api/v1/import/prometheus: text exposition (or OpenMetrics) body; 204, or 400 naming the
 * line (nothing stored), as remote_write's rules. */
void api_handle_import_prometheus(api_t *api, const api_request_t *req, api_response_t *res);
/* POST /api/v1/import: the JSON-lines shape /api/v1/export writes; same answers. */
void api_handle_import(api_t *api, const api_request_t *req, api_response_t *res);
/* GET/POST /api/v1/export?match[]=...&start=...&end=...[&format=prometheus]: every raw sample of
 * the matching series, one series per JSON line (default) or the text format with ms timestamps. */
void api_handle_export(api_t *api, const api_request_t *req, api_response_t *res);

#endif
