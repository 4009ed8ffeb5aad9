/* clock.h owns time sources: wall-clock milliseconds (sample timestamps) and monotonic time. */
#ifndef MS_UTIL_CLOCK_H
#define MS_UTIL_CLOCK_H
#include <stdint.h>

int64_t clock_now_ms(void);       /* Unix epoch milliseconds */
int64_t clock_mono_ns(void);      /* monotonic nanoseconds, for durations and deadlines */

#endif
