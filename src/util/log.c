/* log.c owns the log level and the formatting of log lines. */
#include "util/log.h"
#include "util/status.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static log_level_t current = LOG_INFO;

void log_set_level(log_level_t lvl) { current = lvl; }

int log_parse_level(const char *s, log_level_t *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) { *out = (log_level_t)i; return MS_OK; }
    return MS_EINVAL;
}

void log_msg(log_level_t lvl, const char *fmt, ...)
{
    if (lvl < current) return;
    static const char *tags[] = {"debug", "info", "warn", "error"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[2048];
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, tags[lvl]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof line - 2) n = (int)sizeof line - 3;
    line[n++] = '"';
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
    fflush(stderr);
}
