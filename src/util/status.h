/* status.h owns Metricstor's one status scheme: 0 for success, a negative MS_E* code otherwise.
 * HTTP status codes are chosen from these in api/ only. */
#ifndef MS_UTIL_STATUS_H
#define MS_UTIL_STATUS_H

enum {
    MS_OK = 0,
    MS_ENOMEM = -1,    /* allocation failed (normally we abort instead) */
    MS_EINVAL = -2,    /* caller passed something malformed */
    MS_EIO = -3,       /* a read/write/fsync failed */
    MS_ENOENT = -4,    /* not found */
    MS_ECORRUPT = -5,  /* persisted or received bytes fail a check */
    MS_ETOOBIG = -6,   /* a size limit was exceeded */
    MS_ELIMIT = -7,    /* a configured resource limit was hit */
    MS_ETIMEOUT = -8,  /* deadline passed */
    MS_ECANCELED = -9, /* work was cancelled */
    MS_EEXIST = -10,   /* already exists */
    MS_ENOSPC = -11,   /* no space left to persist */
    MS_EBUSY = -12,    /* temporarily unavailable, retry */
    MS_ECLOSED = -13,  /* the object is shutting down */
};

/* A static, human-readable name for a status code. */
const char *ms_strerror(int status);

#endif
