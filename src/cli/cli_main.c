/* cli_main.c owns metricstor-cli's entry point: global options (--url, METRICSTOR_URL, the
 * credential from $METRICSTOR_TOKEN or $METRICSTOR_BASIC_AUTH), the
 * usage text, and dispatch to one subcommand. */
#include "cli/cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: metricstor-cli [--url http://host:port] COMMAND [ARGS]\n"
               "\n"
               "commands (talking to a server; --url or $METRICSTOR_URL, default http://127.0.0.1:9101):\n"
               "  query [--time T] EXPR                         instant query, as a table\n"
               "  query-range [--start T] [--end T] [--step D] EXPR\n"
               "                                                range query (default: last hour, 60s)\n"
               "  series [--start T] [--end T] SELECTOR...      matching series, one column per label\n"
               "  import [--format prometheus|json] FILE        text exposition or JSON lines ('-': stdin),\n"
               "                                                progress bar on a terminal\n"
               "  export [--format json|prometheus] [--start T] [--end T] [--output FILE] SELECTOR...\n"
               "                                                raw samples (JSON lines by default)\n"
               "command on a data dir (the server must not be running on it):\n"
               "  tsdb analyze --data-dir DIR [--limit N]       cardinality report\n"
               "offline:\n"
               "  hash-secret [--kind bearer|basic] [--name N] [--tenant T] [--role R] [--expires T] [--secret S]\n"
               "                                                print an --auth-file line (hash-secret --help)\n"
               "\n"
               "Times are Unix seconds or RFC 3339; durations are 30s, 5m, 1h ...\n"
               "Credentials for a server with --auth-file come from the environment (never argv, which\n"
               "other users can read): $METRICSTOR_TOKEN (a bearer token) or $METRICSTOR_BASIC_AUTH\n"
               "(user:password).\n");
}

int main(int argc, char **argv)
{
    const char *base = getenv("METRICSTOR_URL");
    if (!base || !*base) base = "http://127.0.0.1:9101";
    int i = 1;
    while (i < argc && !strncmp(argv[i], "--", 2)) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--url") && i + 1 < argc) {
            base = argv[i + 1];
            i += 2;
        } else if (!strncmp(argv[i], "--url=", 6)) {
            base = argv[i] + 6;
            i++;
        } else {
            fprintf(stderr, "metricstor-cli: unknown option %s\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    char *auth_header = NULL;
    const char *token = getenv("METRICSTOR_TOKEN"), *basic = getenv("METRICSTOR_BASIC_AUTH");
    if (token && *token) {
        auth_header = malloc(strlen(token) + 8);
        if (!auth_header) return 1;
        sprintf(auth_header, "Bearer %s", token);
    } else if (basic && *basic) {
        auth_header = cli_basic_authorization(basic);
        if (!auth_header) return 1;
    }
    cli_http_set_authorization(auth_header);
    size_t bl = strlen(base);
    char *b = strdup(base);
    if (!b) return 1;
    while (bl > 7 && b[bl - 1] == '/') b[--bl] = 0; /* "http://x:1/" -> "http://x:1" */
    const char *cmd = argv[i];
    int sub_argc = argc - i - 1;
    char **sub_argv = argv + i + 1;
    int rc;
    if (!strcmp(cmd, "query")) rc = cli_cmd_query(b, sub_argc, sub_argv);
    else if (!strcmp(cmd, "query-range")) rc = cli_cmd_query_range(b, sub_argc, sub_argv);
    else if (!strcmp(cmd, "series")) rc = cli_cmd_series(b, sub_argc, sub_argv);
    else if (!strcmp(cmd, "import")) rc = cli_cmd_import(b, sub_argc, sub_argv);
    else if (!strcmp(cmd, "export")) rc = cli_cmd_export(b, sub_argc, sub_argv);
    else if (!strcmp(cmd, "tsdb")) rc = cli_cmd_tsdb(sub_argc, sub_argv);
    else if (!strcmp(cmd, "hash-secret")) rc = cli_cmd_hash_secret(sub_argc, sub_argv);
    else if (!strcmp(cmd, "help")) { usage(stdout); rc = 0; }
    else {
        fprintf(stderr, "metricstor-cli: unknown command %s\n\n", cmd);
        usage(stderr);
        rc = 2;
    }
    free(b);
    free(auth_header);
    return rc;
}
