/* fuzz_auth.c is the libFuzzer target for access control's untrusted inputs (api/auth.c): an
 * Authorization header value as any client may send it (bearer and basic, base64, lengths), and
 * the --auth-file text. A header must never crash, must only succeed for the fixed credentials
 * below, and the file parser must either refuse with a message or yield credentials.
 *
 * Input: byte 0 bit 0 picks the mode (0: header, 1: auth file); the rest is the header (NUL
 * stops it, as HTTP values cannot hold one) or the file. Only $sha256$ hashes are used, so the
 * fuzzer is not slowed by crypt(3). */
#include "api/auth.h"
#include "util/status.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static auth_t *fixed;

static void init(void)
{
    char h1[256], h2[256], text[1024];
    if (auth_hash_secret(AUTH_SCHEME_SHA256, "tok", h1, sizeof h1) != MS_OK ||
        auth_hash_secret(AUTH_SCHEME_SHA256, "pw", h2, sizeof h2) != MS_OK)
        abort();
    snprintf(text, sizeof text, "bearer t %s A read expires=2000000000\nbasic u %s B admin\n", h1, h2);
    char err[300];
    if (auth_parse(text, strlen(text), &fixed, err, sizeof err) != MS_OK) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fixed) init();
    if (size < 1) return 0;
    bool file = data[0] & 1;
    data++, size--;
    if (!file) {
        char *hdr = malloc(size + 1);
        memcpy(hdr, data, size);
        hdr[size] = 0;
        auth_identity_t who;
        auth_verdict_t v = auth_check(fixed, hdr, 1000, &who);
        if (v == AUTH_OK) {
            /* only the two real secrets can succeed */
            bool t = strstr(hdr, "tok") != NULL || strstr(hdr, "dTpwdw") != NULL; /* base64("u:pw") */
            if (!t || !who.tenant || (who.roles & ~(unsigned)AUTH_ALL)) abort();
        }
        free(hdr);
    } else {
        auth_t *a = NULL;
        char err[300] = "";
        int rc = auth_parse((const char *)data, size, &a, err, sizeof err);
        if (rc == MS_OK) {
            if (!a || auth_count(a) == 0) abort();
            for (size_t i = 0; i < auth_count(a); i++)
                if (!auth_tenant_valid(auth_tenant_at(a, i), strlen(auth_tenant_at(a, i)))) abort();
            auth_free(a);
        } else if (a || !err[0]) {
            abort();
        }
    }
    return 0;
}
