/* status.c owns the text for each status code. */
#include "util/status.h"

const char *ms_strerror(int status)
{
    switch (status) {
    case MS_OK: return "ok";
    case MS_ENOMEM: return "out of memory";
    case MS_EINVAL: return "invalid argument";
    case MS_EIO: return "I/O error";
    case MS_ENOENT: return "not found";
    case MS_ECORRUPT: return "corrupt data";
    case MS_ETOOBIG: return "too big";
    case MS_ELIMIT: return "limit exceeded";
    case MS_ETIMEOUT: return "timed out";
    case MS_ECANCELED: return "canceled";
    case MS_EEXIST: return "already exists";
    case MS_ENOSPC: return "no space left on device";
    case MS_EBUSY: return "busy";
    case MS_ECLOSED: return "closed";
    default: return "unknown error";
    }
}
