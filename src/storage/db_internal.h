/* db_internal.h owns struct db, shared by db.c (open/close, retention, metadata, stats),
 * appender.c, querier.c and head_replay.c. Internal to src/storage.
 * Locking: gc_lock is read-held by every live appender and querier, write-held by garbage
 * collection (retention), so series pointers they hold stay valid; meta_mu guards metadata. */
#ifndef MS_STORAGE_DB_INTERNAL_H
#define MS_STORAGE_DB_INTERNAL_H
#include "storage/gclock.h"
#include "storage/head.h"
#include "storage/storage.h"
#include "storage/wal.h"
#include "util/buf.h"
#include <pthread.h>

typedef struct meta_entry {
    char *metric, *type, *help, *unit;
} meta_entry_t;

struct db {
    db_options_t opts;
    char *data_dir;
    int lock_fd; /* flock'd <data_dir>/lock: one process per data dir */
    head_t head;
    wal_t *wal;
    gclock_t gc_lock;

    pthread_mutex_t meta_mu;
    strmap_t meta; /* metric -> meta_entry_t* */

    _Atomic uint64_t samples_appended;
    uint64_t replay_records, replay_corrupt, replay_ms;

    pthread_mutex_t pool_mu; /* recycled appenders, so steady-state commits reuse buffers */
    appender_t *pool;
    size_t npool;

    pthread_t bg;
    bool bg_started, bg_stop;
    pthread_mutex_t bg_mu;
    pthread_cond_t bg_cond;
};

void db_meta_set(db_t *db, const char *metric, size_t ml, const char *type, size_t tl, const char *help, size_t hl,
                 const char *unit, size_t ul);
void appender_pool_free(db_t *db);
/* Replays the WAL into the head and metadata (called by db_open). */
int head_replay(db_t *db);

#endif
