/* cli.h owns what the metricstor-cli sources share: the HTTP client, a small JSON tree for
 * reading API answers, aligned table printing, and the subcommand entry points.
 * The tool is a separate program (build/metricstor-cli); it talks to a server over HTTP except
 * `tsdb analyze`, which opens a data dir through storage.h. Single-threaded. */
#ifndef MS_CLI_CLI_H
#define MS_CLI_CLI_H
#include "util/buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- HTTP (cli_http.c) ---- */

/* Sends one HTTP/1.1 request to base ("http://host:port", optional path prefix) + path and reads
 * the whole answer into body. content_type may be NULL (no body). Returns the HTTP status, or -1
 * with a message in err (connection refused, bad URL, malformed response). */
int cli_http(const char *base, const char *method, const char *path, const char *content_type, const void *req_body,
             size_t req_len, buf_t *body, char *err, size_t err_len);
/* Sends "Authorization: <value>" with every later cli_http request (e.g. "Bearer TOKEN"); NULL:
 * none. The string is borrowed for the life of the process. */
void cli_http_set_authorization(const char *value);
/* "Basic <base64(user:password)>", malloc'd (NULL when out of memory). */
char *cli_basic_authorization(const char *user_colon_password);
/* Appends s percent-encoded for a query string. */
void cli_urlencode(buf_t *b, const char *s);

/* ---- JSON (cli_json.c) ---- */

typedef enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jv_type_t;
typedef struct jv {
    jv_type_t type;
    char *s;              /* JV_STR: decoded text; JV_NUM/JV_BOOL: the literal as written */
    struct jv *items;     /* JV_ARR / JV_OBJ members, in order */
    char **keys;          /* JV_OBJ keys, parallel to items */
    size_t n;
} jv_t;
/* Parses a complete JSON text; returns NULL and writes err on malformed input. */
jv_t *jv_parse(const char *s, size_t n, char *err, size_t err_len);
void jv_free(jv_t *v);
const jv_t *jv_get(const jv_t *obj, const char *key); /* NULL if absent or not an object */
const char *jv_str(const jv_t *v);                     /* s of a string/number/bool, else "" */

/* ---- tables (cli_table.c) ---- */

typedef struct table {
    size_t cols;
    char **cells;         /* rows * cols, row-major, owned */
    size_t n, cap;        /* cells used / allocated */
} table_t;
void table_init(table_t *t, size_t cols);
/* Adds one cell (copied); rows fill left to right. */
void table_add(table_t *t, const char *cell);
void table_addf(table_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints rows with every column padded to its widest cell (UTF-8 aware), the first row as a
 * header followed by a rule. */
void table_print(const table_t *t);
void table_free(table_t *t);

/* ---- subcommands ---- */
int cli_cmd_query(const char *base, int argc, char **argv);
int cli_cmd_query_range(const char *base, int argc, char **argv);
int cli_cmd_series(const char *base, int argc, char **argv);
int cli_cmd_import(const char *base, int argc, char **argv);
int cli_cmd_export(const char *base, int argc, char **argv);
int cli_cmd_tsdb(int argc, char **argv);
int cli_cmd_hash_secret(int argc, char **argv); /* cli_auth.c: prints an --auth-file line */

#endif
