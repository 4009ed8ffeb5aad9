/* cli_cmds.c owns the metricstor-cli subcommands that talk to a server over HTTP: query,
 * query-range, series (answers shown as aligned tables), import FILE (batched POSTs with a
 * progress bar on a terminal) and export (raw bytes to stdout or a file). */
#include "cli/cli.h"
#include "util/alloc.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IMPORT_BATCH_BYTES (4u << 20)

/* Parses "--name value" / "--name=value" options (known names only) and collects positionals. */
typedef struct opts {
    const char *names[8];
    const char *values[8];
    size_t n_names;
    char **pos;
    size_t n_pos;
} opts_t;

static bool opts_parse(opts_t *o, int argc, char **argv, const char *const *names)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; names[i] && i < 8; i++) o->names[o->n_names++] = names[i];
    o->pos = xcalloc((size_t)argc + 1, sizeof *o->pos);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) || !a[2]) {
            o->pos[o->n_pos++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        size_t k = 0;
        while (k < o->n_names && (strlen(o->names[k]) != nl || strncmp(o->names[k], a + 2, nl))) k++;
        if (k == o->n_names) {
            fprintf(stderr, "metricstor-cli: unknown option %s\n", a);
            return false;
        }
        if (eq) o->values[k] = eq + 1;
        else if (i + 1 < argc) o->values[k] = argv[++i];
        else {
            fprintf(stderr, "metricstor-cli: option %s needs a value\n", a);
            return false;
        }
    }
    return true;
}

static const char *opt(const opts_t *o, const char *name)
{
    for (size_t k = 0; k < o->n_names; k++)
        if (!strcmp(o->names[k], name)) return o->values[k];
    return NULL;
}

static void add_param(buf_t *q, const char *key, const char *value)
{
    if (!value) return;
    buf_putc(q, q->len ? '&' : '?');
    buf_puts(q, key);
    buf_putc(q, '=');
    cli_urlencode(q, value);
}

/* GETs path+query and returns the parsed JSON "data", or NULL after printing the error. */
static jv_t *api_get(const char *base, const char *path, buf_t *q)
{
    buf_t url = BUF_INIT, body = BUF_INIT;
    buf_puts(&url, path);
    if (q->len) buf_append(&url, q->data, q->len);
    char err[512];
    int st = cli_http(base, "GET", buf_cstr(&url), NULL, NULL, 0, &body, err, sizeof err);
    buf_free(&url);
    if (st < 0) {
        fprintf(stderr, "metricstor-cli: %s\n", err);
        buf_free(&body);
        return NULL;
    }
    jv_t *doc = jv_parse((const char *)body.data, body.len, err, sizeof err);
    if (!doc) {
        fprintf(stderr, "metricstor-cli: HTTP %d, %s: %.200s\n", st, err, body.data ? buf_cstr(&body) : "");
        buf_free(&body);
        return NULL;
    }
    buf_free(&body);
    if (strcmp(jv_str(jv_get(doc, "status")), "success")) {
        fprintf(stderr, "metricstor-cli: %s: %s\n", jv_str(jv_get(doc, "errorType")), jv_str(jv_get(doc, "error")));
        jv_free(doc);
        return NULL;
    }
    const jv_t *w = jv_get(doc, "warnings");
    for (size_t i = 0; w && i < w->n; i++) fprintf(stderr, "warning: %s\n", jv_str(&w->items[i]));
    return doc;
}

/* name{a="b",...} of a JSON label object. */
static void series_str(buf_t *b, const jv_t *metric)
{
    const char *name = jv_str(jv_get(metric, "__name__"));
    buf_puts(b, name);
    bool any = false;
    for (size_t i = 0; metric && i < metric->n; i++) {
        if (!strcmp(metric->keys[i], "__name__")) continue;
        buf_puts(b, any ? ", " : "{");
        buf_printf(b, "%s=\"%s\"", metric->keys[i], jv_str(&metric->items[i]));
        any = true;
    }
    if (any) buf_putc(b, '}');
    if (!b->len) buf_puts(b, "{}");
}

/* "2026-01-02T03:04:05.678Z" for a JSON timestamp in seconds. */
static void time_str(char *out, size_t n, const char *secs)
{
    double t = strtod(secs, NULL);
    time_t s = (time_t)(t >= 0 ? t : t - 1);
    int ms = (int)((t - (double)s) * 1000 + 0.5);
    if (ms >= 1000) { s++; ms -= 1000; }
    struct tm tm;
    gmtime_r(&s, &tm);
    char tmp[24];
    if (strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm) == 0) tmp[0] = 0;
    snprintf(out, n, "%.23s.%03uZ", tmp, (unsigned)ms % 1000u);
}

static void print_result(const jv_t *data)
{
    const char *rt = jv_str(jv_get(data, "resultType"));
    const jv_t *res = jv_get(data, "result");
    if (!strcmp(rt, "scalar") || !strcmp(rt, "string")) {
        char ts[64];
        time_str(ts, sizeof ts, res && res->n == 2 ? jv_str(&res->items[0]) : "0");
        printf("%s (%s at %s)\n", res && res->n == 2 ? jv_str(&res->items[1]) : "", rt, ts);
        return;
    }
    table_t t;
    table_init(&t, 3);
    table_add(&t, "SERIES");
    table_add(&t, "TIME");
    table_add(&t, "VALUE");
    size_t points = 0;
    for (size_t i = 0; res && i < res->n; i++) {
        const jv_t *s = &res->items[i];
        buf_t name = BUF_INIT;
        series_str(&name, jv_get(s, "metric"));
        const jv_t *one = jv_get(s, "value"), *many = jv_get(s, "values");
        size_t np = one ? 1 : many ? many->n : 0;
        for (size_t k = 0; k < np; k++) {
            const jv_t *p = one ? one : &many->items[k];
            char ts[64];
            time_str(ts, sizeof ts, p->n == 2 ? jv_str(&p->items[0]) : "0");
            table_add(&t, k == 0 ? buf_cstr(&name) : "");
            table_add(&t, ts);
            table_add(&t, p->n == 2 ? jv_str(&p->items[1]) : "");
            points++;
        }
        buf_free(&name);
    }
    table_print(&t);
    table_free(&t);
    printf("(%zu series, %zu points, %s)\n", res ? res->n : 0, points, rt);
}

int cli_cmd_query(const char *base, int argc, char **argv)
{
    static const char *const names[] = {"time", "timeout", NULL};
    opts_t o;
    if (!opts_parse(&o, argc, argv, names) || o.n_pos != 1) {
        fprintf(stderr, "usage: metricstor-cli query [--time T] [--timeout D] EXPR\n");
        free(o.pos);
        return 2;
    }
    buf_t q = BUF_INIT;
    add_param(&q, "query", o.pos[0]);
    add_param(&q, "time", opt(&o, "time"));
    add_param(&q, "timeout", opt(&o, "timeout"));
    jv_t *doc = api_get(base, "/api/v1/query", &q);
    buf_free(&q);
    free(o.pos);
    if (!doc) return 1;
    print_result(jv_get(doc, "data"));
    jv_free(doc);
    return 0;
}

int cli_cmd_query_range(const char *base, int argc, char **argv)
{
    static const char *const names[] = {"start", "end", "step", "timeout", NULL};
    opts_t o;
    if (!opts_parse(&o, argc, argv, names) || o.n_pos != 1) {
        fprintf(stderr, "usage: metricstor-cli query-range [--start T] [--end T] [--step D] EXPR\n"
                        "       (defaults: the last hour, step 60s)\n");
        free(o.pos);
        return 2;
    }
    char s_def[32], e_def[32];
    time_t now = time(NULL);
    snprintf(e_def, sizeof e_def, "%lld", (long long)now);
    snprintf(s_def, sizeof s_def, "%lld", (long long)now - 3600);
    buf_t q = BUF_INIT;
    add_param(&q, "query", o.pos[0]);
    add_param(&q, "start", opt(&o, "start") ? opt(&o, "start") : s_def);
    add_param(&q, "end", opt(&o, "end") ? opt(&o, "end") : e_def);
    add_param(&q, "step", opt(&o, "step") ? opt(&o, "step") : "60");
    add_param(&q, "timeout", opt(&o, "timeout"));
    jv_t *doc = api_get(base, "/api/v1/query_range", &q);
    buf_free(&q);
    free(o.pos);
    if (!doc) return 1;
    print_result(jv_get(doc, "data"));
    jv_free(doc);
    return 0;
}

int cli_cmd_series(const char *base, int argc, char **argv)
{
    static const char *const names[] = {"start", "end", "limit", NULL};
    opts_t o;
    if (!opts_parse(&o, argc, argv, names) || o.n_pos < 1) {
        fprintf(stderr, "usage: metricstor-cli series [--start T] [--end T] [--limit N] SELECTOR...\n");
        free(o.pos);
        return 2;
    }
    buf_t q = BUF_INIT;
    for (size_t i = 0; i < o.n_pos; i++) add_param(&q, "match[]", o.pos[i]);
    add_param(&q, "start", opt(&o, "start"));
    add_param(&q, "end", opt(&o, "end"));
    add_param(&q, "limit", opt(&o, "limit"));
    jv_t *doc = api_get(base, "/api/v1/series", &q);
    buf_free(&q);
    free(o.pos);
    if (!doc) return 1;
    const jv_t *data = jv_get(doc, "data");
    /* Columns: NAME, then every other label name in first-seen order. */
    const char **cols = NULL;
    size_t n_cols = 0, cap = 0;
    XGROW(cols, cap, 1);
    cols[n_cols++] = "__name__";
    for (size_t i = 0; data && i < data->n; i++)
        for (size_t k = 0; k < data->items[i].n; k++) {
            const char *key = data->items[i].keys[k];
            size_t c = 0;
            while (c < n_cols && strcmp(cols[c], key)) c++;
            if (c == n_cols) {
                XGROW(cols, cap, n_cols + 1);
                cols[n_cols++] = key;
            }
        }
    table_t t;
    table_init(&t, n_cols);
    for (size_t c = 0; c < n_cols; c++) table_add(&t, c == 0 ? "NAME" : cols[c]);
    for (size_t i = 0; data && i < data->n; i++)
        for (size_t c = 0; c < n_cols; c++) table_add(&t, jv_str(jv_get(&data->items[i], cols[c])));
    table_print(&t);
    printf("(%zu series)\n", data ? data->n : 0);
    table_free(&t);
    free(cols);
    jv_free(doc);
    return 0;
}

static void progress(size_t done, size_t total, size_t lines)
{
    int pct = total ? (int)(done * 100 / total) : 100;
    int fill = pct * 30 / 100;
    fprintf(stderr, "\r[");
    for (int i = 0; i < 30; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %3d%%  %.1f/%.1f MiB  %zu lines", pct, (double)done / 1048576.0, (double)total / 1048576.0,
            lines);
    fflush(stderr);
}

/* Rewrites the first "line N" in a server message to count from the file's first line. */
static void shift_line(const char *msg, size_t first_line, char *out, size_t n)
{
    const char *p = strstr(msg, "line ");
    if (!p || p[5] < '0' || p[5] > '9') {
        snprintf(out, n, "%s", msg);
        return;
    }
    char *end;
    unsigned long long ln = strtoull(p + 5, &end, 10);
    snprintf(out, n, "%.*sline %llu%s", (int)(p - msg), msg, ln + first_line - 1, end);
}

int cli_cmd_import(const char *base, int argc, char **argv)
{
    static const char *const names[] = {"format", NULL};
    opts_t o;
    if (!opts_parse(&o, argc, argv, names) || o.n_pos != 1) {
        fprintf(stderr, "usage: metricstor-cli import [--format prometheus|json] FILE   (- for stdin)\n");
        free(o.pos);
        return 2;
    }
    const char *path = o.pos[0];
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "metricstor-cli: cannot open %s: %s\n", path, strerror(errno));
        free(o.pos);
        return 1;
    }
    buf_t data = BUF_INIT;
    char tmp[1 << 16];
    size_t r;
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(&data, tmp, r);
    if (f != stdin) fclose(f);
    const char *fmt = opt(&o, "format");
    bool json;
    if (fmt) {
        json = !strcmp(fmt, "json") || !strcmp(fmt, "jsonl");
        if (!json && strcmp(fmt, "prometheus") && strcmp(fmt, "text")) {
            fprintf(stderr, "metricstor-cli: --format must be prometheus or json\n");
            free(o.pos);
            buf_free(&data);
            return 2;
        }
    } else {
        size_t i = 0;
        while (i < data.len && (data.data[i] == ' ' || data.data[i] == '\n' || data.data[i] == '\t')) i++;
        json = i < data.len && data.data[i] == '{';
    }
    const char *ep = json ? "/api/v1/import" : "/api/v1/import/prometheus";
    bool tty = isatty(STDERR_FILENO);
    size_t off = 0, line = 1, requests = 0;
    int rc = 0;
    buf_t body = BUF_INIT;
    while (off < data.len) {
        size_t end = off + IMPORT_BATCH_BYTES < data.len ? off + IMPORT_BATCH_BYTES : data.len;
        while (end < data.len && data.data[end - 1] != '\n') end++; /* whole lines only */
        char err[512];
        int st = cli_http(base, "POST", ep, json ? "application/json" : "text/plain; version=0.0.4", data.data + off,
                          end - off, &body, err, sizeof err);
        requests++;
        if (st != 204 && st != 200) {
            if (tty) fputc('\n', stderr);
            char msg[700];
            shift_line(st < 0 ? err : body.data ? buf_cstr(&body) : "", line, msg, sizeof msg);
            size_t ml = strlen(msg);
            while (ml && msg[ml - 1] == '\n') msg[--ml] = 0;
            fprintf(stderr, "metricstor-cli: import failed%s%d: %s\n", st < 0 ? "" : " with HTTP ", st < 0 ? 0 : st, msg);
            if (off) fprintf(stderr, "metricstor-cli: lines before %zu were stored by earlier requests\n", line);
            rc = 1;
            break;
        }
        for (size_t i = off; i < end; i++) line += data.data[i] == '\n';
        off = end;
        if (tty) progress(off, data.len, line - 1);
    }
    if (tty && rc == 0) fputc('\n', stderr);
    if (rc == 0)
        fprintf(stderr, "imported %zu lines (%zu bytes) from %s in %zu request%s\n", line - 1, data.len, path, requests,
                requests == 1 ? "" : "s");
    buf_free(&body);
    buf_free(&data);
    free(o.pos);
    return rc;
}

int cli_cmd_export(const char *base, int argc, char **argv)
{
    static const char *const names[] = {"start", "end", "format", "output", NULL};
    opts_t o;
    if (!opts_parse(&o, argc, argv, names) || o.n_pos < 1) {
        fprintf(stderr, "usage: metricstor-cli export [--start T] [--end T] [--format json|prometheus] "
                        "[--output FILE] SELECTOR...\n");
        free(o.pos);
        return 2;
    }
    buf_t q = BUF_INIT, url = BUF_INIT, body = BUF_INIT;
    for (size_t i = 0; i < o.n_pos; i++) add_param(&q, "match[]", o.pos[i]);
    add_param(&q, "start", opt(&o, "start"));
    add_param(&q, "end", opt(&o, "end"));
    add_param(&q, "format", opt(&o, "format"));
    buf_puts(&url, "/api/v1/export");
    buf_append(&url, q.data, q.len);
    char err[512];
    int st = cli_http(base, "GET", buf_cstr(&url), NULL, NULL, 0, &body, err, sizeof err);
    int rc = 0;
    if (st != 200) {
        fprintf(stderr, "metricstor-cli: export failed: %s\n", st < 0 ? err : body.data ? buf_cstr(&body) : "");
        rc = 1;
    } else {
        const char *out = opt(&o, "output");
        FILE *f = out && strcmp(out, "-") ? fopen(out, "wb") : stdout;
        if (!f || fwrite(body.data, 1, body.len, f) != body.len || (f != stdout && fclose(f) != 0)) {
            fprintf(stderr, "metricstor-cli: cannot write %s: %s\n", out ? out : "stdout", strerror(errno));
            rc = 1;
        }
        if (f == stdout) fflush(stdout);
    }
    buf_free(&q);
    buf_free(&url);
    buf_free(&body);
    free(o.pos);
    return rc;
}
