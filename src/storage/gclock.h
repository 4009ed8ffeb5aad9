/* gclock.h owns gclock_t, the lock that keeps series alive: appenders and queriers hold it
 * shared for their lifetime, garbage collection holds it exclusively. Unlike pthread_rwlock it
 * may be released by a different thread than the one that took it (an appender or querier may
 * move between threads), and it never deadlocks on a thread holding two shared holds: a waiting
 * writer blocks new readers only for a bounded time, then waits without preference. */
#ifndef MS_STORAGE_GCLOCK_H
#define MS_STORAGE_GCLOCK_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct gclock {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t readers;
    bool writer, writer_waiting;
} gclock_t;

void gclock_init(gclock_t *l);
void gclock_destroy(gclock_t *l);
void gclock_read_lock(gclock_t *l);
void gclock_read_unlock(gclock_t *l);
/* Blocks new readers for at most prefer_ms while waiting for current ones to leave. */
void gclock_write_lock(gclock_t *l, int64_t prefer_ms);
void gclock_write_unlock(gclock_t *l);

#endif
