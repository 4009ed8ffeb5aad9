/* api_admin.h declares the TSDB admin endpoints (api_admin.c), Prometheus's
 * /api/v1/admin/tsdb/ family plus our flush and compact. All are POST or PUT only (405 for
 * anything else, as Prometheus 2.42) and answer 204 No Content on success, errors in
 * Prometheus's JSON. The routing table marks them as needing the admin role. */
#ifndef MS_API_API_ADMIN_H
#define MS_API_API_ADMIN_H
#include "api/api.h"

/* match[]=<selector> (one or more, required), start, end (optional, Prometheus's time
 * formats; default: all time): hides the matching samples at once (tombstones). */
void api_handle_admin_delete_series(api_t *api, const api_request_t *req, api_response_t *res);
/* Rewrites blocks without tombstoned samples and forgets tombstones that cover nothing. */
void api_handle_admin_clean_tombstones(api_t *api, const api_request_t *req, api_response_t *res);
/* Cuts every head sample into blocks now (not in Prometheus). */
void api_handle_admin_flush(api_t *api, const api_request_t *req, api_response_t *res);
/* Runs block compaction until nothing is left to merge (not in Prometheus). */
void api_handle_admin_compact(api_t *api, const api_request_t *req, api_response_t *res);

#endif
