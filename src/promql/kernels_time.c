/* kernels_time.c owns PromQL's date functions (day_of_month ... year) on Unix seconds in UTC,
 * using the proleptic Gregorian calendar as Go's time package does. */
#include "promql/kernels.h"
#include <math.h>
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

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Civil date from days since 1970-01-01 (Hinnant's era-based algorithm, exact for all int64
 * day counts reachable from int64 seconds). */
static void civil_from_days(int64_t z, int64_t *year, int *month, int *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                       /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  /* [0, 399] */
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                     /* [0, 11] */
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = y + (*month <= 2);
}

double kern_date_apply(kern_date_fn_t fn, double v)
{
    /* Go's int64(v) truncates toward zero; values outside int64 have no defined result. */
    if (isnan(v) || !(v >= -9223372036854775808.0 && v < 9223372036854775808.0))
        return NAN;
    int64_t secs = (int64_t)v;
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t year;
    int month, day;
    civil_from_days(days, &year, &month, &day);
    switch (fn) {
    case KERN_DATE_DAY_OF_MONTH: return day;
    case KERN_DATE_DAY_OF_WEEK: {
        int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
        return (double)(w < 0 ? w + 7 : w);
    }
    case KERN_DATE_DAY_OF_YEAR: {
        int yday = day;
        for (int m = 1; m < month; m++)
            yday += days_in_month(year, m);
        return yday;
    }
    case KERN_DATE_DAYS_IN_MONTH: return days_in_month(year, month);
    case KERN_DATE_HOUR: return (double)(rem / 3600);
    case KERN_DATE_MINUTE: return (double)(rem % 3600 / 60);
    case KERN_DATE_MONTH: return month;
    case KERN_DATE_YEAR: return (double)year;
    case KERN_DATE__COUNT: break;
    }
    return NAN;
}
