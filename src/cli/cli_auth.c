/* cli_auth.c owns `metricstor-cli hash-secret`: it hashes a secret (or makes a random bearer
 * token) and prints one ready --auth-file line, so plain secrets never need to be written down. */
#include "api/auth.h"
#include "cli/cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hs_usage(void)
{
    fprintf(stderr,
            "usage: metricstor-cli hash-secret [--kind bearer|basic] [--name NAME] [--tenant T] [--role read|write|admin]\n"
            "           [--expires TIME] [--scheme yescrypt|sha512|sha256] [--secret S | --secret-stdin]\n"
            "  Prints one --auth-file line. Without a secret a bearer token is generated (printed on stderr:\n"
            "  give it to the client) and hashed with salted SHA-256 (fine for 256 random bits); a chosen\n"
            "  secret or a basic-auth password is hashed with yescrypt unless --scheme says otherwise.\n"
            "  TIME is Unix seconds or RFC 3339 UTC (2027-01-31T00:00:00Z).\n");
    return 2;
}

int cli_cmd_hash_secret(int argc, char **argv)
{
    const char *kind = "bearer", *name = NULL, *tenant = "default", *role = "read", *expires = NULL, *scheme = NULL;
    const char *secret = NULL;
    bool from_stdin = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (!strcmp(a, "--kind")) dst = &kind;
        else if (!strcmp(a, "--name")) dst = &name;
        else if (!strcmp(a, "--tenant")) dst = &tenant;
        else if (!strcmp(a, "--role")) dst = &role;
        else if (!strcmp(a, "--expires")) dst = &expires;
        else if (!strcmp(a, "--scheme")) dst = &scheme;
        else if (!strcmp(a, "--secret")) dst = &secret;
        else if (!strcmp(a, "--secret-stdin")) { from_stdin = true; continue; }
        else return hs_usage();
        if (i + 1 >= argc) return hs_usage();
        *dst = argv[++i];
    }
    bool bearer = !strcmp(kind, "bearer");
    if (!bearer && strcmp(kind, "basic")) return hs_usage();
    if (!auth_role_parse(role, strlen(role))) {
        fprintf(stderr, "metricstor-cli: unknown role %s (want read, write or admin)\n", role);
        return 2;
    }
    if (!auth_tenant_valid(tenant, strlen(tenant))) {
        fprintf(stderr, "metricstor-cli: invalid tenant %s (1-64 of A-Z a-z 0-9 _ . : -)\n", tenant);
        return 2;
    }
    if (!bearer && !name) {
        fprintf(stderr, "metricstor-cli: a basic-auth credential needs --name USER\n");
        return 2;
    }
    if (name && (!*name || strpbrk(name, " \t\r\n") || (!bearer && strchr(name, ':')))) {
        fprintf(stderr, "metricstor-cli: invalid name \"%s\" (no spaces%s)\n", name, bearer ? "" : " or ':'");
        return 2;
    }
    char line[4096], token[65], idbuf[24];
    bool generated = false;
    if (from_stdin) {
        if (!fgets(line, sizeof line, stdin)) {
            fprintf(stderr, "metricstor-cli: no secret on stdin\n");
            return 2;
        }
        line[strcspn(line, "\r\n")] = 0;
        secret = line;
    }
    if (!secret) {
        if (!bearer) {
            fprintf(stderr, "metricstor-cli: give the password with --secret or --secret-stdin\n");
            return 2;
        }
        if (auth_random_hex(token, sizeof token, 32) != 0) {
            fprintf(stderr, "metricstor-cli: no randomness\n");
            return 1;
        }
        secret = token;
        generated = true;
    }
    if (!*secret) {
        fprintf(stderr, "metricstor-cli: empty secret\n");
        return 2;
    }
    auth_scheme_t sch = generated ? AUTH_SCHEME_SHA256 : AUTH_SCHEME_YESCRYPT;
    if (scheme) {
        if (!strcmp(scheme, "yescrypt")) sch = AUTH_SCHEME_YESCRYPT;
        else if (!strcmp(scheme, "sha512")) sch = AUTH_SCHEME_SHA512;
        else if (!strcmp(scheme, "sha256")) sch = AUTH_SCHEME_SHA256;
        else return hs_usage();
    }
    if (!name) {
        if (auth_random_hex(idbuf, sizeof idbuf, 4) != 0) return 1;
        char *p = idbuf;
        memmove(p + 6, p, 9);
        memcpy(p, "token-", 6);
        name = idbuf;
    }
    char hash[512];
    if (auth_hash_secret(sch, secret, hash, sizeof hash) != 0) {
        fprintf(stderr, "metricstor-cli: hashing failed\n");
        return 1;
    }
    printf("%s %s %s %s %s", bearer ? "bearer" : "basic", name, hash, tenant, role);
    if (expires) printf(" expires=%s", expires);
    printf("\n");
    if (generated) fprintf(stderr, "token (give it to the client; it is not stored): %s\n", token);
    return 0;
}
