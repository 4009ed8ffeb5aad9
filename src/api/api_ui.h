/* api_ui.h declares the handler that serves the embedded web UI (GET / and /ui/<file>), kept in
 * its own header so the routing table can name it without api.h changing. */
#ifndef MS_API_API_UI_H
#define MS_API_API_UI_H
#include "api/api.h"

/* Serves the embedded file whose path equals req->path (200, its MIME type), else 404. */
void api_handle_ui(api_t *api, const api_request_t *req, api_response_t *res);

/* Number of embedded files and the i-th one's path (for logging and tests); NULL past the end. */
size_t api_ui_count(void);
const char *api_ui_path(size_t i);

#endif
