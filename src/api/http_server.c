/* http_server.c owns the libmicrohttpd glue and the routing table: each request's raw target is
 * captured by the URI-log callback (so query strings are decoded by us, keeping repeated keys in
 * order), its body is accumulated under a hard cap, then it is routed to one api handler whose
 * api_response_t becomes the MHD response. Shutdown quiesces, drains in-flight requests, stops. */
#include "api/http_server.h"
#include "api/api_admin.h"
#include "api/api_ops.h"
#include "api/api_read.h"
#include "api/api_ui.h"
#include "api/auth.h"
#include "api/selfmon.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/status.h"
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- routing table: the one place that says which path is served by what ---- */

typedef struct route {
    const char *path;     /* exact path; "/api/v1/label/" is a prefix + "/values" pattern */
    unsigned methods;     /* api_method_t mask */
    api_handler_fn fn;
    bool form;            /* parse an x-www-form-urlencoded POST body into params */
    unsigned need;        /* with --auth-file: the role the credential must hold (R, W, A) or
                             OPEN (no credential); a line without this column needs admin */
} route_t;

#define GP (API_GET | API_POST)
#define GH (API_GET | API_HEAD)
#define R AUTH_READ
#define W AUTH_WRITE
#define A AUTH_ADMIN
#define OPEN 0x100u
static const route_t routes[] = {
    {"/api/v1/write", API_POST, api_handle_write, false, W},
    {"/api/v1/read", API_POST, api_handle_read, false, R},
    {"/api/v1/query", GP, api_handle_query, true, R},
    {"/api/v1/query_range", GP, api_handle_query_range, true, R},
    {"/api/v1/query_exemplars", GP, api_handle_query_exemplars, true, R},
    {"/api/v1/series", GP, api_handle_series, true, R},
    {"/api/v1/labels", GP, api_handle_labels, true, R},
    {"/api/v1/label/", GP, api_handle_label_values, true, R},
    {"/api/v1/metadata", API_GET, api_handle_metadata, false, R},
    {"/api/v1/status/buildinfo", API_GET, api_handle_buildinfo, false, R},
    {"/api/v1/status/flags", API_GET, api_handle_flags, false, A},
    {"/api/v1/status/runtimeinfo", API_GET, api_handle_runtimeinfo, false, A},
    {"/api/v1/status/config", API_GET, api_handle_config, false, R},
    {"/api/v1/status/tsdb", API_GET, api_handle_tsdb_status, false, R},
    {"/api/v1/rules", API_GET, api_handle_rules, false, R},
    {"/api/v1/alerts", API_GET, api_handle_alerts, false, R},
    {"/-/healthy", GH, api_handle_healthy, false, OPEN},
    {"/-/ready", GH, api_handle_ready, false, OPEN},
    {"/metrics", GH, api_handle_metrics, false, A},
    {"/api/v1/import/prometheus", API_POST, api_handle_import_prometheus, false, W},
    {"/api/v1/import", API_POST, api_handle_import, false, W},
    {"/api/v1/export", GP, api_handle_export, true, R},
    {"/api/v1/admin/tsdb/delete_series", API_POST | API_PUT, api_handle_admin_delete_series, true, A},
    {"/api/v1/admin/tsdb/clean_tombstones", API_POST | API_PUT, api_handle_admin_clean_tombstones, false, A},
    {"/api/v1/admin/tsdb/flush", API_POST | API_PUT, api_handle_admin_flush, false, A},
    {"/api/v1/admin/tsdb/compact", API_POST | API_PUT, api_handle_admin_compact, false, A},
    {"/", GH, api_handle_ui, false, R},
    {"/ui/app.js", GH, api_handle_ui, false, R},
    {"/ui/style.css", GH, api_handle_ui, false, R},
};
#undef R
#undef W
#undef A
#define N_ROUTES (sizeof routes / sizeof *routes)
#define LABEL_PREFIX "/api/v1/label/"
#define LABEL_SUFFIX "/values"

static void methods_str(unsigned m, char *out, size_t len)
{
    static const struct { unsigned bit; const char *name; } names[] = {
        {API_GET, "GET"}, {API_HEAD, "HEAD"}, {API_POST, "POST"}, {API_PUT, "PUT"}, {API_DELETE, "DELETE"}};
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (m & names[i].bit) o += (size_t)snprintf(out + o, len - o, "%s%s", o ? ", " : "", names[i].name);
}

void http_server_log_routes(void)
{
    for (size_t i = 0; i < N_ROUTES; i++) {
        char m[64];
        methods_str(routes[i].methods, m, sizeof m);
        bool label = !strcmp(routes[i].path, LABEL_PREFIX);
        log_info("serving %s %s%s", m, routes[i].path, label ? "<name>" LABEL_SUFFIX : "");
    }
}

api_handler_fn http_route(const char *raw, size_t len, unsigned *allowed, bool *form, char **path_arg)
{
    *path_arg = NULL;
    size_t pl = strlen(LABEL_PREFIX), sl = strlen(LABEL_SUFFIX);
    if (len > pl + sl && !memcmp(raw, LABEL_PREFIX, pl) && !memcmp(raw + len - sl, LABEL_SUFFIX, sl)) {
        const char *name = raw + pl;
        size_t nl = len - pl - sl;
        if (!memchr(name, '/', nl)) {
            char *dec = params_unescape(name, nl, false, NULL);
            if (dec) {
                for (size_t i = 0; i < N_ROUTES; i++)
                    if (!strcmp(routes[i].path, LABEL_PREFIX)) {
                        *allowed = routes[i].methods;
                        *form = routes[i].form;
                        *path_arg = dec;
                        return routes[i].fn;
                    }
                free(dec);
            }
        }
        return NULL;
    }
    char *path = params_unescape(raw, len, false, NULL);
    if (!path) return NULL;
    api_handler_fn fn = NULL;
    for (size_t i = 0; i < N_ROUTES && !fn; i++)
        if (strcmp(routes[i].path, LABEL_PREFIX) && !strcmp(routes[i].path, path)) {
            *allowed = routes[i].methods;
            *form = routes[i].form;
            fn = routes[i].fn;
        }
    free(path);
    return fn;
}

/* ---- server ---- */

struct http_server {
    api_t *api;
    struct MHD_Daemon *daemon;
    atomic_long inflight;      /* requests whose first line arrived and are not completed */
    atomic_uint writes, queries; /* handlers running now, for the api's concurrency limits */
    atomic_bool stopping;
    struct sockaddr_storage sa;
    char *tls_cert, *tls_key; /* PEM, kept while the daemon runs; NULL: plain HTTP */
};

/* Per-request state, created when the request line is read (URI-log callback). */
typedef struct req_ctx {
    char *raw_uri;
    buf_t body;
    uint64_t seen;             /* body bytes received, kept or not */
    bool started;
    bool too_large;
    bool responded;
} req_ctx_t;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
    http_server_t *s = cls;
    req_ctx_t *rc = xcalloc(1, sizeof *rc);
    rc->raw_uri = xstrdup(uri ? uri : "/");
    atomic_fetch_add(&s->inflight, 1);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    http_server_t *s = cls;
    req_ctx_t *rc = *con_cls;
    if (!rc) return;
    free(rc->raw_uri);
    buf_free(&rc->body);
    free(rc);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    log_warn("http: %s", msg);
}

static api_method_t method_of(const char *m)
{
    if (!strcmp(m, "GET")) return API_GET;
    if (!strcmp(m, "POST")) return API_POST;
    if (!strcmp(m, "HEAD")) return API_HEAD;
    if (!strcmp(m, "PUT")) return API_PUT;
    if (!strcmp(m, "DELETE")) return API_DELETE;
    return API_OTHER;
}

static enum MHD_Result send_response_ex(http_server_t *s, struct MHD_Connection *con, api_response_t *res,
                                        bool challenge);
static enum MHD_Result send_response(http_server_t *s, struct MHD_Connection *con, api_response_t *res)
{
    return send_response_ex(s, con, res, false);
}

/* challenge: a 401 names the schemes a client may use (RFC 7235: one header per challenge). */
static enum MHD_Result send_response_ex(http_server_t *s, struct MHD_Connection *con, api_response_t *res,
                                        bool challenge)
{
    bool retry = res->status == 429 || res->status == 503;
    struct MHD_Response *r;
    if (res->body.len) {
        r = MHD_create_response_from_buffer(res->body.len, res->body.data, MHD_RESPMEM_MUST_FREE);
        res->body.data = NULL; /* owned by MHD now */
        res->body.len = res->body.cap = 0;
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!r) return MHD_NO;
    if (res->content_type) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    if (res->allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, res->allow);
    if (res->content_encoding) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, res->content_encoding);
    if (retry) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (challenge) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"metricstor\"");
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"metricstor\", charset=\"UTF-8\"");
    }
    if (atomic_load(&s->stopping)) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_text(http_server_t *s, struct MHD_Connection *con, int status, const char *text)
{
    api_response_t res = {0, NULL, BUF_INIT, NULL, NULL};
    api_text(&res, status, text);
    return send_response(s, con, &res);
}

static enum MHD_Result too_large(http_server_t *s, struct MHD_Connection *con)
{
    char msg[128];
    snprintf(msg, sizeof msg, "request body too large (limit %zu bytes)\n", s->api->max_request_bytes);
    return send_text(s, con, 413, msg);
}

/* Parameters that name one value: a request repeating one is refused rather than silently
 * using the first, so a confused client learns of its mistake. */
static const char *const single_params[] = {"query", "time", "start", "end", "step", "timeout", "limit",
                                            "limit_per_metric", "metric"};

/* Checks parameter counts against the limits; false after writing a 400. */
static bool params_check(const api_t *api, const api_request_t *req, api_response_t *res)
{
    for (size_t i = 0; i < sizeof single_params / sizeof *single_params; i++) {
        size_t c = params_count(&req->params, single_params[i]);
        if (c > 1) {
            api_json_error(res, "bad_data", "invalid parameter \"%s\": given %zu times, want at most once",
                           single_params[i], c);
            return false;
        }
    }
    size_t m = params_count(&req->params, "match[]");
    if (api->max_match_selectors && m > api->max_match_selectors) {
        api_json_error(res, "bad_data", "invalid parameter \"match[]\": %zu selectors, over the limit of %zu "
                                        "(--max-match-selectors)", m, api->max_match_selectors);
        return false;
    }
    return true;
}

/* Admission for handlers with a concurrency limit: takes a slot from *count if one is free
 * (never waits, so an overload cannot build a queue). */
static bool slot_take(atomic_uint *count, unsigned limit)
{
    if (!limit) return true;
    unsigned cur = atomic_load(count);
    do {
        if (cur >= limit) return false;
    } while (!atomic_compare_exchange_weak(count, &cur, cur + 1));
    return true;
}

/* api_request_t.client_gone for a connection's socket (arg: the fd): true once the peer has
 * closed or shut down its side. Bytes of a pipelined next request do not count. Only peeks,
 * so the connection's own thread can still read what is there; safe from any thread while the
 * handler runs (the connection, and so the fd, outlives the handler). */
static bool conn_gone(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL | POLLRDHUP)) return true;
    if (!(p.revents & POLLIN)) return false;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Runs the handler unless its concurrency limit is reached; then answers 429 (writes: remote_write
 * senders back off and retry) or 503 (queries, remote_read and export, which share the query
 * limit), all with Retry-After. */
static void run_handler(http_server_t *s, api_handler_fn fn, const api_request_t *req, api_response_t *res)
{
    api_t *api = s->api;
    atomic_uint *count = NULL;
    unsigned limit = 0;
    if (fn == api_handle_write) {
        count = &s->writes;
        limit = api->max_concurrent_writes;
    } else if (fn == api_handle_query || fn == api_handle_query_range || fn == api_handle_read ||
               fn == api_handle_export) {
        count = &s->queries;
        limit = api->max_concurrent_queries;
    }
    if (count && !slot_take(count, limit)) {
        char msg[160];
        if (fn == api_handle_write) {
            snprintf(msg, sizeof msg, "too many concurrent remote_write requests (limit %u, "
                                      "--max-concurrent-writes); retry later\n", limit);
            api_text(res, 429, msg);
        } else if (fn == api_handle_read) { /* remote_read speaks plain text, as Prometheus's */
            snprintf(msg, sizeof msg, "too many concurrent queries (limit %u, --query.max-concurrency); "
                                      "retry later\n", limit);
            api_text(res, 503, msg);
        } else {
            api_json_error(res, "unavailable", "too many concurrent queries (limit %u, --query.max-concurrency); "
                                               "retry later", limit);
        }
        return;
    }
    fn(api, req, res);
    if (count && limit) atomic_fetch_sub(count, 1);
}

/* The static route pattern of a routed path, as the self-monitoring handler label. */
static const char *route_name(const char *path, bool label_values)
{
    if (label_values) return "/api/v1/label/:name/values";
    for (size_t i = 0; i < N_ROUTES; i++)
        if (!strcmp(routes[i].path, path)) return routes[i].path;
    return "other";
}

/* The role a routed path needs with --auth-file (see the routing table). Paths under
 * /api/v1/admin/ always need admin, whatever their line says. */
static unsigned route_need(const char *path, bool label_values)
{
    if (!strncmp(path, "/api/v1/admin/", 14)) return AUTH_ADMIN;
    for (size_t i = 0; i < N_ROUTES; i++)
        if (label_values ? !strcmp(routes[i].path, LABEL_PREFIX) : !strcmp(routes[i].path, path))
            return routes[i].need ? routes[i].need : AUTH_ADMIN;
    return AUTH_ADMIN;
}

/* With --auth-file: checks the request's credential and role, filling req's tenant and roles.
 * On refusal queues the 401 (with challenges) or 403 and returns false; Prometheus's error JSON
 * on /api/ paths, plain text elsewhere. Open mode: every role, no tenant. */
static bool authorize(http_server_t *s, struct MHD_Connection *con, const char *path, bool label_values,
                      api_request_t *req, enum MHD_Result *ret)
{
    req->roles = AUTH_ALL;
    auth_t *auth = s->api->auth;
    if (!auth) return true;
    unsigned need = route_need(path, label_values);
    if (need == OPEN) return true;
    const char *hdr = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    auth_identity_t who;
    auth_verdict_t v = auth_check(auth, hdr, clock_now_ms(), &who);
    api_response_t res = {0, NULL, BUF_INIT, NULL, NULL};
    bool api_path = !strncmp(path, "/api/", 5);
    char msg[200];
    if (v == AUTH_OK && (who.roles & need)) {
        req->tenant = who.tenant;
        req->tenant_len = who.tenant_len;
        req->roles = who.roles;
        return true;
    }
    int status = v == AUTH_OK ? 403 : v == AUTH_BUSY ? 503 : 401;
    const char *type = v == AUTH_OK ? "forbidden" : v == AUTH_BUSY ? "unavailable" : "unauthorized";
    if (v == AUTH_OK) {
        snprintf(msg, sizeof msg, "forbidden: %s needs the %s role", path, auth_role_str(need));
        log_info("auth: %s (%s) refused on %s: lacks the %s role", who.name, who.tenant, path, auth_role_str(need));
    } else if (v == AUTH_BUSY) {
        snprintf(msg, sizeof msg, "%s; retry later", auth_verdict_str(v));
    } else {
        snprintf(msg, sizeof msg, "unauthorized: %s", auth_verdict_str(v));
        if (v != AUTH_MISSING) log_info("auth: %s on %s", auth_verdict_str(v), path);
    }
    if (api_path) {
        api_json_error(&res, type, "%s", msg);
        res.status = status;
    } else {
        strncat(msg, "\n", sizeof msg - strlen(msg) - 1);
        api_text(&res, status, msg);
    }
    selfmon_request(s->api->selfmon, route_name(path, label_values), res.status, 0);
    *ret = send_response_ex(s, con, &res, status == 401); /* 503 gets Retry-After there */
    buf_free(&res.body);
    return false;
}

/* Routes a fully received request and queues the handler's response. */
static enum MHD_Result dispatch(http_server_t *s, struct MHD_Connection *con, const char *method, req_ctx_t *rc)
{
    const char *uri = rc->raw_uri;
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    unsigned allowed = 0;
    bool form = false;
    char *path_arg = NULL;
    api_handler_fn fn = http_route(uri, plen, &allowed, &form, &path_arg);
    if (!fn) return send_text(s, con, 404, "404 page not found\n");

    api_request_t req;
    memset(&req, 0, sizeof req);
    api_response_t res = {200, NULL, BUF_INIT, NULL, NULL};
    req.method = method_of(method);
    req.path_arg = path_arg;
    char *path = params_unescape(uri, plen, false, NULL);
    enum MHD_Result aret = MHD_NO;
    if (!authorize(s, con, path ? path : "", path_arg != NULL, &req, &aret)) {
        free(path);
        free(path_arg);
        return aret;
    }
    if (!(req.method & allowed)) {
        char allow[64];
        methods_str(allowed, allow, sizeof allow);
        res.allow = allow;
        api_text(&res, 405, "Method Not Allowed\n");
        enum MHD_Result ret = send_response(s, con, &res);
        free(path);
        free(path_arg);
        return ret;
    }
    req.content_type = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    req.content_encoding = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    req.body = rc->body.data;
    req.body_len = rc->body.len;
    req.path = path ? path : "";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci && ci->connect_fd >= 0) {
        req.client_gone = conn_gone;
        req.client_gone_arg = (void *)(intptr_t)ci->connect_fd;
    }
    int prc = 0;
    char perr[128] = "invalid URL escape";
    if (form && req.method == API_POST && req.content_type &&
        !strncasecmp(req.content_type, "application/x-www-form-urlencoded", 33))
        prc = params_parse_urlencoded(&req.params, (const char *)rc->body.data, rc->body.len, perr, sizeof perr);
    if (prc == 0 && q) prc = params_parse_urlencoded(&req.params, q + 1, strlen(q + 1), perr, sizeof perr);
    if (prc != 0) {
        api_json_error(&res, "bad_data", "error parsing form values: %s", perr);
    } else if (params_check(s->api, &req, &res)) {
        int64_t t0 = clock_mono_ns();
        run_handler(s, fn, &req, &res);
        selfmon_request(s->api->selfmon, route_name(req.path, path_arg != NULL), res.status,
                        (double)(clock_mono_ns() - t0) / 1e9);
        log_debug("%s %s -> %d (%.3f ms)", method, req.path, res.status, (double)(clock_mono_ns() - t0) / 1e6);
    }
    enum MHD_Result ret = send_response(s, con, &res);
    buf_free(&res.body);
    params_free(&req.params);
    free(path);
    free(path_arg);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_server_t *s = cls;
    req_ctx_t *rc = *con_cls;
    if (!rc) { /* the URI-log callback always runs first; be safe anyway */
        rc = on_uri(s, url, con);
        *con_cls = rc;
    }
    size_t cap = s->api->max_request_bytes;
    if (!rc->started) {
        rc->started = true;
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && cap && strtoull(cl, NULL, 10) > cap) {
            rc->responded = true;
            return too_large(s, con);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        rc->seen += n;
        if (rc->responded) return MHD_YES;
        if (!rc->too_large && cap && rc->seen > cap) {
            rc->too_large = true;
            buf_free(&rc->body);
            /* Answer now if MHD lets us mid-body (0.9.75 does not); otherwise the rest is read and
             * dropped (never stored) and answered at the end. A sender going on well past the
             * cap is cut off without an answer so it cannot hold a thread forever. */
            if (too_large(s, con) == MHD_YES) rc->responded = true;
        }
        if (rc->too_large) return rc->seen > 2 * (uint64_t)cap + (16u << 20) ? MHD_NO : MHD_YES;
        buf_append(&rc->body, upload_data, n);
        return MHD_YES;
    }
    if (rc->responded) return MHD_YES;
    rc->responded = true;
    if (rc->too_large) return too_large(s, con);
    return dispatch(s, con, method, rc);
}

/* Splits "host:port" / "[v6]:port" / ":port" and resolves it. */
static int resolve(const char *addr, struct sockaddr_storage *sa, char *err, size_t err_len)
{
    char host[256];
    const char *port;
    if (addr[0] == '[') {
        const char *e = strchr(addr, ']');
        if (!e || e[1] != ':' || (size_t)(e - addr - 1) >= sizeof host) goto bad;
        memcpy(host, addr + 1, (size_t)(e - addr - 1));
        host[e - addr - 1] = 0;
        port = e + 2;
    } else {
        const char *c = strrchr(addr, ':');
        if (!c || (size_t)(c - addr) >= sizeof host) goto bad;
        memcpy(host, addr, (size_t)(c - addr));
        host[c - addr] = 0;
        port = c + 1;
    }
    if (!*port || strspn(port, "0123456789") != strlen(port) || atol(port) > 65535) goto bad;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gr = getaddrinfo(*host ? host : "0.0.0.0", port, &hints, &ai);
    if (gr != 0 || !ai) {
        snprintf(err, err_len, "cannot resolve --http-addr %s: %s", addr, gai_strerror(gr));
        return MS_EINVAL;
    }
    /* A name such as "localhost" may resolve to ::1 and 127.0.0.1; prefer IPv4, as clients do. */
    const struct addrinfo *pick = ai;
    for (const struct addrinfo *p = ai; p; p = p->ai_next)
        if (p->ai_family == AF_INET) { pick = p; break; }
    memcpy(sa, pick->ai_addr, pick->ai_addrlen);
    freeaddrinfo(ai);
    return MS_OK;
bad:
    snprintf(err, err_len, "invalid --http-addr %s (want host:port)", addr);
    return MS_EINVAL;
}

int http_addr_check(const char *addr, char *err, size_t err_len)
{
    struct sockaddr_storage sa;
    return resolve(addr, &sa, err, err_len);
}

int http_server_start(api_t *api, const http_options_t *opts, http_server_t **out, char *err, size_t err_len)
{
    http_server_t *s = xcalloc(1, sizeof *s);
    s->api = api;
    atomic_init(&s->inflight, 0);
    atomic_init(&s->stopping, false);
    atomic_init(&s->writes, 0);
    atomic_init(&s->queries, 0);
    int rc = resolve(opts->addr, &s->sa, err, err_len);
    if (rc != 0) { free(s); return rc; }
    if ((opts->tls_cert_file != NULL) != (opts->tls_key_file != NULL)) {
        snprintf(err, err_len, "TLS needs both --tls-cert-file and --tls-key-file");
        free(s);
        return MS_EINVAL;
    }
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    if (opts->tls_cert_file) {
        rc = auth_tls_load(opts->tls_cert_file, opts->tls_key_file, &s->tls_cert, &s->tls_key, err, err_len);
        if (rc != 0) { free(s); return rc; }
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
    }
    /* Default: one thread per connection (bounded by the connection limit), so a long query
     * blocks only its own connection and never the writes or queries that would otherwise share
     * its pool thread; the api's concurrency limits bound the work actually running.
     * threads > 0 selects the older epoll thread pool of that size. */
    unsigned threads = opts->threads;
    unsigned flags = MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (s->tls_cert) flags |= MHD_USE_TLS;
    if (threads)
        flags |= MHD_USE_EPOLL_INTERNAL_THREAD;
    else
        flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    if (s->sa.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, /* first, so every message goes through it */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&s->sa,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, opts->connection_limit ? opts->connection_limit : 1024u,
        MHD_OPTION_CONNECTION_TIMEOUT, opts->connection_timeout_s ? opts->connection_timeout_s : 120u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
    if (!s->daemon) {
        if (s->tls_cert)
            snprintf(err, err_len, "cannot listen on %s with TLS (address in use, not permitted, or the "
                                   "certificate/key refused by libmicrohttpd?)", opts->addr);
        else
            snprintf(err, err_len, "cannot listen on %s (address in use or not permitted?)", opts->addr);
        free(s->tls_cert);
        auth_tls_free_key(s->tls_key);
        free(s);
        return MS_EIO;
    }
    const char *scheme = s->tls_cert ? "https" : "http";
    if (threads)
        log_info("http: listening on %s (%s) with %u threads", opts->addr, scheme, threads);
    else
        log_info("http: listening on %s (%s), one thread per connection", opts->addr, scheme);
    *out = s;
    return MS_OK;
}

void http_server_stop(http_server_t *s, int64_t drain_ms)
{
    if (!s) return;
    atomic_store(&s->stopping, true);
    MHD_socket lsock = MHD_quiesce_daemon(s->daemon);
    if (lsock != MHD_INVALID_SOCKET) close(lsock);
    int64_t deadline = clock_mono_ns() + drain_ms * 1000000;
    while (atomic_load(&s->inflight) > 0 && clock_mono_ns() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    long left = atomic_load(&s->inflight);
    if (left > 0) log_warn("http: stopping with %ld requests still in flight", left);
    MHD_stop_daemon(s->daemon);
    free(s->tls_cert);
    auth_tls_free_key(s->tls_key);
    free(s);
}
