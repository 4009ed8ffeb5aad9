/* push_metrics.c is the example remote_write client: it encodes two series (three samples) as a
 * prompb.WriteRequest, snappy-compresses it and POSTs it over a minimal plain-socket HTTP/1.1
 * client, printing the sizes and the server's response status. Timestamps are the current
 * second (ms precision dropped) and, for the first duration sample, 15 s before it.
 *
 * Usage: push_metrics [--url http://127.0.0.1:9101/api/v1/write]
 * Exit status: 0 on a 2xx response, 1 on a non-2xx response, 2 on usage/connection errors. */
#include "ingest/rw_encode.h"
#include "util/buf.h"
#include "util/clock.h"
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define DEFAULT_URL "http://127.0.0.1:9101/api/v1/write"

typedef struct url {
    char host[256];
    char port[8];
    char path[1024];
} url_t;

/* Parses http://host[:port][/path]; IPv6 literals as [::1]. */
static int url_parse(const char *s, url_t *u)
{
    if (strncmp(s, "http://", 7) != 0) return -1;
    s += 7;
    const char *host = s, *host_end;
    if (*s == '[') {
        host = s + 1;
        host_end = strchr(host, ']');
        if (!host_end) return -1;
        s = host_end + 1;
    } else {
        s += strcspn(s, ":/");
        host_end = s;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl >= sizeof u->host) return -1;
    memcpy(u->host, host, hl);
    u->host[hl] = 0;
    snprintf(u->port, sizeof u->port, "80");
    if (*s == ':') {
        s++;
        size_t pl = strcspn(s, "/");
        if (pl == 0 || pl >= sizeof u->port) return -1;
        memcpy(u->port, s, pl);
        u->port[pl] = 0;
        s += pl;
    }
    if (*s == 0) s = "/";
    if (*s != '/' || strlen(s) >= sizeof u->path) return -1;
    snprintf(u->path, sizeof u->path, "%s", s);
    return 0;
}

static int connect_to(const url_t *u)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "resolve %s:%s: %s\n", u->host, u->port, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = {30, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    if (fd < 0) fprintf(stderr, "connect %s:%s: %s\n", u->host, u->port, strerror(errno));
    freeaddrinfo(res);
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* POSTs body and reads the whole response (Connection: close). Returns the HTTP status, or -1. */
static int http_post(const url_t *u, const buf_t *body, buf_t *resp)
{
    int fd = connect_to(u);
    if (fd < 0) return -1;
    buf_t req = BUF_INIT;
    buf_printf(&req,
               "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: metricstor-push-metrics/1.0\r\n"
               "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
               "X-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
               u->path, u->host, u->port, body->len);
    int ok = send_all(fd, req.data, req.len) == 0 && send_all(fd, body->data, body->len) == 0;
    buf_free(&req);
    if (!ok) {
        fprintf(stderr, "send: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    char chunk[4096];
    for (;;) {
        ssize_t r = recv(fd, chunk, sizeof chunk, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            fprintf(stderr, "recv: %s\n", strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0) break;
        buf_append(resp, chunk, (size_t)r);
    }
    close(fd);
    int status = 0;
    const char *text = buf_cstr(resp);
    if (sscanf(text, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 999) {
        fprintf(stderr, "malformed HTTP response\n");
        return -1;
    }
    return status;
}

int main(int argc, char **argv)
{
    const char *url = DEFAULT_URL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strncmp(argv[i], "--url=", 6) == 0) {
            url = argv[i] + 6;
        } else {
            fprintf(stderr, "usage: %s [--url %s]\n", argv[0], DEFAULT_URL);
            return 2;
        }
    }
    url_t u;
    if (url_parse(url, &u) != 0) {
        fprintf(stderr, "bad --url %s (want http://host:port/path)\n", url);
        return 2;
    }

    int64_t now = clock_now_ms();
    label_t req_total[] = {{"__name__", "http_requests_total", 8, 19},
                           {"job", "example_app", 3, 11},
                           {"method", "GET", 6, 3},
                           {"status", "200", 6, 3}};
    sample_t req_total_s[] = {{now, 1234}};
    label_t duration[] = {{"__name__", "http_request_duration_seconds", 8, 29},
                          {"job", "example_app", 3, 11},
                          {"method", "GET", 6, 3}};
    sample_t duration_s[] = {{now - 15000, 0.042}, {now, 0.055}};

    buf_t pb = BUF_INIT, z = BUF_INIT, resp = BUF_INIT;
    rw_encode_series(&pb, req_total, 4, req_total_s, 1);
    rw_encode_series(&pb, duration, 3, duration_s, 2);
    printf("Encoded %zu bytes of protobuf data\n", pb.len);
    if (rw_snappy_compress(pb.data, pb.len, &z) != 0) {
        fprintf(stderr, "snappy compression failed\n");
        buf_free(&pb);
        return 2;
    }
    printf("Compressed to %zu bytes with Snappy\n", z.len);

    int status = http_post(&u, &z, &resp);
    int rc;
    if (status < 0) {
        fprintf(stderr, "request to %s failed\n", url);
        rc = 2;
    } else {
        const char *text = buf_cstr(&resp);
        const char *eol = strstr(text, "\r\n");
        const char *reason = strchr(text, ' ');
        reason = reason ? strchr(reason + 1, ' ') : NULL;
        int rlen = reason && eol && reason < eol ? (int)(eol - reason - 1) : 0;
        printf("Response status: %d %.*s\n", status, rlen, rlen ? reason + 1 : "");
        rc = status >= 200 && status < 300 ? 0 : 1;
        if (rc) {
            const char *b = strstr(text, "\r\n\r\n");
            if (b && b[4]) printf("Response body: %s%s", b + 4, b[strlen(b) - 1] == '\n' ? "" : "\n");
        }
    }
    buf_free(&pb);
    buf_free(&z);
    buf_free(&resp);
    return rc;
}
