/* api_meta.c owns the series-metadata endpoints: /api/v1/series, /api/v1/labels,
 * /api/v1/label/<name>/values and /api/v1/metadata. Selectors come from match[] (parsed by the
 * PromQL parser); results are sorted, de-duplicated and rendered as Prometheus's JSON. */
#include "api/api.h"
#include "api/json.h"
#include "util/alloc.h"
#include "util/status.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parsed match[] selectors of one request (or the match-everything selector). */
typedef struct selectors {
    matcher_t ***sets;
    size_t *lens;
    size_t n;
} selectors_t;

static void selectors_free(selectors_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; j < s->lens[i]; j++) matcher_free(s->sets[i][j]);
        free(s->sets[i]);
    }
    free(s->sets);
    free(s->lens);
    memset(s, 0, sizeof *s);
}

/* Parses every match[]; with none and match_all set, selects every series with __name__=~".*"
 * (which also matches series lacking a name). Writes the 400 response and returns false on error. */
static bool selectors_parse(const api_request_t *req, api_response_t *res, bool match_all, selectors_t *out)
{
    /* Prometheus prefixes match[] errors only on /series; /labels and /label/../values don't. */
    const char *pfx = match_all ? "invalid parameter \"match[]\": " : "";
    memset(out, 0, sizeof *out);
    size_t n = params_count(&req->params, "match[]");
    if (n == 0 && !match_all) return true;
    out->sets = xcalloc(n ? n : 1, sizeof *out->sets);
    out->lens = xcalloc(n ? n : 1, sizeof *out->lens);
    if (n == 0) {
        char err[256];
        matcher_t *m;
        if (matcher_new(MATCH_RE, "__name__", 8, ".*", 2, &m, err, sizeof err) != 0) {
            api_json_error(res, "internal", "%s", err);
            return false;
        }
        out->sets[0] = xmalloc(sizeof(matcher_t *));
        out->sets[0][0] = m;
        out->lens[0] = 1;
        out->n = 1;
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        promql_error_t perr;
        memset(&perr, 0, sizeof perr);
        const char *sel = params_get_nth(&req->params, "match[]", i);
        if (promql_parse_selector(sel, &out->sets[i], &out->lens[i], &perr) != 0) {
            api_json_error(res, "bad_data", "%s%s", pfx, perr.message);
            selectors_free(out);
            return false;
        }
        out->n = i + 1;
        bool nonempty = false;
        for (size_t j = 0; j < out->lens[i]; j++)
            if (!out->sets[i][j]->matches_empty) nonempty = true;
        if (!nonempty) {
            api_json_error(res, "bad_data", "%smatch[] must contain at least one non-empty matcher", pfx);
            selectors_free(out);
            return false;
        }
    }
    return true;
}

/* Parses limit= (0 or absent: unlimited). */
static bool limit_param(const api_request_t *req, api_response_t *res, size_t *limit)
{
    *limit = 0;
    const char *s = params_get(&req->params, "limit");
    if (!s || !*s) return true;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno) {
        api_json_error(res, "bad_data", "invalid parameter \"limit\": strconv.Atoi: parsing \"%s\": invalid syntax", s);
        return false;
    }
    if (v < 0) {
        api_json_error(res, "bad_data", "invalid parameter \"limit\": limit must be non-negative");
        return false;
    }
    *limit = (size_t)v;
    return true;
}

static bool range_params(const api_request_t *req, api_response_t *res, int64_t *start, int64_t *end)
{
    if (!api_param_time(req, res, "start", PARAMS_MIN_TIME_MS, start)) return false;
    if (!api_param_time(req, res, "end", PARAMS_MAX_TIME_MS, end)) return false;
    return true;
}

static void storage_error(api_response_t *res, int rc)
{
    api_json_error(res, rc == MS_EBUSY || rc == MS_ECLOSED ? "unavailable" : "internal", "storage: %s", ms_strerror(rc));
}

/* Selected series of all selectors: the sets stay open (their labels are borrowed from them). */
typedef struct selection {
    series_set_t **sets;
    size_t n_sets;
    labels_t *series;
    size_t n, cap;
} selection_t;

static void selection_free(selection_t *s)
{
    for (size_t i = 0; i < s->n_sets; i++) series_set_free(s->sets[i]);
    free(s->sets);
    free(s->series);
}

static int labels_qsort_cmp(const void *a, const void *b)
{
    const labels_t *x = a, *y = b;
    return labels_cmp(x->v, x->n, y->v, y->n);
}

static int select_all(querier_t *q, const selectors_t *sel, selection_t *out)
{
    memset(out, 0, sizeof *out);
    out->sets = xcalloc(sel->n ? sel->n : 1, sizeof *out->sets);
    for (size_t i = 0; i < sel->n; i++) {
        int rc = querier_select(q, (const matcher_t *const *)sel->sets[i], sel->lens[i], &out->sets[i]);
        if (rc != 0) return rc;
        out->n_sets = i + 1;
        size_t len = series_set_len(out->sets[i]);
        for (size_t j = 0; j < len; j++) {
            XGROW(out->series, out->cap, out->n + 1);
            out->series[out->n++] = series_set_labels(out->sets[i], j);
        }
    }
    if (sel->n > 1 && out->n > 1) { /* each set is sorted; the union needs a sort and de-duplication */
        qsort(out->series, out->n, sizeof *out->series, labels_qsort_cmp);
        size_t w = 0;
        for (size_t i = 0; i < out->n; i++)
            if (!w || labels_cmp(out->series[w - 1].v, out->series[w - 1].n, out->series[i].v, out->series[i].n))
                out->series[w++] = out->series[i];
        out->n = w;
    }
    return 0;
}

static void write_truncated_warning(api_response_t *res)
{
    buf_puts(&res->body, ",\"warnings\":[\"results truncated due to limit\"]");
}

void api_handle_series(api_t *api, const api_request_t *req, api_response_t *res)
{
    int64_t start, end;
    size_t limit;
    selectors_t sel;
    if (!range_params(req, res, &start, &end) || !limit_param(req, res, &limit)) return;
    if (!selectors_parse(req, res, true, &sel)) return;
    querier_t *q = NULL;
    selection_t s;
    memset(&s, 0, sizeof s);
    int rc = db_querier(api->db, start, end, &q);
    if (rc == 0) rc = api_scope_querier(req, q);
    if (rc == 0) rc = select_all(q, &sel, &s);
    size_t cap = api->max_series_returned;
    if (rc != 0) {
        storage_error(res, rc);
    } else if (cap && s.n > cap && (!limit || limit > cap)) {
        /* refused rather than cut short without the client asking: a silently partial series list
         * looks complete to a dashboard */
        api_json_error(res, "execution",
                       "the selectors match %zu series, more than --max-series-per-request=%zu; narrow match[] or "
                       "the time range, or pass limit=",
                       s.n, cap);
    } else {
        api_json_begin(res);
        buf_putc(&res->body, '[');
        size_t n = limit && s.n > limit ? limit : s.n;
        for (size_t i = 0; i < n; i++) {
            if (i) buf_putc(&res->body, ',');
            json_labels(&res->body, s.series[i].v, s.series[i].n);
        }
        buf_putc(&res->body, ']');
        if (n < s.n) write_truncated_warning(res);
        api_json_end(res);
    }
    selection_free(&s);
    querier_close(q);
    selectors_free(&sel);
}

/* A list of borrowed strings to sort and de-duplicate. */
typedef struct strs {
    const char **s;
    size_t *len;
    size_t n, cap, cap2;
} strs_t;

static void strs_add(strs_t *v, const char *s, size_t len)
{
    XGROW(v->s, v->cap, v->n + 1);
    XGROW(v->len, v->cap2, v->n + 1);
    v->s[v->n] = s;
    v->len[v->n++] = len;
}

typedef struct str_ref {
    const char *s;
    size_t len;
} str_ref_t;

static int str_ref_cmp(const void *a, const void *b)
{
    const str_ref_t *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, m);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static void strs_sort_unique(strs_t *v)
{
    str_ref_t *r = xmalloc((v->n ? v->n : 1) * sizeof *r);
    for (size_t i = 0; i < v->n; i++) r[i] = (str_ref_t){v->s[i], v->len[i]};
    qsort(r, v->n, sizeof *r, str_ref_cmp);
    size_t w = 0;
    for (size_t i = 0; i < v->n; i++)
        if (!w || str_ref_cmp(&r[w - 1], &r[i])) r[w++] = r[i];
    for (size_t i = 0; i < w; i++) {
        v->s[i] = r[i].s;
        v->len[i] = r[i].len;
    }
    v->n = w;
    free(r);
}

static void write_strings(api_response_t *res, const char *const *s, const size_t *len, size_t n, size_t limit)
{
    api_json_begin(res);
    buf_putc(&res->body, '[');
    size_t m = limit && n > limit ? limit : n;
    for (size_t i = 0; i < m; i++) {
        if (i) buf_putc(&res->body, ',');
        json_str(&res->body, s[i], len[i]);
    }
    buf_putc(&res->body, ']');
    if (m < n) write_truncated_warning(res);
    api_json_end(res);
}

/* Shared body of /labels (name == NULL) and /label/<name>/values. */
static void label_query(api_t *api, const api_request_t *req, api_response_t *res, const char *name)
{
    int64_t start, end;
    size_t limit;
    selectors_t sel;
    if (!range_params(req, res, &start, &end) || !limit_param(req, res, &limit)) return;
    if (!selectors_parse(req, res, false, &sel)) return;
    querier_t *q = NULL;
    int rc = db_querier(api->db, start, end, &q);
    if (rc == 0) rc = api_scope_querier(req, q);
    if (rc != 0) {
        storage_error(res, rc);
    } else if (sel.n == 0) {
        const char **s = NULL;
        size_t *len = NULL, n = 0;
        rc = name ? querier_label_values(q, name, strlen(name), &s, &len, &n) : querier_label_names(q, &s, &len, &n);
        if (rc != 0)
            storage_error(res, rc);
        else
            write_strings(res, s, len, n, limit);
        free(s);
        free(len);
    } else {
        selection_t s;
        rc = select_all(q, &sel, &s);
        if (rc != 0) {
            storage_error(res, rc);
        } else {
            strs_t v;
            memset(&v, 0, sizeof v);
            size_t name_len = name ? strlen(name) : 0;
            for (size_t i = 0; i < s.n; i++) {
                const labels_t *ls = &s.series[i];
                for (size_t j = 0; j < ls->n; j++) {
                    if (!name)
                        strs_add(&v, ls->v[j].name, ls->v[j].name_len);
                    else if (ls->v[j].name_len == name_len && !memcmp(ls->v[j].name, name, name_len))
                        strs_add(&v, ls->v[j].value, ls->v[j].value_len);
                }
            }
            strs_sort_unique(&v);
            write_strings(res, v.s, v.len, v.n, limit);
            free(v.s);
            free(v.len);
        }
        selection_free(&s);
    }
    querier_close(q);
    selectors_free(&sel);
}

void api_handle_labels(api_t *api, const api_request_t *req, api_response_t *res)
{
    label_query(api, req, res, NULL);
}

void api_handle_label_values(api_t *api, const api_request_t *req, api_response_t *res)
{
    const char *name = req->path_arg;
    if (!name || !*name) {
        api_json_error(res, "bad_data", "invalid label name: \"%s\"", name ? name : "");
        return;
    }
    label_query(api, req, res, name);
}

/* ---- /api/v1/metadata ---- */

typedef struct md_entry {
    char *metric, *type, *help, *unit;
    size_t seq; /* insertion order, to keep the sort stable */
} md_entry_t;

typedef struct md_list {
    md_entry_t *v;
    size_t n, cap;
} md_list_t;

static int md_collect(const metric_metadata_t *m, void *arg)
{
    md_list_t *l = arg;
    XGROW(l->v, l->cap, l->n + 1);
    l->v[l->n] = (md_entry_t){xstrdup(m->metric ? m->metric : ""), xstrdup(m->type ? m->type : ""),
                              xstrdup(m->help ? m->help : ""), xstrdup(m->unit ? m->unit : ""), l->n};
    l->n++;
    return 0;
}

static int md_cmp(const void *a, const void *b)
{
    const md_entry_t *x = a, *y = b;
    int c = strcmp(x->metric, y->metric);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool md_same(const md_entry_t *a, const md_entry_t *b)
{
    return !strcmp(a->type, b->type) && !strcmp(a->help, b->help) && !strcmp(a->unit, b->unit);
}

static bool int_param(const api_request_t *req, api_response_t *res, const char *name, long long *out)
{
    *out = -1;
    const char *s = params_get(&req->params, name);
    if (!s || !*s) return true;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno) {
        api_json_error(res, "bad_data", "%s must be a number", name);
        return false;
    }
    *out = v;
    return true;
}

/* Tenant mode: metadata is stored per metric name, not per tenant, so keep only the entries of
 * metric names the tenant has series of (at any time). */
static int md_scope(api_t *api, const api_request_t *req, md_list_t *l)
{
    querier_t *q = NULL;
    int rc = db_querier(api->db, PARAMS_MIN_TIME_MS, PARAMS_MAX_TIME_MS, &q);
    if (rc == 0) rc = api_scope_querier(req, q);
    const char **names = NULL;
    size_t *lens = NULL, n = 0;
    if (rc == 0) rc = querier_label_values(q, METRIC_NAME_LABEL, strlen(METRIC_NAME_LABEL), &names, &lens, &n);
    if (rc == 0) {
        size_t w = 0;
        for (size_t i = 0; i < l->n; i++) {
            size_t ml = strlen(l->v[i].metric), lo = 0, hi = n;
            bool keep = false;
            while (lo < hi && !keep) { /* names are sorted bytewise */
                size_t mid = lo + (hi - lo) / 2;
                size_t m = ml < lens[mid] ? ml : lens[mid];
                int c = memcmp(l->v[i].metric, names[mid], m);
                if (!c) c = ml < lens[mid] ? -1 : ml > lens[mid];
                if (!c) keep = true;
                else if (c < 0) hi = mid;
                else lo = mid + 1;
            }
            if (keep) {
                l->v[w++] = l->v[i];
            } else {
                free(l->v[i].metric);
                free(l->v[i].type);
                free(l->v[i].help);
                free(l->v[i].unit);
            }
        }
        l->n = w;
    }
    free(names);
    free(lens);
    querier_close(q);
    return rc;
}

void api_handle_metadata(api_t *api, const api_request_t *req, api_response_t *res)
{
    long long limit, per_metric;
    if (!int_param(req, res, "limit", &limit) || !int_param(req, res, "limit_per_metric", &per_metric)) return;
    const char *metric = params_get(&req->params, "metric");
    if (metric && !*metric) metric = NULL;
    md_list_t l;
    memset(&l, 0, sizeof l);
    int rc = db_metadata_each(api->db, metric, md_collect, &l);
    if (rc == 0 && req->tenant) rc = md_scope(api, req, &l);
    if (rc != 0) {
        storage_error(res, rc);
    } else {
        if (l.n) qsort(l.v, l.n, sizeof *l.v, md_cmp);
        api_json_begin(res);
        buf_putc(&res->body, '{');
        long long metrics = 0;
        for (size_t i = 0; i < l.n;) {
            size_t j = i;
            while (j < l.n && !strcmp(l.v[j].metric, l.v[i].metric)) j++;
            if (limit >= 0 && metrics >= limit) break;
            if (metrics++) buf_putc(&res->body, ',');
            json_cstr(&res->body, l.v[i].metric);
            buf_puts(&res->body, ":[");
            long long written = 0;
            for (size_t k = i; k < j; k++) {
                bool dup = false;
                for (size_t p = i; p < k && !dup; p++) dup = md_same(&l.v[p], &l.v[k]);
                if (dup) continue;
                if (per_metric >= 0 && written >= per_metric) break;
                if (written++) buf_putc(&res->body, ',');
                buf_puts(&res->body, "{\"type\":");
                json_cstr(&res->body, l.v[k].type);
                buf_puts(&res->body, ",\"help\":");
                json_cstr(&res->body, l.v[k].help);
                buf_puts(&res->body, ",\"unit\":");
                json_cstr(&res->body, l.v[k].unit);
                buf_putc(&res->body, '}');
            }
            buf_putc(&res->body, ']');
            i = j;
        }
        buf_putc(&res->body, '}');
        api_json_end(res);
    }
    for (size_t i = 0; i < l.n; i++) {
        free(l.v[i].metric);
        free(l.v[i].type);
        free(l.v[i].help);
        free(l.v[i].unit);
    }
    free(l.v);
}
