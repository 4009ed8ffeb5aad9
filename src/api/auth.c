/* auth.c owns the credentials of --auth-file: parsing the file, verifying a presented bearer
 * token or basic-auth password against salted hashes (crypt(3) from libxcrypt, or SHA-256 via
 * GnuTLS for long random tokens), and a small cache of verified secrets.
 *
 * Why a cache: yescrypt is deliberately slow (tens of ms), far too slow for every remote_write
 * request. A secret that verified once is remembered under SHA-256(random per-process key ||
 * kind || user || secret): the plain secret is never kept, and the key makes the cache useless
 * to anyone reading memory without it. A cache hit still re-checks expiry, so an expired
 * credential fails at once. Wrong secrets are never cached (each costs one verification). */
#include "api/auth.h"
#include "util/alloc.h"
#include "util/status.h"
#include <crypt.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

typedef enum { KIND_BEARER = 1, KIND_BASIC = 2 } cred_kind_t;

typedef struct cred {
    cred_kind_t kind;
    char *name;
    char *hash;
    char *tenant;
    size_t tenant_len;
    unsigned roles;
    int64_t expires_ms; /* 0: never */
} cred_t;

#define CACHE_SLOTS 4096u /* power of two */
#define CACHE_PROBE 8

typedef struct cslot {
    uint8_t key[32];
    int32_t idx; /* credential index + 1; 0: empty */
} cslot_t;

struct auth {
    cred_t *c;
    size_t n, cap;
    uint8_t pepper[32];
    pthread_mutex_t mu;
    cslot_t *cache;
    uint64_t hits, slow;
    unsigned slow_running;  /* crypt verifications in progress (under mu), <= AUTH_SLOW_MAX */
};

/* ---- small helpers ---- */

static bool ct_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) d |= (uint8_t)(x[i] ^ y[i]);
    return d == 0;
}

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--) *v++ = 0;
}

int auth_random_hex(char *out, size_t out_len, size_t n)
{
    if (out_len < 2 * n + 1 || n > 256) return MS_EINVAL;
    uint8_t raw[256];
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(raw + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return MS_EIO;
        }
        got += (size_t)r;
    }
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[raw[i] >> 4];
        out[2 * i + 1] = hx[raw[i] & 15];
    }
    out[2 * n] = 0;
    wipe(raw, sizeof raw);
    return MS_OK;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Decodes exactly len hex chars into len/2 bytes; false on a bad char or odd length. */
/* Every request with a new secret pays one verification, and the file is checked by one at load,
 * so a hash whose method or cost parameters would make that take seconds (or hundreds of MiB) is
 * refused: only the methods hash-secret and common tools make, with bounded cost. */
static int itoa64_index(char c)
{
    static const char tbl[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const char *p = c ? strchr(tbl, c) : NULL;
    return p ? (int)(p - tbl) : -1;
}

static bool crypt_cost_ok(const char *h, size_t n)
{
    if (n > 3 && !memcmp(h, "$y$", 3)) { /* $y$<flavor><N_log2-1><r-1>$salt$hash (libxcrypt's encoding) */
        const char *p = h + 3, *d = memchr(p, '$', n - 3);
        if (!d || d - p != 3 || p[0] != 'j') return false;
        int nlog = itoa64_index(p[1]) + 1, r = itoa64_index(p[2]) + 1;
        return nlog >= 1 && nlog <= 14 && r >= 1 && r <= 32;
    }
    if (n > 3 && (!memcmp(h, "$6$", 3) || !memcmp(h, "$5$", 3))) {
        if (n < 10 || memcmp(h + 3, "rounds=", 7) != 0) return true; /* default 5000 rounds */
        unsigned long rounds = 0;
        size_t i = 10;
        for (; i < n && h[i] >= '0' && h[i] <= '9' && i < 18; i++) rounds = rounds * 10 + (unsigned long)(h[i] - '0');
        return i < n && h[i] == '$' && i > 10 && rounds <= 1000000;
    }
    if (n > 7 && (!memcmp(h, "$2b$", 4) || !memcmp(h, "$2y$", 4) || !memcmp(h, "$2a$", 4)))
        return h[4] >= '0' && h[4] <= '9' && h[5] >= '0' && h[5] <= '9' && h[6] == '$' &&
               (h[4] - '0') * 10 + (h[5] - '0') <= 14;
    return false;
}

static bool unhex(const char *s, size_t len, uint8_t *out)
{
    if (len % 2) return false;
    for (size_t i = 0; i < len / 2; i++) {
        int h = hexval((unsigned char)s[2 * i]), l = hexval((unsigned char)s[2 * i + 1]);
        if (h < 0 || l < 0) return false;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

unsigned auth_role_parse(const char *s, size_t len)
{
    if (len == 4 && !memcmp(s, "read", 4)) return AUTH_READ;
    if (len == 5 && !memcmp(s, "write", 5)) return AUTH_WRITE;
    if (len == 5 && !memcmp(s, "admin", 5)) return AUTH_ADMIN;
    return 0;
}

const char *auth_role_str(unsigned role_bit)
{
    switch (role_bit) {
    case AUTH_READ: return "read";
    case AUTH_WRITE: return "write";
    case AUTH_ADMIN: return "admin";
    default: return "none";
    }
}

bool auth_tenant_valid(const char *s, size_t len)
{
    if (len == 0 || len > AUTH_TENANT_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '.' || ch == ':' || ch == '-'))
            return false;
    }
    return true;
}

const char *auth_verdict_str(auth_verdict_t v)
{
    switch (v) {
    case AUTH_OK: return "ok";
    case AUTH_MISSING: return "missing credentials";
    case AUTH_BAD: return "invalid credentials";
    case AUTH_EXPIRED: return "expired credentials";
    case AUTH_BUSY: return "too many credential verifications in progress";
    }
    return "?";
}

/* ---- hashing ---- */

#define SHA256_PREFIX "$sha256$"

static bool sha256_verify(const char *hash, const char *secret, size_t secret_len)
{
    const char *salt = hash + strlen(SHA256_PREFIX);
    const char *dollar = strchr(salt, '$');
    if (!dollar) return false;
    size_t salt_hex = (size_t)(dollar - salt);
    uint8_t saltb[64], want[32], got[32];
    if (salt_hex == 0 || salt_hex > 2 * sizeof saltb || !unhex(salt, salt_hex, saltb)) return false;
    if (strlen(dollar + 1) != 64 || !unhex(dollar + 1, 64, want)) return false;
    gnutls_hash_hd_t h;
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) return false;
    gnutls_hash(h, saltb, salt_hex / 2);
    gnutls_hash(h, secret, secret_len);
    gnutls_hash_deinit(h, got);
    return ct_equal(got, want, sizeof got);
}

bool auth_verify(const char *hash, const char *secret, size_t secret_len)
{
    if (!hash || !secret) return false;
    if (!strncmp(hash, SHA256_PREFIX, strlen(SHA256_PREFIX))) return sha256_verify(hash, secret, secret_len);
    if (hash[0] != '$' || memchr(secret, 0, secret_len)) return false;
    char *s = xmemdup0(secret, secret_len); /* crypt wants a C string */
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    const char *r = crypt_r(s, hash, cd);
    size_t hl = strlen(hash);
    bool ok = r && r[0] == '$' && strlen(r) == hl && ct_equal(r, hash, hl);
    wipe(s, secret_len);
    wipe(cd, sizeof *cd);
    free(s);
    free(cd);
    return ok;
}

int auth_hash_secret(auth_scheme_t scheme, const char *secret, char *out, size_t out_len)
{
    if (!secret || !*secret || strpbrk(secret, "\r\n")) return MS_EINVAL;
    if (scheme == AUTH_SCHEME_SHA256) {
        char salt[33];
        if (auth_random_hex(salt, sizeof salt, 16) != MS_OK) return MS_EIO;
        uint8_t sb[16], d[32];
        unhex(salt, 32, sb);
        gnutls_hash_hd_t h;
        if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) return MS_EIO;
        gnutls_hash(h, sb, sizeof sb);
        gnutls_hash(h, secret, strlen(secret));
        gnutls_hash_deinit(h, d);
        char hx[65];
        static const char x[] = "0123456789abcdef";
        for (size_t i = 0; i < 32; i++) {
            hx[2 * i] = x[d[i] >> 4];
            hx[2 * i + 1] = x[d[i] & 15];
        }
        hx[64] = 0;
        int w = snprintf(out, out_len, SHA256_PREFIX "%s$%s", salt, hx);
        return w > 0 && (size_t)w < out_len ? MS_OK : MS_EINVAL;
    }
    const char *prefix = scheme == AUTH_SCHEME_SHA512 ? "$6$" : "$y$";
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof setting)) return MS_EIO;
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    const char *r = crypt_r(secret, setting, cd);
    int rc = MS_EIO;
    if (r && r[0] == '$') {
        int w = snprintf(out, out_len, "%s", r);
        rc = w > 0 && (size_t)w < out_len ? MS_OK : MS_EINVAL;
    }
    wipe(cd, sizeof *cd);
    free(cd);
    return rc;
}

/* ---- the file ---- */

static int line_fail(char *err, size_t err_len, size_t line, const char *msg, const char *tok, size_t tok_len)
{
    if (tok)
        snprintf(err, err_len, "line %zu: %s \"%.*s\"", line, msg, (int)(tok_len > 80 ? 80 : tok_len), tok);
    else
        snprintf(err, err_len, "line %zu: %s", line, msg);
    return MS_EINVAL;
}

void auth_free(auth_t *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->c[i].name);
        free(a->c[i].hash);
        free(a->c[i].tenant);
    }
    free(a->c);
    if (a->cache) wipe(a->cache, CACHE_SLOTS * sizeof *a->cache);
    free(a->cache);
    wipe(a->pepper, sizeof a->pepper);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* expires=: Unix seconds, or RFC 3339 UTC "YYYY-MM-DDTHH:MM:SS[.fff]Z". */
static bool parse_expires(const char *s, size_t len, int64_t *ms)
{
    char t[40];
    if (len == 0 || len >= sizeof t) return false;
    memcpy(t, s, len);
    t[len] = 0;
    if (strspn(t, "0123456789") == len) {
        if (len > 12) return false;
        *ms = strtoll(t, NULL, 10) * 1000;
        return true;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *e = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!e) return false;
    int frac = 0, digits = 0;
    if (*e == '.')
        for (e++; *e >= '0' && *e <= '9'; e++)
            if (digits < 3) frac = frac * 10 + (*e - '0'), digits++;
    while (digits && digits < 3) frac *= 10, digits++;
    if (strcmp(e, "Z")) return false;
    *ms = (int64_t)timegm(&tm) * 1000 + frac;
    return true;
}

/* Parses one non-comment line of at most 6 fields. */
static int parse_line(auth_t *a, const char *p, const char *end, size_t line, char *err, size_t err_len)
{
    const char *f[7];
    size_t fl[7], nf = 0;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
        if (p >= end) break;
        if (nf == 7) return line_fail(err, err_len, line, "too many fields (want kind name hash tenant role [expires=])", NULL, 0);
        f[nf] = p;
        while (p < end && *p != ' ' && *p != '\t' && *p != '\r') p++;
        fl[nf] = (size_t)(p - f[nf]);
        nf++;
    }
    if (nf < 5 || nf > 6)
        return line_fail(err, err_len, line, "want 5 or 6 fields: <bearer|basic> <name> <hash> <tenant> <role> [expires=]", NULL, 0);
    cred_t c;
    memset(&c, 0, sizeof c);
    if (fl[0] == 6 && !memcmp(f[0], "bearer", 6)) c.kind = KIND_BEARER;
    else if (fl[0] == 5 && !memcmp(f[0], "basic", 5)) c.kind = KIND_BASIC;
    else return line_fail(err, err_len, line, "unknown kind (want bearer or basic)", f[0], fl[0]);
    if (memchr(f[1], ':', fl[1]) && c.kind == KIND_BASIC)
        return line_fail(err, err_len, line, "a basic-auth user name cannot contain ':'", f[1], fl[1]);
    bool sha = fl[2] > strlen(SHA256_PREFIX) && !memcmp(f[2], SHA256_PREFIX, strlen(SHA256_PREFIX));
    if (fl[2] < 4 || f[2][0] != '$')
        return line_fail(err, err_len, line, "the third field must be a salted hash (hash-secret prints one), not", f[2], fl[2]);
    if (!sha && !crypt_cost_ok(f[2], fl[2]))
        return line_fail(err, err_len, line,
                         "unsupported or malformed hash: method or cost not accepted (yescrypt $y$ with N <= 2^14 and r <= 32, SHA-512/256 $6$/$5$ "
                         "with rounds <= 1000000, bcrypt $2b$ with cost <= 14, or $sha256$)",
                         f[2], fl[2]);
    if (!sha) {
        /* crypt(3) hash: must name a method libxcrypt knows (a test verification fails cleanly) */
        char *h = xmemdup0(f[2], fl[2]);
        struct crypt_data *cd = xcalloc(1, sizeof *cd);
        const char *r = crypt_r("x", h, cd);
        bool ok = r && r[0] == '$';
        free(cd);
        free(h);
        if (!ok) return line_fail(err, err_len, line, "unsupported or malformed hash", f[2], fl[2]);
    } else {
        uint8_t tmp[64];
        const char *salt = f[2] + strlen(SHA256_PREFIX), *e = f[2] + fl[2];
        const char *d = memchr(salt, '$', (size_t)(e - salt));
        if (!d || d == salt || (size_t)(d - salt) > 128 || !unhex(salt, (size_t)(d - salt), tmp) ||
            (size_t)(e - d - 1) != 64 || !unhex(d + 1, 64, tmp))
            return line_fail(err, err_len, line, "malformed $sha256$<salt hex>$<64 hex> hash", f[2], fl[2]);
    }
    if (!auth_tenant_valid(f[3], fl[3]))
        return line_fail(err, err_len, line, "invalid tenant (1-64 of A-Z a-z 0-9 _ . : -)", f[3], fl[3]);
    unsigned role = auth_role_parse(f[4], fl[4]);
    if (!role) return line_fail(err, err_len, line, "unknown role (want read, write or admin)", f[4], fl[4]);
    c.roles = role == AUTH_ADMIN ? AUTH_ALL : role;
    if (nf == 6) {
        if (fl[5] < 9 || memcmp(f[5], "expires=", 8))
            return line_fail(err, err_len, line, "the sixth field must be expires=<time>", f[5], fl[5]);
        int64_t ms;
        if (!parse_expires(f[5] + 8, fl[5] - 8, &ms)) return line_fail(err, err_len, line, "bad expires time (RFC 3339 or Unix seconds)", f[5], fl[5]);
        c.expires_ms = ms == 0 ? 1 : ms;
    }
    for (size_t i = 0; i < a->n; i++)
        if (a->c[i].kind == c.kind && strlen(a->c[i].name) == fl[1] && !memcmp(a->c[i].name, f[1], fl[1]))
            return line_fail(err, err_len, line, "duplicate name for this kind", f[1], fl[1]);
    c.name = xmemdup0(f[1], fl[1]);
    c.hash = xmemdup0(f[2], fl[2]);
    c.tenant = xmemdup0(f[3], fl[3]);
    c.tenant_len = fl[3];
    XGROW(a->c, a->cap, a->n + 1);
    a->c[a->n++] = c;
    return MS_OK;
}

int auth_parse(const char *text, size_t len, auth_t **out, char *err, size_t err_len)
{
    auth_t *a = xcalloc(1, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    const char *p = text, *end = text + len;
    size_t line = 0;
    while (p < end) {
        line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < le && *q != '#') {
            if (memchr(q, 0, (size_t)(le - q))) {
                auth_free(a);
                return line_fail(err, err_len, line, "NUL byte in line", NULL, 0);
            }
            int rc = parse_line(a, q, le, line, err, err_len);
            if (rc != MS_OK) {
                auth_free(a);
                return rc;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (a->n == 0) {
        snprintf(err, err_len, "no credentials (every line empty or a comment)");
        auth_free(a);
        return MS_EINVAL;
    }
    char hx[65];
    if (auth_random_hex(hx, sizeof hx, 32) != MS_OK) {
        snprintf(err, err_len, "no randomness for the credential cache key");
        auth_free(a);
        return MS_EIO;
    }
    unhex(hx, 64, a->pepper);
    wipe(hx, sizeof hx);
    a->cache = xcalloc(CACHE_SLOTS, sizeof *a->cache);
    *out = a;
    return MS_OK;
}

/* Reads a whole (small) file, NUL-terminated; flag names it in messages. */
static int read_file(const char *flag, const char *path, char **out, size_t *len, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "cannot open %s %s: %s", flag, path, strerror(errno));
        return MS_EIO;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 1 >= cap) XGROW(buf, cap, n + 4096);
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
        if (n > (64u << 20)) break;
    }
    bool bad = ferror(f) || n > (64u << 20);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, err_len, "cannot read %s %s (I/O error or over 64 MiB)", flag, path);
        return MS_EIO;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return MS_OK;
}

void auth_tls_free_key(char *key_pem)
{
    if (!key_pem) return;
    wipe(key_pem, strlen(key_pem));
    free(key_pem);
}

int auth_tls_load(const char *cert_file, const char *key_file, char **cert_pem, char **key_pem, char *err,
                  size_t err_len)
{
    char *c = NULL, *k = NULL;
    size_t cl = 0, kl = 0;
    int rc = read_file("--tls-cert-file", cert_file, &c, &cl, err, err_len);
    if (rc == MS_OK) rc = read_file("--tls-key-file", key_file, &k, &kl, err, err_len);
    if (rc != MS_OK) {
        free(c);
        return rc;
    }
    /* Each file is parsed on its own first (clearer messages, and GnuTLS 3.7 leaks when
     * gnutls_certificate_set_x509_key_mem meets a malformed certificate), then as a pair. */
    gnutls_datum_t cd = {(unsigned char *)c, (unsigned)cl}, kd = {(unsigned char *)k, (unsigned)kl};
    const char *which = "--tls-cert-file";
    gnutls_x509_crt_t *crts = NULL;
    unsigned ncrt = 0;
    int g = gnutls_x509_crt_list_import2(&crts, &ncrt, &cd, GNUTLS_X509_FMT_PEM, 0);
    if (g >= 0) {
        for (unsigned i = 0; i < ncrt; i++) gnutls_x509_crt_deinit(crts[i]);
        gnutls_free(crts);
        which = "--tls-key-file";
        gnutls_x509_privkey_t pk;
        g = gnutls_x509_privkey_init(&pk);
        if (g >= 0) {
            g = gnutls_x509_privkey_import(pk, &kd, GNUTLS_X509_FMT_PEM);
            gnutls_x509_privkey_deinit(pk);
        }
    }
    if (g >= 0) {
        which = "the pair";
        gnutls_certificate_credentials_t cred;
        g = gnutls_certificate_allocate_credentials(&cred);
        if (g >= 0) {
            g = gnutls_certificate_set_x509_key_mem(cred, &cd, &kd, GNUTLS_X509_FMT_PEM);
            gnutls_certificate_free_credentials(cred);
        }
    }
    if (g < 0) {
        snprintf(err, err_len, "TLS: cannot use --tls-cert-file %s with --tls-key-file %s (%s): %s", cert_file,
                 key_file, which, gnutls_strerror(g));
        free(c);
        auth_tls_free_key(k);
        return MS_EINVAL;
    }
    *cert_pem = c;
    *key_pem = k;
    return MS_OK;
}

int auth_load(const char *path, auth_t **out, char *err, size_t err_len)
{
    char *buf = NULL;
    size_t n = 0;
    int frc = read_file("--auth-file", path, &buf, &n, err, err_len);
    if (frc != MS_OK) return frc;
    char e2[300];
    int rc = auth_parse(buf ? buf : "", n, out, e2, sizeof e2);
    free(buf);
    if (rc != MS_OK) snprintf(err, err_len, "--auth-file %s: %s", path, e2);
    return rc;
}

size_t auth_count(const auth_t *a) { return a ? a->n : 0; }
const char *auth_tenant_at(const auth_t *a, size_t i) { return a && i < a->n ? a->c[i].tenant : NULL; }

void auth_cache_stats(auth_t *a, uint64_t *hits, uint64_t *slow)
{
    pthread_mutex_lock(&a->mu);
    *hits = a->hits;
    *slow = a->slow;
    pthread_mutex_unlock(&a->mu);
}

/* ---- checking a request ---- */

static void cache_key(const auth_t *a, char kind, const char *user, size_t ul, const char *secret, size_t sl,
                      uint8_t key[32])
{
    gnutls_hash_hd_t h;
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
        memset(key, 0, 32); /* never matches a stored key: idx 0 is empty and keys are compared */
        return;
    }
    uint8_t ulen[4] = {(uint8_t)(ul >> 24), (uint8_t)(ul >> 16), (uint8_t)(ul >> 8), (uint8_t)ul};
    gnutls_hash(h, a->pepper, sizeof a->pepper);
    gnutls_hash(h, &kind, 1);
    gnutls_hash(h, ulen, sizeof ulen);
    gnutls_hash(h, user, ul);
    gnutls_hash(h, secret, sl);
    gnutls_hash_deinit(h, key);
}

static size_t slot_of(const uint8_t key[32])
{
    uint64_t v;
    memcpy(&v, key, sizeof v);
    return (size_t)(v & (CACHE_SLOTS - 1));
}

/* Returns credential index + 1, or 0. */
static int32_t cache_get(auth_t *a, const uint8_t key[32])
{
    int32_t r = 0;
    size_t s = slot_of(key);
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < CACHE_PROBE && !r; i++) {
        const cslot_t *c = &a->cache[(s + i) & (CACHE_SLOTS - 1)];
        if (c->idx && ct_equal(c->key, key, 32)) r = c->idx;
    }
    if (r) a->hits++;
    pthread_mutex_unlock(&a->mu);
    return r;
}

static void cache_put(auth_t *a, const uint8_t key[32], size_t idx)
{
    size_t s = slot_of(key);
    pthread_mutex_lock(&a->mu);
    cslot_t *dst = &a->cache[s]; /* table full around here: replace the home slot */
    for (size_t i = 0; i < CACHE_PROBE; i++) {
        cslot_t *c = &a->cache[(s + i) & (CACHE_SLOTS - 1)];
        if (!c->idx) {
            dst = c;
            break;
        }
    }
    memcpy(dst->key, key, 32);
    dst->idx = (int32_t)idx + 1;
    pthread_mutex_unlock(&a->mu);
}

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

/* Standard base64 with optional padding; returns the decoded length or -1. */
static long b64_decode(const char *s, size_t len, char *out, size_t cap)
{
    while (len && s[len - 1] == '=') len--;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap) return -1;
            out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    if (bits >= 6) return -1; /* a dangling sextet */
    if (acc & ((1u << bits) - 1)) return -1; /* leftover bits must be zero (one encoding per value) */
    return (long)o;
}

static auth_verdict_t found(auth_t *a, size_t i, int64_t now_ms, auth_identity_t *who)
{
    const cred_t *c = &a->c[i];
    if (c->expires_ms && now_ms >= c->expires_ms) return AUTH_EXPIRED;
    who->name = c->name;
    who->tenant = c->tenant;
    who->tenant_len = c->tenant_len;
    who->roles = c->roles;
    return AUTH_OK;
}

static bool is_fast(const char *hash) { return !strncmp(hash, SHA256_PREFIX, strlen(SHA256_PREFIX)); }

/* Counts a verification and, for a slow one, takes a slot (false: none free). */
static bool slow_begin(auth_t *a, const char *hash)
{
    bool ok = true;
    pthread_mutex_lock(&a->mu);
    a->slow++;
    if (!is_fast(hash)) {
        if (a->slow_running >= AUTH_SLOW_MAX) ok = false;
        else a->slow_running++;
    }
    pthread_mutex_unlock(&a->mu);
    return ok;
}

static void slow_end(auth_t *a, const char *hash)
{
    if (is_fast(hash)) return;
    pthread_mutex_lock(&a->mu);
    a->slow_running--;
    pthread_mutex_unlock(&a->mu);
}

static bool scheme_is(const char *h, const char *scheme, size_t n)
{
    return !strncasecmp(h, scheme, n) && (h[n] == ' ' || h[n] == '\t');
}

auth_verdict_t auth_check(auth_t *a, const char *hdr, int64_t now_ms, auth_identity_t *who)
{
    if (!a || !hdr) return AUTH_MISSING;
    while (*hdr == ' ' || *hdr == '\t') hdr++;
    if (!*hdr) return AUTH_MISSING;
    uint8_t key[32];
    if (scheme_is(hdr, "Bearer", 6)) {
        const char *tok = hdr + 7;
        while (*tok == ' ' || *tok == '\t') tok++;
        size_t tl = strlen(tok);
        while (tl && (tok[tl - 1] == ' ' || tok[tl - 1] == '\t')) tl--;
        if (!tl || tl > 4096) return AUTH_BAD;
        cache_key(a, 'B', "", 0, tok, tl, key);
        int32_t hit = cache_get(a, key);
        if (hit) return found(a, (size_t)hit - 1, now_ms, who);
        /* fast hashes first, so a $sha256$ token never waits behind crypt ones */
        bool busy = false;
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < a->n; i++) {
                const cred_t *c = &a->c[i];
                if (c->kind != KIND_BEARER || is_fast(c->hash) != (pass == 0)) continue;
                if (!slow_begin(a, c->hash)) {
                    busy = true;
                    continue;
                }
                bool ok = auth_verify(c->hash, tok, tl);
                slow_end(a, c->hash);
                if (ok) {
                    cache_put(a, key, i);
                    return found(a, i, now_ms, who);
                }
            }
        return busy ? AUTH_BUSY : AUTH_BAD;
    }
    if (scheme_is(hdr, "Basic", 5)) {
        const char *b = hdr + 6;
        while (*b == ' ' || *b == '\t') b++;
        size_t bl = strlen(b);
        while (bl && (b[bl - 1] == ' ' || b[bl - 1] == '\t')) bl--;
        char dec[1024];
        if (bl > 4 * sizeof dec / 3) return AUTH_BAD;
        long n = b64_decode(b, bl, dec, sizeof dec);
        if (n <= 0) return AUTH_BAD;
        const char *colon = memchr(dec, ':', (size_t)n);
        if (!colon || colon == dec) {
            wipe(dec, (size_t)n);
            return AUTH_BAD;
        }
        size_t ul = (size_t)(colon - dec), pl = (size_t)n - ul - 1;
        auth_verdict_t v = AUTH_BAD;
        for (size_t i = 0; i < a->n; i++) {
            const cred_t *c = &a->c[i];
            if (c->kind != KIND_BASIC || strlen(c->name) != ul || memcmp(c->name, dec, ul)) continue;
            cache_key(a, 'U', dec, ul, colon + 1, pl, key);
            int32_t hit = cache_get(a, key);
            if (hit && (size_t)hit - 1 == i) {
                v = found(a, i, now_ms, who);
            } else if (pl && !slow_begin(a, c->hash)) {
                v = AUTH_BUSY;
            } else if (pl) {
                bool ok = auth_verify(c->hash, colon + 1, pl);
                slow_end(a, c->hash);
                if (ok) {
                    cache_put(a, key, i);
                    v = found(a, i, now_ms, who);
                }
            }
            break;
        }
        wipe(dec, (size_t)n);
        return v;
    }
    return AUTH_BAD;
}
