/* log.h owns process logging: leveled lines on stderr with an ISO-8601 timestamp. */
#ifndef MS_UTIL_LOG_H
#define MS_UTIL_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level_t;

void log_set_level(log_level_t lvl);
/* Parses "debug|info|warn|error"; returns 0 or MS_EINVAL. */
int log_parse_level(const char *s, log_level_t *out);
void log_msg(log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
