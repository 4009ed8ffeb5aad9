/* kernels_time.c owns PromQL's date functions (day_of_month ... year) on Unix seconds in UTC,
 * using the proleptic Gregorian calendar and the integer arithmetic of Go's time package. */
#include "promql/kernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

static const char *const date_names[KERN_DATE__COUNT] = {
    [KERN_DATE_DAY_OF_MONTH] = "day_of_month", [KERN_DATE_DAY_OF_WEEK] = "day_of_week",
    [KERN_DATE_DAY_OF_YEAR] = "day_of_year",   [KERN_DATE_DAYS_IN_MONTH] = "days_in_month",
    [KERN_DATE_HOUR] = "hour",                 [KERN_DATE_MINUTE] = "minute",
    [KERN_DATE_MONTH] = "month",               [KERN_DATE_YEAR] = "year",
};

bool kern_date_lookup(const char *name, size_t len, kern_date_fn_t *out)
{
    for (int i = 0; i < KERN_DATE__COUNT; i++) {
        if (strlen(date_names[i]) == len && memcmp(date_names[i], name, len) == 0) {
            *out = (kern_date_fn_t)i;
            return true;
        }
    }
    return false;
}

static bool is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Go's time package counts unsigned "absolute" seconds from January 1 of year -292277022399
 * (a year = 1 mod 400); Unix seconds map there by adding this offset, modulo 2^64. Doing the
 * same wrap-around arithmetic reproduces Prometheus's answers for every int64, including the
 * year 292277026596 that Go reports for NaN and out-of-range values. */
#define ABS_ZERO_YEAR (-292277022399LL)
#define UNIX_TO_ABS 9223372028715321600ULL /* 62135596800 (Unix->internal) + 9223371966579724800 */
#define DAYS_PER_400Y 146097ULL
#define DAYS_PER_100Y 36524ULL
#define DAYS_PER_4Y 1461ULL

/* Year and zero-based day of year of absolute seconds, by Go's cycle arithmetic. */
static void abs_date(uint64_t abs, int64_t *year, int *yday)
{
    uint64_t d = abs / 86400, n, y;
    n = d / DAYS_PER_400Y;
    y = 400 * n;
    d -= DAYS_PER_400Y * n;
    n = d / DAYS_PER_100Y;
    n -= n >> 2; /* the last day of a 400-year cycle */
    y += 100 * n;
    d -= DAYS_PER_100Y * n;
    n = d / DAYS_PER_4Y;
    y += 4 * n;
    d -= DAYS_PER_4Y * n;
    n = d / 365;
    n -= n >> 2; /* the last day of a 4-year cycle */
    y += n;
    d -= 365 * n;
    *year = (int64_t)y + ABS_ZERO_YEAR;
    *yday = (int)d;
}

double kern_date_apply(kern_date_fn_t fn, double v)
{
    /* Go's int64(v) on amd64 truncates toward zero and yields INT64_MIN for NaN, +-Inf and
     * anything outside int64; Prometheus passes that on to time.Unix unchecked. */
    int64_t secs = INT64_MIN;
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0)
        secs = (int64_t)v;
    uint64_t abs = (uint64_t)secs + UNIX_TO_ABS;
    switch (fn) {
    case KERN_DATE_HOUR: return (double)(abs % 86400 / 3600);
    case KERN_DATE_MINUTE: return (double)(abs % 3600 / 60);
    case KERN_DATE_DAY_OF_WEEK: return (double)((abs + 86400) % 604800 / 86400); /* abs day 0: Monday */
    default: break;
    }
    int64_t year;
    int yday;
    abs_date(abs, &year, &yday);
    if (fn == KERN_DATE_YEAR)
        return (double)year;
    if (fn == KERN_DATE_DAY_OF_YEAR)
        return yday + 1;
    int month = 1, day = yday;
    while (day >= days_in_month(year, month)) {
        day -= days_in_month(year, month);
        month++;
    }
    switch (fn) {
    case KERN_DATE_MONTH: return month;
    case KERN_DATE_DAY_OF_MONTH: return day + 1;
    case KERN_DATE_DAYS_IN_MONTH: return days_in_month(year, month);
    default: break;
    }
    return NAN;
}
