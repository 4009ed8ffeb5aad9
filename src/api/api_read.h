/* api_read.h declares the remote_read endpoint handler (POST /api/v1/read), kept in its own
 * header so the routing table can name it without every handler header changing. */
#ifndef MS_API_API_READ_H
#define MS_API_API_READ_H
#include "api/api.h"

/* Samples one read response may carry in total, as Prometheus's --storage.remote.read-sample-limit
 * (which Prometheus applies to SAMPLES only; ours buffers streamed responses too, so both). */
#define API_READ_SAMPLE_LIMIT 50000000u

void api_handle_read(api_t *api, const api_request_t *req, api_response_t *res);

#endif
