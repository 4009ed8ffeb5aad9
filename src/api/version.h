/* version.h owns Metricstor's version string and the build facts /api/v1/status/buildinfo reports. */
#ifndef MS_API_VERSION_H
#define MS_API_VERSION_H

#define METRICSTOR_VERSION "0.1.0"

/* Overridable from the compiler command line (-DMETRICSTOR_REVISION=...); "unknown" otherwise. */
#ifndef METRICSTOR_REVISION
#define METRICSTOR_REVISION "unknown"
#endif
#ifndef METRICSTOR_BRANCH
#define METRICSTOR_BRANCH "unknown"
#endif
#ifndef METRICSTOR_BUILD_USER
#define METRICSTOR_BUILD_USER "unknown"
#endif

#endif
