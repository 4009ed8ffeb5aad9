/* appender.c owns the write path: appender_add (series lookup on borrowed labels, retention
 * and future filtering, no copy of labels), and appender_commit (backpressure against a block
 * cut that is behind, create new series, encode WAL records outside any global lock, one
 * write(), group-commit sync, then apply to the head).
 * Appenders are recycled through a small per-db pool so steady-state commits do not allocate. */
#include "storage/db_internal.h"
#include "storage/record.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/status.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BP_DEFAULT_WAIT_MS 5000
#define BP_LOG_EVERY_MS 30000

typedef struct app_entry {
    series_t *s;       /* NULL until created at commit */
    const label_t *ls; /* borrowed */
    size_t nl;
    uint64_t hash;
    size_t off, n; /* samples [off, off+n) */
    size_t toff;   /* tenant mode: ls is a->tl + toff (set at commit; tl may move until then) */
} app_entry_t;

typedef struct app_meta {
    const char *s[4];
    size_t len[4];
} app_meta_t;

struct appender {
    db_t *db;
    app_entry_t *e;
    size_t ne, cape;
    sample_t *smp;
    size_t ns, caps;
    app_meta_t *meta;
    size_t nmeta, capmeta;
    buf_t buf;
    uint64_t too_old, too_new;
    int64_t mint, maxt;
    const char *tenant; /* appender_set_tenant: borrowed; NULL in open mode */
    size_t tenant_len;
    label_t *tl;        /* tenant mode: the label sets with TENANT_LABEL inserted, back to back */
    size_t ntl, captl;
    appender_t *next_free;
};

#define POOL_MAX 32

int db_appender(db_t *db, appender_t **out)
{
    appender_t *a = NULL;
    pthread_mutex_lock(&db->pool_mu);
    if (db->pool) {
        a = db->pool;
        db->pool = a->next_free;
        db->npool--;
    }
    pthread_mutex_unlock(&db->pool_mu);
    if (!a) a = xcalloc(1, sizeof(*a));
    a->db = db;
    a->ne = a->ns = a->nmeta = 0;
    a->too_old = a->too_new = 0;
    a->tenant = NULL;
    a->tenant_len = a->ntl = 0;
    a->mint = INT64_MAX;
    a->maxt = INT64_MIN;
    buf_reset(&a->buf);
    gclock_read_lock(&db->gc_lock);
    *out = a;
    return MS_OK;
}

static void appender_release(appender_t *a)
{
    db_t *db = a->db;
    gclock_read_unlock(&db->gc_lock);
    pthread_mutex_lock(&db->pool_mu);
    if (db->npool < POOL_MAX && a->buf.cap < (8u << 20)) {
        a->next_free = db->pool;
        db->pool = a;
        db->npool++;
        a = NULL;
    }
    pthread_mutex_unlock(&db->pool_mu);
    if (a) {
        free(a->e);
        free(a->smp);
        free(a->meta);
        free(a->tl);
        buf_free(&a->buf);
        free(a);
    }
}

void appender_pool_free(db_t *db)
{
    while (db->pool) {
        appender_t *a = db->pool;
        db->pool = a->next_free;
        free(a->e);
        free(a->smp);
        free(a->meta);
        free(a->tl);
        buf_free(&a->buf);
        free(a);
    }
    db->npool = 0;
}

int appender_set_tenant(appender_t *a, const char *name, size_t len)
{
    if (!a || !name || len == 0) return MS_EINVAL;
    a->tenant = name;
    a->tenant_len = len;
    return MS_OK;
}

/* Tenant mode: copies labels into a->tl with TENANT_LABEL inserted at its sorted place; returns
 * the copy's offset, or SIZE_MAX when the set already carries TENANT_LABEL (refused). */
static size_t tenant_labels(appender_t *a, const label_t *labels, size_t n)
{
    static const char tname[] = TENANT_LABEL;
    if (a->ntl + n + 1 > a->captl) XGROW(a->tl, a->captl, a->ntl + n + 1);
    label_t *d = a->tl + a->ntl;
    size_t k = 0;
    bool put = false;
    for (size_t i = 0; i < n; i++) {
        size_t m = labels[i].name_len < TENANT_LABEL_LEN ? labels[i].name_len : TENANT_LABEL_LEN;
        int c = memcmp(labels[i].name, tname, m);
        if (c == 0) c = labels[i].name_len < TENANT_LABEL_LEN ? -1 : labels[i].name_len > TENANT_LABEL_LEN;
        if (c == 0) return SIZE_MAX;
        if (c > 0 && !put) {
            d[k++] = (label_t){tname, a->tenant, TENANT_LABEL_LEN, (uint32_t)a->tenant_len};
            put = true;
        }
        d[k++] = labels[i];
    }
    if (!put) d[k++] = (label_t){tname, a->tenant, TENANT_LABEL_LEN, (uint32_t)a->tenant_len};
    size_t off = a->ntl;
    a->ntl += k;
    return off;
}

int appender_add(appender_t *a, const label_t *labels, size_t n, uint64_t hash, const sample_t *samples, size_t ns)
{
    if (!a || !labels || n == 0) return MS_EINVAL;
    if (ns == 0) return MS_OK;
    size_t toff = SIZE_MAX;
    if (a->tenant) {
        toff = tenant_labels(a, labels, n);
        if (toff == SIZE_MAX) return MS_EINVAL;
        labels = a->tl + toff;
        n++;
        hash = labels_hash(labels, n);
    }
    db_t *db = a->db;
    int64_t now = clock_now_ms();
    int64_t oldest = db->opts.retention_ms > 0 ? now - db->opts.retention_ms : INT64_MIN;
    int64_t newest = now + db->opts.max_future_ms;
    if (a->ns + ns > a->caps) XGROW(a->smp, a->caps, a->ns + ns);
    size_t off = a->ns;
    for (size_t i = 0; i < ns; i++) {
        int64_t t = samples[i].t;
        if (t < oldest) a->too_old++;
        else if (t > newest) a->too_new++;
        else {
            a->smp[a->ns++] = samples[i];
            if (t > a->maxt) a->maxt = t;
            if (t < a->mint) a->mint = t;
        }
    }
    if (a->ns == off) {
        if (toff != SIZE_MAX) a->ntl = toff; /* nothing kept: drop the copy */
        return MS_OK;
    }
    series_t *s = head_get(&db->head, labels, n, hash);
    if (!s && labels_validate(labels, n) != LABELS_OK) {
        /* a new series must be replayable: the WAL rejects invalid label sets */
        a->ns = off;
        if (toff != SIZE_MAX) a->ntl = toff;
        return MS_EINVAL;
    }
    if (a->ne == a->cape) XGROW(a->e, a->cape, a->ne + 1);
    a->e[a->ne++] = (app_entry_t){s, labels, n, hash, off, a->ns - off, toff};
    return MS_OK;
}

int appender_add_metadata(appender_t *a, const char *metric, size_t metric_len, const char *type, size_t type_len,
                          const char *help, size_t help_len, const char *unit, size_t unit_len)
{
    if (!a || !metric || metric_len == 0) return MS_EINVAL;
    if (a->nmeta == a->capmeta) XGROW(a->meta, a->capmeta, a->nmeta + 1);
    a->meta[a->nmeta++] = (app_meta_t){{metric, type ? type : "", help ? help : "", unit ? unit : ""},
                                        {metric_len, type ? type_len : 0, help ? help_len : 0, unit ? unit_len : 0}};
    return MS_OK;
}

void appender_rollback(appender_t *a)
{
    if (a) appender_release(a);
}

/* ---- backpressure ---- */

int64_t db_bp_limit_ms(const db_options_t *o)
{
    int64_t w = o->head_window_ms, r = o->block_range_ms;
    return w + r + (w > r ? w : r);
}

/* How far the head's newest sample is ahead of its oldest uncut one (0: nothing to cut). While
 * a cut runs, head_mint_hint only covers samples appended since it started: the data the cut is
 * still writing is counted through cut_floor until it has been truncated. */
static int64_t head_span(db_t *db)
{
    int64_t hmax = atomic_load(&db->head_maxt);
    int64_t floor = atomic_load(&db->head_mint_hint);
    if (atomic_load(&db->cut_running)) {
        int64_t f = atomic_load(&db->cut_floor);
        if (f < floor) floor = f;
    }
    if (hmax == INT64_MIN || floor == INT64_MAX || floor >= hmax) return 0;
    if (floor < 0 && hmax > INT64_MAX + floor) return INT64_MAX;
    return hmax - floor;
}

static int64_t mono_ms(void) { return clock_mono_ns() / 1000000; }

static void bp_log(db_t *db, int64_t span, int64_t limit)
{
    int64_t now = mono_ms(), last = atomic_load(&db->bp_logged_ms);
    if (last != 0 && now - last < BP_LOG_EVERY_MS) return;
    if (!atomic_compare_exchange_strong(&db->bp_logged_ms, &last, now)) return; /* another thread logs */
    log_warn("ingest: writes are ahead of the block cut (head spans %lld s, limit %lld s): commits of samples "
             "older than the head window wait for the cut (up to %lld ms) or are refused; %llu waits, %llu "
             "refused so far",
             (long long)(span / 1000), (long long)(limit / 1000),
             (long long)(db->opts.ingest_wait_ms == 0 ? BP_DEFAULT_WAIT_MS
                         : db->opts.ingest_wait_ms > 0 ? db->opts.ingest_wait_ms : 0),
             (unsigned long long)atomic_load(&db->bp_waits), (unsigned long long)atomic_load(&db->bp_rejections));
}

/* Called by appender_commit before anything is written, gc read lock held. When the head spans
 * more than the limit and the batch is not live data (samples older than the head window of the
 * wall clock), asks the background thread for a cut and waits for the head to come back under
 * the limit. The gc read lock is given up while waiting (the cut needs its write side), so the
 * batch's series pointers are dropped (*relookup) and found again by the caller. MS_EBUSY when
 * the cut is still behind after the wait; the read lock is held again on every return. */
static int backpressure(appender_t *a, bool *relookup)
{
    db_t *db = a->db;
    *relookup = false;
    if (a->ne == 0 || db->opts.head_window_ms <= 0) return MS_OK;
    const int64_t limit = db_bp_limit_ms(&db->opts);
    const int64_t due = db->opts.head_window_ms + db->opts.block_range_ms;
    int64_t span = head_span(db);
    if (span <= due) return MS_OK; /* the normal case: three atomic loads */
    if (a->mint >= clock_now_ms() - db->opts.head_window_ms) return MS_OK; /* live data never waits */
    if (span <= limit) {
        /* a cut is due: wake it now rather than at its next tick (once per cut check), so it
         * runs while old data keeps coming and the hard limit below is seldom reached */
        uint64_t gen = atomic_load(&db->cut_gen), kicked = atomic_load(&db->bp_kicked);
        if (!atomic_load(&db->cut_running) && !atomic_load(&db->cut_last_failed) && kicked != gen + 1 &&
            atomic_compare_exchange_strong(&db->bp_kicked, &kicked, gen + 1)) {
            pthread_mutex_lock(&db->bg_mu);
            db->cut_wanted = true;
            pthread_cond_broadcast(&db->bg_cond);
            pthread_mutex_unlock(&db->bg_mu);
        }
        return MS_OK;
    }
    int64_t wait_ms = db->opts.ingest_wait_ms;
    if (wait_ms == 0) wait_ms = BP_DEFAULT_WAIT_MS;
    if (wait_ms > 0) {
        atomic_fetch_add(&db->bp_waits, 1);
        bp_log(db, span, limit);
        gclock_read_unlock(&db->gc_lock);
        *relookup = true;
        const int64_t deadline = mono_ms() + wait_ms;
        pthread_mutex_lock(&db->bg_mu);
        uint64_t asked = UINT64_MAX;
        for (int64_t now; (span = head_span(db)) > limit && (now = mono_ms()) < deadline;) {
            /* once per cut check, so waiters do not wake each other in a loop; not after a failed
             * cut (disk full or failing), which the background thread retries once a second */
            if (db->cut_gen != asked && !atomic_load(&db->cut_last_failed)) {
                asked = db->cut_gen;
                db->cut_wanted = true;
                pthread_cond_broadcast(&db->bg_cond);
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t d = deadline - now;
            if (d > 100) d = 100; /* re-check now and then: a cut may end without our wakeup */
            ts.tv_sec += d / 1000;
            ts.tv_nsec += (d % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&db->bg_cond, &db->bg_mu, &ts);
        }
        pthread_mutex_unlock(&db->bg_mu);
        gclock_read_lock(&db->gc_lock);
    }
    if (span <= limit) return MS_OK;
    atomic_fetch_add(&db->bp_rejections, 1);
    bp_log(db, span, limit);
    return MS_EBUSY;
}

int appender_commit(appender_t *a, append_result_t *res)
{
    if (!a) return MS_EINVAL;
    db_t *db = a->db;
    head_t *h = &db->head;
    append_result_t r = {0};
    r.samples_too_old = a->too_old;
    r.samples_too_new = a->too_new;

    /* 0. backpressure: nothing is created, logged or applied before it lets the batch through */
    bool relookup;
    int brc = backpressure(a, &relookup);
    if (brc != MS_OK) {
        appender_release(a);
        return brc;
    }
    if (relookup)
        for (size_t i = 0; i < a->ne; i++) a->e[i].s = NULL; /* may have been dropped by the cut */

    /* 1. create the batch's new series (refs are needed for the records) */
    for (size_t i = 0; i < a->ne; i++) {
        app_entry_t *e = &a->e[i];
        if (e->toff != SIZE_MAX) e->ls = a->tl + e->toff; /* tl no longer moves */
        if (e->s) continue;
        bool created;
        e->s = head_get_or_create(h, e->ls, e->nl, e->hash, 0, &created);
        if (created) r.series_created++;
    }
    /* 2. encode records into the appender's buffer, outside any global lock */
    buf_reset(&a->buf);
    size_t hdr = 0;
    bool open = false;
    for (size_t i = 0; i < a->ne; i++) {
        series_t *s = a->e[i].s;
        if (atomic_load(&s->wal_logged)) continue;
        if (!open) {
            hdr = record_begin(&a->buf, REC_SERIES);
            open = true;
        }
        record_put_series(&a->buf, s->ref, s->labels, s->nlabels);
    }
    if (open) record_end(&a->buf, hdr);
    if (a->ne) {
        hdr = record_begin(&a->buf, REC_SAMPLES);
        int64_t base = 0;
        for (size_t i = 0; i < a->ne; i++) {
            const app_entry_t *e = &a->e[i];
            record_put_samples(&a->buf, &base, e->s->ref, &a->smp[e->off].t, &a->smp[e->off].v, e->n, sizeof(sample_t));
        }
        record_end(&a->buf, hdr);
    }
    if (a->nmeta) {
        hdr = record_begin(&a->buf, REC_METADATA);
        for (size_t i = 0; i < a->nmeta; i++) {
            const app_meta_t *m = &a->meta[i];
            record_put_metadata(&a->buf, m->s[0], m->len[0], m->s[1], m->len[1], m->s[2], m->len[2], m->s[3],
                                m->len[3]);
        }
        record_end(&a->buf, hdr);
    }
    /* 3. log, then sync per policy */
    if (a->buf.len) {
        uint64_t end = 0;
        int rc = wal_write(db->wal, a->buf.data, a->buf.len, a->maxt, &end);
        if (rc == MS_OK && db->opts.wal_fsync == WAL_FSYNC_ALWAYS) rc = wal_sync(db->wal, end);
        if (rc != MS_OK) {
            appender_release(a);
            return rc;
        }
        for (size_t i = 0; i < a->ne; i++) atomic_store(&a->e[i].s->wal_logged, true);
    }
    /* 4. apply to the head under per-series locks; a sample older than a running block cut's
     * boundary marks its series so the cut keeps it in the head (blocks.c) */
    int64_t dirty_below = atomic_load(&db->cut_dirty_below);
    for (size_t i = 0; i < a->ne; i++) {
        const app_entry_t *e = &a->e[i];
        series_t *s = e->s;
        pthread_mutex_lock(&s->mu);
        for (size_t k = 0; k < e->n; k++) {
            uint64_t bits;
            memcpy(&bits, &a->smp[e->off + k].v, sizeof(bits));
            series_append(s, a->smp[e->off + k].t, bits, &h->mem, &h->nchunks);
            if (a->smp[e->off + k].t < dirty_below) s->cut_dirty = true;
        }
        pthread_mutex_unlock(&s->mu);
        r.samples_accepted += e->n;
    }
    for (size_t i = 0; i < a->nmeta; i++) {
        const app_meta_t *m = &a->meta[i];
        db_meta_set(db, m->s[0], m->len[0], m->s[1], m->len[1], m->s[2], m->len[2], m->s[3], m->len[3]);
    }
    if (a->ne) db_note_samples(db, a->mint, a->maxt);
    atomic_fetch_add(&db->samples_appended, r.samples_accepted);
    if (res) *res = r;
    appender_release(a);
    return MS_OK;
}
