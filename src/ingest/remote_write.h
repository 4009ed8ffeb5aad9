/* remote_write.h owns decoding a Prometheus remote_write 1.0 request (snappy block-compressed
 * protobuf prompb.WriteRequest) and handing it to storage through one appender.
 *
 * The whole request is decoded and validated before anything is appended, so a malformed
 * request stores nothing. The decoder does not allocate per sample or per label: labels point
 * into the decompressed buffer, which lives until the commit returns. */
#ifndef MS_INGEST_REMOTE_WRITE_H
#define MS_INGEST_REMOTE_WRITE_H
#include "storage/storage.h"
#include <stddef.h>
#include <stdint.h>

typedef struct rw_limits {
    size_t max_decompressed_bytes; /* default 32 MiB */
    size_t max_samples;            /* per request; 0 = unlimited */
    size_t max_labels_per_series;  /* 0 = unlimited */
    size_t max_label_name_len;     /* 0 = unlimited */
    size_t max_label_value_len;    /* 0 = unlimited */
} rw_limits_t;

void rw_limits_default(rw_limits_t *l);

typedef enum {
    RW_OK = 0,
    RW_BAD_REQUEST,  /* malformed: reject whole with 400; message says why */
    RW_TOO_LARGE,    /* over a size limit: 413 */
    RW_PARTIAL,      /* stored, but some samples dropped (too old/new): 400 naming counts */
    RW_UNAVAILABLE,  /* storage could not persist (WAL error): 503, nothing acknowledged */
} rw_outcome_t;

typedef struct rw_result {
    rw_outcome_t outcome;
    char message[512];        /* human-readable reason for anything but RW_OK */
    uint64_t series, samples, exemplars_ignored, metadata;
    append_result_t append;
} rw_result_t;

/* The message for a write refused because storage could not persist it (status from the
 * appender: MS_ENOSPC disk full, MS_EIO disk error, ...): says nothing was stored and to retry.
 * The HTTP layer answers such refusals with 503 and Retry-After. */
void rw_storage_error_message(int status, char *out, size_t n);

/* Decodes the compressed body and appends it to db. content_encoding may be NULL (missing). */
void rw_handle(db_t *db, const rw_limits_t *lim, const char *content_encoding, const void *body, size_t body_len,
               rw_result_t *res);

#endif
