/* cli_http.c owns the command-line tool's HTTP/1.1 client: one request per connection
 * (Connection: close), the answer read whole and parsed through a bounds-checked cursor,
 * Content-Length and chunked bodies both understood. Plain http:// only. */
#include "cli/cli.h"
#include "util/cursor.h"
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

void cli_urlencode(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '_' || *p == '.' || *p == '~') {
            buf_putc(b, (char)*p);
        } else {
            buf_putc(b, '%');
            buf_putc(b, hex[*p >> 4]);
            buf_putc(b, hex[*p & 15]);
        }
    }
}

/* Splits "http://host:port/prefix" into host, port and prefix. */
static bool split_url(const char *base, char *host, size_t hl, char *port, size_t pl, const char **prefix)
{
    if (strncmp(base, "http://", 7)) return false;
    const char *h = base + 7, *slash = strchr(h, '/');
    size_t hostport = slash ? (size_t)(slash - h) : strlen(h);
    *prefix = slash ? slash : "";
    const char *colon = NULL;
    if (h[0] == '[') { /* [v6]:port */
        const char *rb = memchr(h, ']', hostport);
        if (!rb) return false;
        if ((size_t)(rb - h - 1) >= hl) return false;
        memcpy(host, h + 1, (size_t)(rb - h - 1));
        host[rb - h - 1] = 0;
        colon = rb + 1 < h + hostport && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', hostport);
        size_t n = colon ? (size_t)(colon - h) : hostport;
        if (n == 0 || n >= hl) return false;
        memcpy(host, h, n);
        host[n] = 0;
    }
    size_t pn = colon ? (size_t)(h + hostport - colon - 1) : 2;
    if (pn == 0 || pn >= pl) return false;
    if (colon) {
        memcpy(port, colon + 1, pn);
        port[pn] = 0;
    } else {
        snprintf(port, pl, "80");
    }
    return true;
}

static const char *authorization; /* cli_http_set_authorization */

void cli_http_set_authorization(const char *value) { authorization = value; }

char *cli_basic_authorization(const char *user_colon_password)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = (const unsigned char *)user_colon_password;
    size_t n = strlen(user_colon_password);
    char *out = malloc(6 + 4 * ((n + 2) / 3) + 1);
    if (!out) return NULL;
    char *o = out + sprintf(out, "Basic ");
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        *o++ = tbl[v >> 18 & 63];
        *o++ = tbl[v >> 12 & 63];
        *o++ = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tbl[v & 63] : '=';
    }
    *o = 0;
    return out;
}

static bool send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* One line of the header block ending in CRLF; NULL at the end of the cursor. */
static const char *take_line(cursor_t *c, size_t *len)
{
    const uint8_t *start = c->p;
    const uint8_t *nl = memchr(c->p, '\n', cursor_left(c));
    if (!nl) return NULL;
    size_t n = (size_t)(nl - start);
    cursor_skip(c, n + 1);
    if (n && start[n - 1] == '\r') n--;
    *len = n;
    return (const char *)start;
}

static int parse_response(const buf_t *raw, buf_t *body, char *err, size_t err_len)
{
    cursor_t c;
    cursor_init(&c, raw->data ? raw->data : (const uint8_t *)"", raw->len);
    size_t n;
    const char *l = take_line(&c, &n);
    int status = 0;
    if (!l || n < 12 || strncmp(l, "HTTP/1.", 7) || sscanf(l + 9, "%3d", &status) != 1) {
        snprintf(err, err_len, "malformed HTTP response");
        return -1;
    }
    long long clen = -1;
    bool chunked = false;
    while ((l = take_line(&c, &n)) && n) {
        if (n > 15 && !strncasecmp(l, "Content-Length:", 15)) clen = strtoll(l + 15, NULL, 10);
        if (n > 18 && !strncasecmp(l, "Transfer-Encoding:", 18) && memmem(l, n, "chunked", 7)) chunked = true;
    }
    if (!l) {
        snprintf(err, err_len, "truncated HTTP response headers");
        return -1;
    }
    buf_reset(body);
    if (chunked) {
        for (;;) {
            l = take_line(&c, &n);
            if (!l) break;
            unsigned long long sz = strtoull(l, NULL, 16);
            if (sz == 0) break;
            const uint8_t *p = cursor_bytes(&c, (size_t)sz);
            if (!p) break;
            buf_append(body, p, (size_t)sz);
            take_line(&c, &n);
        }
    } else {
        size_t left = cursor_left(&c);
        if (clen >= 0 && (unsigned long long)clen < left) left = (size_t)clen;
        buf_append(body, c.p, left);
    }
    return status;
}

int cli_http(const char *base, const char *method, const char *path, const char *content_type, const void *req_body,
             size_t req_len, buf_t *body, char *err, size_t err_len)
{
    char host[256], port[16];
    const char *prefix;
    if (!split_url(base, host, sizeof host, port, sizeof port, &prefix)) {
        snprintf(err, err_len, "bad server URL %s (want http://host:port)", base);
        return -1;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, err_len, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, cerr = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            cerr = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        snprintf(err, err_len, "cannot connect to %s: %s (is the server running?)", base, strerror(cerr));
        return -1;
    }
    buf_t req = BUF_INIT;
    buf_printf(&req, "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\nUser-Agent: metricstor-cli\r\n", method,
               prefix, path, host, port);
    if (authorization) buf_printf(&req, "Authorization: %s\r\n", authorization);
    if (content_type) buf_printf(&req, "Content-Type: %s\r\n", content_type);
    if (content_type || req_len) buf_printf(&req, "Content-Length: %zu\r\n", req_len);
    buf_puts(&req, "\r\n");
    bool ok = send_all(fd, req.data, req.len) && (!req_len || send_all(fd, req_body, req_len));
    buf_free(&req);
    buf_t raw = BUF_INIT;
    char tmp[65536];
    for (;;) {
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        buf_append(&raw, tmp, (size_t)r);
    }
    close(fd);
    int status;
    if (!raw.len) {
        snprintf(err, err_len, "%s: no response from %s", ok ? "empty answer" : "send failed", base);
        status = -1;
    } else {
        status = parse_response(&raw, body, err, err_len);
    }
    buf_free(&raw);
    return status;
}
