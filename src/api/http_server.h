/* http_server.h owns the HTTP transport: a libmicrohttpd daemon (epoll, thread pool), the routing
 * table (method + path -> api handler), request bodies with a size cap, and graceful shutdown.
 * Lifetime: the api_t passed to http_server_start must outlive http_server_stop. */
#ifndef MS_API_HTTP_SERVER_H
#define MS_API_HTTP_SERVER_H
#include "api/api.h"
#include <stddef.h>
#include <stdint.h>

typedef struct http_server http_server_t;

typedef struct http_options {
    const char *addr;            /* "host:port", "[v6addr]:port" or ":port" */
    unsigned threads;            /* 0: one thread per connection; n: an epoll pool of n threads */
    unsigned connection_limit;   /* 0: default (1024) */
    unsigned connection_timeout_s;/* idle keep-alive timeout; 0: default (120) */
    const char *tls_cert_file;   /* both set: HTTPS only (PEM files, checked at start); NULL: HTTP */
    const char *tls_key_file;
} http_options_t;

/* Binds, listens and starts serving. Returns 0, or MS_EINVAL/MS_EIO with a message in err. */
int http_server_start(api_t *api, const http_options_t *opts, http_server_t **out, char *err, size_t err_len);
/* Checks that addr parses and resolves (for flag validation before anything starts). Returns 0 or
 * MS_EINVAL with a message in err. */
int http_addr_check(const char *addr, char *err, size_t err_len);
/* Logs one line per routed endpoint ("serving GET, POST /api/v1/query"). */
void http_server_log_routes(void);
/* Graceful stop: stops accepting (quiesce), waits up to drain_ms for in-flight requests to
 * finish, then stops the daemon and frees the server. Accepts NULL. */
void http_server_stop(http_server_t *s, int64_t drain_ms);

/* Exposed for tests: finds the route for a raw request target's path. Returns the handler (NULL
 * for 404), sets *allowed to the route's method mask and, for /api/v1/label/<name>/values,
 * *path_arg to the malloc'd decoded name. */
api_handler_fn http_route(const char *raw_path, size_t len, unsigned *allowed, bool *form, char **path_arg);

#endif
