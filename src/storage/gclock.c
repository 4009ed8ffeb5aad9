/* gclock.c owns the shared/exclusive lock guarding series lifetime (see gclock.h for why it is
 * not a pthread_rwlock). */
#include "storage/gclock.h"
#include <errno.h>
#include <time.h>

void gclock_init(gclock_t *l)
{
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->readers = 0;
    l->writer = l->writer_waiting = false;
}

void gclock_destroy(gclock_t *l)
{
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}

void gclock_read_lock(gclock_t *l)
{
    pthread_mutex_lock(&l->mu);
    while (l->writer || l->writer_waiting) pthread_cond_wait(&l->cv, &l->mu);
    l->readers++;
    pthread_mutex_unlock(&l->mu);
}

void gclock_read_unlock(gclock_t *l)
{
    pthread_mutex_lock(&l->mu);
    if (--l->readers == 0) pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void gclock_write_lock(gclock_t *l, int64_t prefer_ms)
{
    pthread_mutex_lock(&l->mu);
    while (l->writer || l->writer_waiting) pthread_cond_wait(&l->cv, &l->mu);
    l->writer_waiting = true;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    int64_t ns = dl.tv_nsec + (prefer_ms % 1000) * 1000000;
    dl.tv_sec += prefer_ms / 1000 + ns / 1000000000;
    dl.tv_nsec = ns % 1000000000;
    while (l->readers > 0) {
        if (l->writer_waiting && pthread_cond_timedwait(&l->cv, &l->mu, &dl) == ETIMEDOUT) {
            /* a reader may be waiting behind us while holding a shared hold: stop blocking readers */
            l->writer_waiting = false;
            pthread_cond_broadcast(&l->cv);
        } else if (!l->writer_waiting) {
            pthread_cond_wait(&l->cv, &l->mu);
        }
    }
    l->writer_waiting = false;
    l->writer = true;
    pthread_mutex_unlock(&l->mu);
}

void gclock_write_unlock(gclock_t *l)
{
    pthread_mutex_lock(&l->mu);
    l->writer = false;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}
