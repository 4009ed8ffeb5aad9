/* auth.h owns access control: the --auth-file of credentials (bearer tokens and basic-auth users,
 * stored only as salted hashes), checking a request's Authorization header against it with a
 * cache of verified secrets, roles, and the tenant a credential acts for.
 *
 * File format (docs in README "Security"): one credential per line, blank lines and '#' comments
 * ignored, fields separated by spaces or tabs:
 *     <bearer|basic> <name> <hash> <tenant> <read|write|admin> [expires=<RFC 3339 UTC | unix s>]
 * name is the basic-auth user (or, for a bearer token, a label for logs); hash is a crypt(3)
 * string ($y$ yescrypt, $6$ SHA-512, ... anything libxcrypt verifies) or $sha256$<salt hex>$<hex>
 * (SHA-256 of salt bytes + secret, for long random tokens, whose check costs a microsecond).
 * Roles: read (queries, metadata, export, remote_read, UI), write (remote_write, import), admin
 * (everything: read + write + admin endpoints and /metrics).
 *
 * Threading: an auth_t is built once at start and then shared read-only by request threads; its
 * cache has its own lock. */
#ifndef MS_API_AUTH_H
#define MS_API_AUTH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct auth auth_t;

/* Role bits: a credential holds a set, a route needs one bit. */
enum { AUTH_READ = 1, AUTH_WRITE = 2, AUTH_ADMIN = 4, AUTH_ALL = 7 };

#define AUTH_TENANT_MAX 64

typedef enum {
    AUTH_OK = 0,
    AUTH_MISSING,   /* no Authorization header (or an empty one): 401 with a challenge */
    AUTH_BAD,       /* unknown scheme, malformed, unknown user or wrong secret: 401 */
    AUTH_EXPIRED,   /* the secret is right but the credential's expiry has passed: 401 */
    AUTH_BUSY,      /* a slow (crypt) verification was needed but AUTH_SLOW_MAX already run:
                       503 with Retry-After, so unknown secrets cannot take every CPU */
} auth_verdict_t;

/* Who a request acts as; strings borrowed from the auth_t. */
typedef struct auth_identity {
    const char *name;       /* the credential's name */
    const char *tenant;     /* NUL-terminated, 1..AUTH_TENANT_MAX of [A-Za-z0-9_.:-] */
    size_t tenant_len;
    unsigned roles;         /* AUTH_READ | AUTH_WRITE | AUTH_ADMIN bits (admin: AUTH_ALL) */
} auth_identity_t;

/* Parses text (len bytes; the file's contents) into an auth_t. On a bad line returns MS_EINVAL
 * with "line N: why" in err. An empty set of credentials is an error too. */
int auth_parse(const char *text, size_t len, auth_t **out, char *err, size_t err_len);
/* Reads and parses the file at path (errors name the path). */
int auth_load(const char *path, auth_t **out, char *err, size_t err_len);
void auth_free(auth_t *a); /* accepts NULL */
size_t auth_count(const auth_t *a);
/* Tenants named in the file, for the start-up log (i < auth_count; duplicates possible). */
const char *auth_tenant_at(const auth_t *a, size_t i);

/* Slow verifications (crypt(3) hashes, ~20-50 ms each) running at once; secrets already in the
 * cache and $sha256$ hashes never wait for one. */
#define AUTH_SLOW_MAX 2

/* Checks an Authorization header value (NULL: none) at now_ms. On AUTH_OK fills *who. A secret
 * once verified is remembered (by a keyed SHA-256 of it, never the secret itself) so later
 * requests skip the slow hash; expiry is checked on every request. */
auth_verdict_t auth_check(auth_t *a, const char *authorization, int64_t now_ms, auth_identity_t *who);
const char *auth_verdict_str(auth_verdict_t v);
/* Cache statistics for tests and /metrics: verified-secret hits and slow verifications. */
void auth_cache_stats(auth_t *a, uint64_t *hits, uint64_t *slow);

/* Role names: "read", "write", "admin"; parsing returns 0 for anything else. */
unsigned auth_role_parse(const char *s, size_t len);
const char *auth_role_str(unsigned role_bit);
/* Checks a tenant name: 1..AUTH_TENANT_MAX bytes of [A-Za-z0-9_.:-]. */
bool auth_tenant_valid(const char *s, size_t len);

typedef enum { AUTH_SCHEME_YESCRYPT, AUTH_SCHEME_SHA512, AUTH_SCHEME_SHA256 } auth_scheme_t;
/* Hashes secret with a fresh random salt into out (NUL-terminated). Returns 0, or MS_EINVAL
 * (secret empty or containing a newline) / MS_EIO (no randomness, hashing failed). */
int auth_hash_secret(auth_scheme_t scheme, const char *secret, char *out, size_t out_len);
/* Does secret match the stored hash (either kind)? Constant time in the compare. */
bool auth_verify(const char *hash, const char *secret, size_t secret_len);
/* TLS for the listener: reads the PEM certificate (chain) and private key files and checks with
 * GnuTLS that they parse and belong together. On success *cert_pem and *key_pem are malloc'd,
 * NUL-terminated (free the key with auth_tls_free_key, which wipes it); else MS_EINVAL / MS_EIO
 * with a message naming the file and the reason. */
int auth_tls_load(const char *cert_file, const char *key_file, char **cert_pem, char **key_pem, char *err,
                  size_t err_len);
void auth_tls_free_key(char *key_pem);

/* Fills out with n random bytes as 2n lowercase hex characters plus NUL (out_len >= 2n + 1). */
int auth_random_hex(char *out, size_t out_len, size_t n);

#endif
