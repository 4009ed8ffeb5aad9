/* tombstones.c owns the tombstone set (tombstones.h): reference-counted immutable snapshots
 * with a hash lookup by label set, interval merging and filtering, and the persisted file
 * <data_dir>/tombstones (docs/format/tombstones.md), written tmp + fsync + rename + fsync dir
 * and read back only through cursor_t. db_delete_series and db_clean_tombstones live in
 * tomb_ops.c. */
#include "storage/tombstones.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/fio.h"
#include "util/log.h"
#include "util/status.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOMB_MAGIC "MSTB"
#define TOMB_VERSION 1
#define TOMB_HEADER_LEN 12

/* An entry with its reference count; snapshots share unchanged entries. */
typedef struct ent_box {
    _Atomic uint32_t refs;
    tomb_ent_t e;
} ent_box_t;

struct tomb_snap {
    _Atomic uint32_t refs;
    ent_box_t **ents;
    size_t n;
    uint32_t *slots; /* open addressing by hash: index + 1, 0 = empty; nslots a power of two */
    size_t nslots;
    uint64_t niv;
};

struct tombstones {
    char *path, *tmp_path, *dir;
    bool sync;
    pthread_mutex_t mu; /* guards cur (the pointer and taking a reference) */
    tomb_snap_t *cur;   /* NULL when empty */
    atomic_bool any;
};

/* ---- entries ---- */

static ent_box_t *box_new(const label_t *ls, size_t n, uint64_t hash, const tomb_iv_t *iv, size_t niv)
{
    size_t strs = 0;
    for (size_t i = 0; i < n; i++) strs += ls[i].name_len + ls[i].value_len;
    ent_box_t *b = xmalloc(sizeof(*b) + n * sizeof(label_t) + (strs ? strs : 1));
    atomic_init(&b->refs, 1);
    label_t *dst = (label_t *)(b + 1);
    char *p = (char *)(dst + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, ls[i].name, ls[i].name_len);
        dst[i].name = p;
        dst[i].name_len = ls[i].name_len;
        p += ls[i].name_len;
        memcpy(p, ls[i].value, ls[i].value_len);
        dst[i].value = p;
        dst[i].value_len = ls[i].value_len;
        p += ls[i].value_len;
    }
    b->e.hash = hash;
    b->e.labels = (labels_t){dst, n};
    b->e.niv = niv;
    b->e.iv = xmalloc((niv ? niv : 1) * sizeof(tomb_iv_t));
    if (niv) memcpy(b->e.iv, iv, niv * sizeof(tomb_iv_t));
    return b;
}

static void box_put(ent_box_t *b)
{
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1) return;
    free(b->e.iv);
    free(b);
}

static int iv_cmp(const void *a, const void *b)
{
    const tomb_iv_t *x = a, *y = b;
    if (x->mint != y->mint) return x->mint < y->mint ? -1 : 1;
    return x->maxt < y->maxt ? -1 : x->maxt > y->maxt;
}

/* Sorts and merges overlapping or adjacent intervals in place (the merged mark is the larger);
 * returns the new count. */
static size_t iv_normalise(tomb_iv_t *iv, size_t n)
{
    if (n > 1) qsort(iv, n, sizeof(*iv), iv_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && (iv[k - 1].maxt == INT64_MAX || iv[i].mint <= iv[k - 1].maxt + 1)) {
            if (iv[i].maxt > iv[k - 1].maxt) iv[k - 1].maxt = iv[i].maxt;
            if (iv[i].wal_mark > iv[k - 1].wal_mark) iv[k - 1].wal_mark = iv[i].wal_mark;
            continue;
        }
        iv[k++] = iv[i];
    }
    return k;
}

bool tomb_ent_overlaps(const tomb_ent_t *e, int64_t mint, int64_t maxt)
{
    if (!e) return false;
    for (size_t i = 0; i < e->niv; i++) {
        if (e->iv[i].mint > maxt) return false;
        if (e->iv[i].maxt >= mint) return true;
    }
    return false;
}

bool tomb_ent_covers(const tomb_ent_t *e, int64_t mint, int64_t maxt)
{
    if (!e) return false;
    /* intervals are merged, so one interval must hold the whole range */
    for (size_t i = 0; i < e->niv; i++)
        if (e->iv[i].mint <= mint && e->iv[i].maxt >= maxt) return true;
    return false;
}

size_t tomb_ent_filter(const tomb_ent_t *e, sample_vec_t *sv, size_t from)
{
    if (!e || !e->niv || from >= sv->n) return 0;
    size_t w = from, k = 0;
    for (size_t r = from; r < sv->n; r++) {
        int64_t t = sv->v[r].t;
        while (k < e->niv && e->iv[k].maxt < t) k++;
        if (k < e->niv && e->iv[k].mint <= t) continue; /* deleted */
        sv->v[w++] = sv->v[r];
    }
    size_t removed = sv->n - w;
    sv->n = w;
    return removed;
}

/* ---- snapshots ---- */

static size_t slot_of(const tomb_snap_t *s, uint64_t hash)
{
    return (size_t)(hash ^ (hash >> 29)) & (s->nslots - 1);
}

/* Takes ownership of ents[0..n) (one reference each) and builds the lookup table. */
static tomb_snap_t *snap_build(ent_box_t **ents, size_t n)
{
    tomb_snap_t *s = xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->ents = ents;
    s->n = n;
    s->nslots = 8;
    while (s->nslots < n * 2) s->nslots *= 2;
    s->slots = xcalloc(s->nslots, sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        size_t j = slot_of(s, ents[i]->e.hash);
        while (s->slots[j]) j = (j + 1) & (s->nslots - 1);
        s->slots[j] = (uint32_t)(i + 1);
        s->niv += ents[i]->e.niv;
    }
    return s;
}

static void snap_free(tomb_snap_t *s)
{
    for (size_t i = 0; i < s->n; i++) box_put(s->ents[i]);
    free(s->ents);
    free(s->slots);
    free(s);
}

void tomb_snap_put(tomb_snap_t *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) snap_free(s);
}

tomb_snap_t *tomb_snap_get(tombstones_t *t)
{
    if (!t || !atomic_load_explicit(&t->any, memory_order_acquire)) return NULL;
    pthread_mutex_lock(&t->mu);
    tomb_snap_t *s = t->cur;
    if (s) atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&t->mu);
    return s;
}

size_t tomb_snap_len(const tomb_snap_t *s) { return s ? s->n : 0; }

const tomb_ent_t *tomb_snap_at(const tomb_snap_t *s, size_t i)
{
    return s && i < s->n ? &s->ents[i]->e : NULL;
}

static ssize_t snap_index(const tomb_snap_t *s, const label_t *ls, size_t n, uint64_t hash)
{
    if (!s || !s->n) return -1;
    for (size_t j = slot_of(s, hash); s->slots[j]; j = (j + 1) & (s->nslots - 1)) {
        const tomb_ent_t *e = &s->ents[s->slots[j] - 1]->e;
        if (e->hash == hash && labels_equal(e->labels.v, e->labels.n, ls, n)) return (ssize_t)s->slots[j] - 1;
    }
    return -1;
}

const tomb_ent_t *tomb_snap_find(const tomb_snap_t *s, const label_t *ls, size_t n, uint64_t hash)
{
    ssize_t i = snap_index(s, ls, n, hash);
    return i < 0 ? NULL : &s->ents[i]->e;
}

void tomb_snap_filter(const tomb_snap_t *s, const label_t *ls, size_t n, sample_vec_t *sv)
{
    if (!s || !sv || !sv->n) return;
    const tomb_ent_t *e = tomb_snap_find(s, ls, n, labels_hash(ls, n));
    if (e) tomb_ent_filter(e, sv, 0);
}

void tomb_filter(tombstones_t *t, const label_t *ls, size_t n, sample_vec_t *sv)
{
    if (!tomb_any(t)) return;
    tomb_snap_t *s = tomb_snap_get(t);
    tomb_snap_filter(s, ls, n, sv);
    tomb_snap_put(s);
}

bool tomb_any(const tombstones_t *t)
{
    return t && atomic_load_explicit(&((tombstones_t *)t)->any, memory_order_acquire);
}

void tomb_counts(tombstones_t *t, uint64_t *nseries, uint64_t *nintervals)
{
    tomb_snap_t *s = tomb_snap_get(t);
    if (nseries) *nseries = s ? s->n : 0;
    if (nintervals) *nintervals = s ? s->niv : 0;
    tomb_snap_put(s);
}

/* ---- the file ---- */

void tomb_encode(const tomb_snap_t *s, buf_t *b)
{
    buf_append(b, TOMB_MAGIC, 4);
    const uint8_t ver[4] = {TOMB_VERSION, 0, 0, 0};
    buf_append(b, ver, 4);
    buf_put_u32le(b, s ? (uint32_t)s->n : 0);
    for (size_t i = 0; s && i < s->n; i++) {
        const tomb_ent_t *e = &s->ents[i]->e;
        buf_put_uvarint(b, e->labels.n);
        for (size_t k = 0; k < e->labels.n; k++) {
            const label_t *l = &e->labels.v[k];
            buf_put_uvarint(b, l->name_len);
            buf_append(b, l->name, l->name_len);
            buf_put_uvarint(b, l->value_len);
            buf_append(b, l->value, l->value_len);
        }
        buf_put_uvarint(b, e->niv);
        for (size_t k = 0; k < e->niv; k++) {
            buf_put_varint(b, e->iv[k].mint);
            buf_put_varint(b, e->iv[k].maxt);
            buf_put_uvarint(b, e->iv[k].wal_mark);
        }
    }
    buf_put_u32le(b, crc32c(0, b->data, b->len));
}

/* Decodes a whole file into a snapshot; NULL with a reason on any damage. */
static tomb_snap_t *decode(const uint8_t *p, size_t n, char *why, size_t why_len);

int tomb_decode(const void *p, size_t n, tomb_snap_t **out, char *why, size_t why_len)
{
    char dummy[1];
    if (!why || !why_len) {
        why = dummy;
        why_len = sizeof(dummy);
    }
    *out = (p || n == 0) ? decode(p, n, why, why_len) : NULL;
    if (!*out && !p) snprintf(why, why_len, "no bytes");
    return *out ? MS_OK : MS_ECORRUPT;
}

static tomb_snap_t *decode(const uint8_t *p, size_t n, char *why, size_t why_len)
{
    if (n < TOMB_HEADER_LEN + 4) {
        snprintf(why, why_len, "file too short (%zu bytes)", n);
        return NULL;
    }
    if (memcmp(p, TOMB_MAGIC, 4) != 0) {
        snprintf(why, why_len, "bad magic");
        return NULL;
    }
    if (p[4] != TOMB_VERSION) {
        snprintf(why, why_len, "unsupported version %u (this build reads %u)", p[4], TOMB_VERSION);
        return NULL;
    }
    cursor_t c;
    cursor_init(&c, p + n - 4, 4);
    uint32_t want = cursor_u32le(&c);
    if (crc32c(0, p, n - 4) != want) {
        snprintf(why, why_len, "checksum mismatch");
        return NULL;
    }
    cursor_init(&c, p, n - 4);
    cursor_skip(&c, 8);
    uint32_t nser = cursor_u32le(&c);
    /* every entry takes at least 5 bytes: bound allocations by what the file can hold */
    if (nser > cursor_left(&c) / 5) {
        snprintf(why, why_len, "series count %u exceeds the file", nser);
        return NULL;
    }
    ent_box_t **ents = xmalloc((nser ? nser : 1) * sizeof(*ents));
    size_t k = 0;
    label_t *ls = NULL;
    size_t capls = 0;
    tomb_iv_t *iv = NULL;
    size_t capiv = 0;
    const char *bad = NULL;
    for (uint32_t i = 0; i < nser && !bad; i++) {
        uint64_t nl = cursor_uvarint(&c);
        if (!cursor_ok(&c) || nl == 0 || nl > cursor_left(&c) / 2) {
            bad = "bad label count";
            break;
        }
        if (nl > capls) XGROW(ls, capls, (size_t)nl);
        for (uint64_t j = 0; j < nl; j++) {
            uint64_t len = cursor_uvarint(&c);
            const uint8_t *s = cursor_bytes(&c, len <= UINT32_MAX ? (size_t)len : SIZE_MAX);
            ls[j].name = (const char *)s;
            ls[j].name_len = (uint32_t)len;
            len = cursor_uvarint(&c);
            s = cursor_bytes(&c, len <= UINT32_MAX ? (size_t)len : SIZE_MAX);
            ls[j].value = (const char *)s;
            ls[j].value_len = (uint32_t)len;
        }
        uint64_t niv = cursor_uvarint(&c);
        if (!cursor_ok(&c) || niv == 0 || niv > cursor_left(&c) / 3) {
            bad = "bad interval count";
            break;
        }
        if (niv > capiv) XGROW(iv, capiv, (size_t)niv);
        for (uint64_t j = 0; j < niv; j++) {
            iv[j].mint = cursor_varint(&c);
            iv[j].maxt = cursor_varint(&c);
            uint64_t m = cursor_uvarint(&c);
            iv[j].wal_mark = m <= UINT32_MAX ? (uint32_t)m : 0;
            if (m > UINT32_MAX || iv[j].mint > iv[j].maxt || (j && iv[j].mint <= iv[j - 1].maxt)) bad = "bad interval";
        }
        if (!cursor_ok(&c)) bad = "truncated entry";
        if (bad) break;
        if (labels_validate(ls, (size_t)nl) != LABELS_OK) {
            bad = "invalid label set";
            break;
        }
        ents[k++] = box_new(ls, (size_t)nl, labels_hash(ls, (size_t)nl), iv, (size_t)niv);
    }
    if (!bad && (!cursor_ok(&c) || !cursor_done(&c))) bad = "trailing or missing bytes";
    free(ls);
    free(iv);
    tomb_snap_t *s = NULL;
    if (!bad) {
        s = snap_build(ents, k);
        for (size_t i = 0; i < k && !bad; i++) {
            const tomb_ent_t *e = &ents[i]->e;
            if (snap_index(s, e->labels.v, e->labels.n, e->hash) != (ssize_t)i) bad = "duplicate series";
        }
        if (bad) {
            snap_free(s);
            s = NULL;
        }
    } else {
        for (size_t i = 0; i < k; i++) box_put(ents[i]);
        free(ents);
    }
    if (bad) snprintf(why, why_len, "%s", bad);
    return s;
}

static int persist(tombstones_t *t, const tomb_snap_t *s)
{
    buf_t b = BUF_INIT;
    tomb_encode(s, &b);
    int fd = -1;
    int rc = fio_open(t->tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd);
    if (rc == MS_OK) rc = fio_write_all(fd, b.data, b.len, NULL);
    if (rc == MS_OK && t->sync) rc = fio_fsync(fd);
    if (fd >= 0) {
        int crc = fio_close(fd);
        if (rc == MS_OK) rc = crc;
    }
    if (rc == MS_OK) rc = fio_rename(t->tmp_path, t->path);
    if (rc == MS_OK && t->sync) rc = fio_fsync_dir(t->dir);
    if (rc != MS_OK) {
        log_error("tombstones: writing %s failed: %s (%s)", t->path, ms_strerror(rc), strerror(errno));
        unlink(t->tmp_path);
    }
    buf_free(&b);
    return rc;
}

/* Persists s and makes it current (taking over its reference); on failure frees it. */
static int publish(tombstones_t *t, tomb_snap_t *s)
{
    int rc = persist(t, s);
    if (rc != MS_OK) {
        tomb_snap_put(s);
        return rc;
    }
    if (s->n == 0) {
        tomb_snap_put(s);
        s = NULL;
    }
    pthread_mutex_lock(&t->mu);
    tomb_snap_t *old = t->cur;
    t->cur = s;
    atomic_store_explicit(&t->any, s != NULL, memory_order_release);
    pthread_mutex_unlock(&t->mu);
    tomb_snap_put(old);
    return MS_OK;
}

int tomb_open(const char *data_dir, bool sync, tombstones_t **out, char *err, size_t err_len)
{
    if (!data_dir || !out) return MS_EINVAL;
    tombstones_t *t = xcalloc(1, sizeof(*t));
    size_t dl = strlen(data_dir);
    t->dir = xstrdup(data_dir);
    t->path = xmalloc(dl + 16);
    t->tmp_path = xmalloc(dl + 20);
    snprintf(t->path, dl + 16, "%s/tombstones", data_dir);
    snprintf(t->tmp_path, dl + 20, "%s/tombstones.tmp", data_dir);
    t->sync = sync;
    pthread_mutex_init(&t->mu, NULL);
    atomic_init(&t->any, false);
    if (unlink(t->tmp_path) == 0) log_info("tombstones: removed unfinished %s", t->tmp_path);

    int fd = open(t->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *out = t;
            return MS_OK;
        }
        snprintf(err, err_len, "open %s: %s", t->path, strerror(errno));
        tomb_close(t);
        return MS_EIO;
    }
    buf_t b = BUF_INIT;
    int rc = MS_OK;
    for (;;) {
        buf_reserve(&b, 65536);
        ssize_t r = read(fd, b.data + b.len, b.cap - b.len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, err_len, "read %s: %s", t->path, strerror(errno));
            rc = MS_EIO;
            break;
        }
        if (r == 0) break;
        b.len += (size_t)r;
    }
    close(fd);
    if (rc == MS_OK) {
        char why[128];
        tomb_snap_t *s = decode(b.data, b.len, why, sizeof(why));
        if (!s) {
            snprintf(err, err_len,
                     "%s is damaged (%s); refusing to start, as ignoring it would bring deleted series back. "
                     "Restore it, or remove it to accept that (docs/format/tombstones.md)",
                     t->path, why);
            rc = MS_ECORRUPT;
        } else if (s->n == 0) {
            tomb_snap_put(s);
        } else {
            t->cur = s;
            atomic_store(&t->any, true);
            log_info("tombstones: %zu series with %llu deleted intervals loaded", s->n, (unsigned long long)s->niv);
        }
    }
    buf_free(&b);
    if (rc != MS_OK) {
        tomb_close(t);
        return rc;
    }
    *out = t;
    return MS_OK;
}

void tomb_close(tombstones_t *t)
{
    if (!t) return;
    tomb_snap_put(t->cur);
    pthread_mutex_destroy(&t->mu);
    free(t->path);
    free(t->tmp_path);
    free(t->dir);
    free(t);
}

/* ---- changes ---- */

int tomb_add(tombstones_t *t, const tomb_add_t *add, size_t nadd)
{
    if (!t || (!add && nadd)) return MS_EINVAL;
    for (size_t i = 0; i < nadd; i++)
        if (add[i].mint > add[i].maxt || !add[i].n) return MS_EINVAL;
    if (!nadd) return MS_OK;
    pthread_mutex_lock(&t->mu);
    tomb_snap_t *cur = t->cur;
    if (cur) atomic_fetch_add(&cur->refs, 1);
    pthread_mutex_unlock(&t->mu);

    /* the new entry list: the current entries (shared), then new series; changed ones are
     * replaced. A local hash table (index + 1 per slot) finds old and just-added series alike. */
    size_t n = cur ? cur->n : 0, cap = n + nadd, nslots = 8;
    while (nslots < cap * 2) nslots *= 2;
    ent_box_t **ents = xmalloc(cap * sizeof(*ents));
    uint32_t *slots = xcalloc(nslots, sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        ents[i] = cur->ents[i];
        atomic_fetch_add(&ents[i]->refs, 1);
        size_t j = (size_t)(ents[i]->e.hash ^ (ents[i]->e.hash >> 29)) & (nslots - 1);
        while (slots[j]) j = (j + 1) & (nslots - 1);
        slots[j] = (uint32_t)(i + 1);
    }
    tomb_snap_put(cur);
    tomb_iv_t *iv = NULL;
    size_t capiv = 0;
    for (size_t i = 0; i < nadd; i++) {
        const tomb_add_t *a = &add[i];
        size_t j = (size_t)(a->hash ^ (a->hash >> 29)) & (nslots - 1);
        for (; slots[j]; j = (j + 1) & (nslots - 1)) {
            const tomb_ent_t *e = &ents[slots[j] - 1]->e;
            if (e->hash == a->hash && labels_equal(e->labels.v, e->labels.n, a->ls, a->n)) break;
        }
        tomb_iv_t one = {a->mint, a->maxt, a->wal_mark};
        if (!slots[j]) {
            ents[n] = box_new(a->ls, a->n, a->hash, &one, 1);
            slots[j] = (uint32_t)(++n);
            continue;
        }
        size_t at = slots[j] - 1;
        const tomb_ent_t *e = &ents[at]->e;
        if (e->niv + 1 > capiv) XGROW(iv, capiv, e->niv + 1);
        memcpy(iv, e->iv, e->niv * sizeof(*iv));
        iv[e->niv] = one;
        size_t niv = iv_normalise(iv, e->niv + 1);
        ent_box_t *nb = box_new(e->labels.v, e->labels.n, e->hash, iv, niv);
        box_put(ents[at]);
        ents[at] = nb;
    }
    free(iv);
    free(slots);
    return publish(t, snap_build(ents, n));
}

int tomb_replace(tombstones_t *t, const tomb_ent_t *src, size_t n)
{
    if (!t || (!src && n)) return MS_EINVAL;
    ent_box_t **ents = xmalloc((n ? n : 1) * sizeof(*ents));
    size_t k = 0;
    tomb_iv_t *iv = NULL;
    size_t capiv = 0;
    for (size_t i = 0; i < n; i++) {
        if (!src[i].niv) continue;
        if (src[i].niv > capiv) XGROW(iv, capiv, src[i].niv);
        memcpy(iv, src[i].iv, src[i].niv * sizeof(*iv));
        size_t niv = iv_normalise(iv, src[i].niv);
        ents[k++] = box_new(src[i].labels.v, src[i].labels.n, src[i].hash, iv, niv);
    }
    free(iv);
    return publish(t, snap_build(ents, k));
}
