/* api.h owns the types shared by the HTTP glue and the endpoint handlers: the server-wide api_t,
 * one decoded request, one response being built, and the handler signature. Handlers never see
 * libmicrohttpd, so they can be called directly (tests, other transports).
 * Threading: api_t is shared read-only by all request threads except `ready` (atomic); a request
 * and its response belong to one thread. */
#ifndef MS_API_API_H
#define MS_API_API_H
#include "api/params.h"
#include "ingest/remote_write.h"
#include "promql/promql.h"
#include "storage/storage.h"
#include "util/buf.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One command-line flag as /api/v1/status/flags reports it. */
typedef struct api_flag {
    const char *name, *value;
} api_flag_t;

typedef struct api {
    db_t *db;                    /* borrowed */
    promql_engine_t *engine;     /* borrowed */
    rw_limits_t rw_limits;
    size_t max_request_bytes;    /* cap on any request body (compressed or not) */
    int64_t query_timeout_ms;    /* engine default; a request's timeout= can only lower it */
    uint64_t max_points_per_series;
    const char *data_dir;
    int64_t retention_ms;
    const api_flag_t *flags;     /* borrowed, n_flags entries */
    size_t n_flags;
    int64_t start_time_ms;
    struct selfmon *selfmon;     /* self-monitoring counters (api/selfmon.h); NULL: none kept */
    /* Overload and hostile-input limits, enforced by http_server.c before a handler runs
     * (0: unlimited). Excess writes get 429 and excess queries 503, both with Retry-After. */
    unsigned max_concurrent_writes;   /* remote_write requests handled at once */
    unsigned max_concurrent_queries;  /* /query, /query_range, /read and /export running at once */
    size_t max_match_selectors;       /* match[] values in one request */
    size_t max_series_returned;       /* series one /api/v1/series answer may list (0: no cap) */
    bool admin_api_enabled;      /* --web.enable-admin-api: the admin endpoints answer, else 500 */
    atomic_bool ready;           /* false while starting and once shutdown has begun */
    struct auth *auth;           /* --auth-file credentials (api/auth.h); NULL: open, one tenant */
} api_t;

typedef enum { API_GET = 1, API_POST = 2, API_HEAD = 4, API_PUT = 8, API_DELETE = 16, API_OTHER = 32 } api_method_t;

typedef struct api_request {
    api_method_t method;
    const char *path;            /* decoded path, without the query string */
    const char *path_arg;        /* decoded <name> for /api/v1/label/<name>/values, else NULL */
    params_t params;             /* form body values first, then the URL query, as Go's r.Form */
    const char *content_type;    /* may be NULL */
    const char *content_encoding;/* may be NULL */
    const uint8_t *body;
    size_t body_len;
    /* Access control (http_server.c fills these from the credential before the handler runs):
     * tenant NULL in open mode; else every read is scoped to it and every write labelled. */
    const char *tenant;          /* NUL-terminated, borrowed from api->auth */
    size_t tenant_len;
    unsigned roles;              /* AUTH_* bits of the credential; all bits in open mode */
    /* Whether the client has gone away (http_server.c: its connection was closed), so a long
     * handler can stop early; NULL when the transport cannot tell. Thread-safe and cheap (one
     * poll), as promql_exec_t's cancel callback, which query handlers pass it to. */
    bool (*client_gone)(void *arg);
    void *client_gone_arg;
} api_request_t;

typedef struct api_response {
    int status;                  /* HTTP status */
    const char *content_type;    /* static string */
    buf_t body;
    const char *allow;           /* for 405: static "GET, POST" */
    const char *content_encoding;/* static string, e.g. "snappy"; NULL: none */
} api_response_t;

typedef void (*api_handler_fn)(api_t *api, const api_request_t *req, api_response_t *res);

/* ---- response helpers (api_response.c) ---- */

/* Starts a JSON success body: {"status":"success","data": ; finish with api_json_end. */
void api_json_begin(api_response_t *res);
void api_json_end(api_response_t *res);
/* Replaces the response with Prometheus's error JSON; the HTTP status follows the type:
 * bad_data 400, execution 422, canceled 499, internal 500, timeout 503, unavailable 503,
 * not_found 404. */
void api_json_error(api_response_t *res, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int api_error_http_status(const char *type);
/* Plain-text response. */
void api_text(api_response_t *res, int status, const char *text);

/* Parses an optional time parameter (default dflt) as Prometheus's parseTimeParam. On a bad value
 * writes the 400 response `invalid parameter "<name>": Invalid time value for '<name>': cannot
 * parse ...` and returns false. */
bool api_param_time(const api_request_t *req, api_response_t *res, const char *name, int64_t dflt, int64_t *out);

/* The body of the 429 (with Retry-After) every ingest path answers when appender_commit returns
 * MS_EBUSY (storage backpressure: a backfill is ahead of the block cut; nothing was stored). */
#define API_BACKPRESSURE_MSG                                                                         \
    "ingestion is ahead of the block cut; retry (older data is being written into blocks first; " \
    "nothing from this request was stored)"

/* ---- tenancy (api_tenant.c): every handler touching series goes through these ---- */

/* Scopes a querier just opened by db_querier to the request's tenant (no-op in open mode).
 * Returns 0 or a storage status. */
int api_scope_querier(const api_request_t *req, querier_t *q);
/* Scopes an appender just opened by db_appender: its series get the tenant's label. */
int api_scope_appender(const api_request_t *req, appender_t *a);
/* True if a client-sent label set carries the reserved
 * tenant label: every ingest path refuses such a series with 400, in open mode too. */
bool api_has_tenant_label(const label_t *ls, size_t n);
/* For handlers passing matchers straight to storage (db_delete_series): a new matcher
 * __tenant__="<tenant>" to AND with the request's, or NULL in open mode. Free with matcher_free. */
matcher_t *api_tenant_matcher(const api_request_t *req);

/* ---- handlers, one file per endpoint family ---- */
void api_handle_write(api_t *api, const api_request_t *req, api_response_t *res);          /* api_write.c */
void api_handle_query(api_t *api, const api_request_t *req, api_response_t *res);          /* api_query.c */
void api_handle_query_range(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_query_exemplars(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_series(api_t *api, const api_request_t *req, api_response_t *res);         /* api_meta.c */
void api_handle_labels(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_label_values(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_metadata(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_healthy(api_t *api, const api_request_t *req, api_response_t *res);        /* api_status.c */
void api_handle_ready(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_buildinfo(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_flags(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_runtimeinfo(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_config(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_tsdb_status(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_rules(api_t *api, const api_request_t *req, api_response_t *res);
void api_handle_alerts(api_t *api, const api_request_t *req, api_response_t *res);

#endif
