/* selfmon.h owns the server's view of itself: the counters and histograms request handling
 * increments (lock-free atomics, see util/metrics.h), their rendering as GET /metrics, and the
 * optional self-scrape thread that appends those samples into the server's own storage.
 *
 * One selfmon_t per server (no module globals, so two servers can live in one test process).
 * Threading: every update function may be called from any thread at any time; render and the
 * scrape thread read the atomics without locks. */
#ifndef MS_API_SELFMON_H
#define MS_API_SELFMON_H
#include "storage/storage.h"
#include "util/buf.h"
#include <stdint.h>

typedef struct selfmon selfmon_t;

/* Why samples were refused; the label value of metricstor_samples_rejected_total{reason}. */
typedef enum {
    SELFMON_REJECT_TOO_OLD,        /* older than the retention window */
    SELFMON_REJECT_TOO_NEW,        /* beyond --max-future */
    SELFMON_REJECT_INVALID_SERIES, /* bad label set (UTF-8, duplicate or empty names, limits) */
    SELFMON_REJECT_SYNTAX,         /* in a body refused for a syntax error */
    SELFMON_REJECT_STORAGE,        /* storage could not persist the batch */
    SELFMON_REJECT_N
} selfmon_reject_t;

void selfmon_new(selfmon_t **out);
void selfmon_free(selfmon_t *m); /* stops the scrape thread first; accepts NULL */

/* One handled request: handler is the route's path (a bounded set; the caller passes the route
 * pattern, never a raw client path), status the HTTP status, seconds the handler's duration. */
void selfmon_request(selfmon_t *m, const char *handler, int status, double seconds);
void selfmon_rejected(selfmon_t *m, selfmon_reject_t reason, uint64_t samples);
/* Samples and series created by an import (remote_write ingestion is counted by storage). */
void selfmon_imported(selfmon_t *m, uint64_t samples, uint64_t series_created);

/* Appends the text exposition (format 0.0.4) of every metric to out; db may be NULL. */
void selfmon_render(selfmon_t *m, db_t *db, buf_t *out);

/* Starts a thread that every interval_ms renders the metrics and appends them to db with the
 * labels job="metricstor", instance=<instance>, stamped with the scrape time. Returns 0 or
 * MS_EINVAL (interval_ms <= 0, already running). The db must outlive selfmon_scrape_stop. */
int selfmon_scrape_start(selfmon_t *m, db_t *db, int64_t interval_ms, const char *instance);
void selfmon_scrape_stop(selfmon_t *m); /* joins the thread; harmless when none runs */
/* The tenant whose series the self-scrape writes (with --auth-file; NULL or "": none, so only an
 * open server shows them). Call before selfmon_scrape_start; the name is copied. */
void selfmon_set_tenant(selfmon_t *m, const char *tenant);
/* One self-scrape now (what the thread does each tick); returns 0 or a storage status. */
int selfmon_scrape_once(selfmon_t *m, db_t *db, const char *instance, int64_t now_ms);

#endif
