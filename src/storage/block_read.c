/* block_read.c owns reading a finished block: checking meta and the index CRC at open, mapping
 * index and chunks read-only, symbol / series / postings lookups through bounds-checked cursors,
 * and the block's implementation of the reader interface (per-querier block_view_t). */
#include "storage/bchunk.h"
#include "storage/block.h"
#include "util/alloc.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/log.h"
#include "util/status.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOC_LEN 72

struct block {
    char *dir;
    uint32_t seq;
    block_meta_t meta;
    const uint8_t *ix, *ch;
    size_t ixlen, chlen;
    uint64_t s_off, nsym, st_off, e_off, nser, et_off, p_off, npost, pt_off;
    uint64_t disk;
    _Atomic uint64_t read_errors; /* corrupt entries/chunks met by all views since open */
};

/* Decoding state handed to one thread at a time: the engine may read several series of one
 * querier from parallel threads, so a view keeps a small pool instead of one shared state. */
typedef struct vdec {
    bchunk_dec_t *dec;
    sample_vec_t scratch;
    struct vdec *next;
} vdec_t;

struct block_view {
    block_t *b;
    pthread_mutex_t mu; /* guards allocs and the pool */
    label_t **allocs;
    size_t nallocs, capallocs;
    vdec_t *pool;
    _Atomic uint64_t errors;
};

/* One parsed series entry: labels point into the mapping. */
typedef struct bentry {
    uint32_t nlabels;
    cursor_t labels; /* positioned at the label pairs */
    uint32_t nchunks;
    cursor_t chunks; /* positioned at the chunk refs */
} bentry_t;

typedef struct bchunkref {
    int64_t mint, maxt;
    uint64_t off;
} bchunkref_t;

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static int read_meta(const char *dir, block_meta_t *m, char *err, size_t err_len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/meta", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len, "open %s: %s", path, strerror(errno));
        return errno == ENOENT ? MS_ECORRUPT : MS_EIO; /* a block without meta is incomplete */
    }
    uint8_t b[BLOCK_META_LEN + 1];
    ssize_t n = read(fd, b, sizeof(b));
    close(fd);
    if (n < 0) {
        snprintf(err, err_len, "read %s: %s", path, strerror(errno));
        return MS_EIO;
    }
    if (n != BLOCK_META_LEN || memcmp(b, "MSBM", 4) != 0 || b[4] != 1 || crc32c(0, b, 60) != rd32(b + 60)) {
        snprintf(err, err_len, "%s: bad meta file", path);
        return MS_ECORRUPT;
    }
    cursor_t c;
    cursor_init(&c, b + 8, 48);
    m->mint = (int64_t)cursor_u64le(&c);
    m->maxt = (int64_t)cursor_u64le(&c);
    m->nseries = cursor_u64le(&c);
    m->nsamples = cursor_u64le(&c);
    m->nchunks = cursor_u64le(&c);
    m->index_size = cursor_u64le(&c);
    if (!cursor_ok(&c) || m->mint > m->maxt) {
        snprintf(err, err_len, "%s: bad meta values", path);
        return MS_ECORRUPT;
    }
    return MS_OK;
}

/* Maps path read-only; with want_crc, first streams the file through CRC32C (not the mapping,
 * so an open does not fault the whole index into memory) and compares it with the TOC's. */
static int map_file(const char *path, const uint8_t **p, size_t *len, bool want_crc, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len, "open %s: %s", path, strerror(errno));
        return errno == ENOENT ? MS_ECORRUPT : MS_EIO; /* a missing index or chunks file */
    }
    struct stat sb;
    int rc = MS_OK;
    if (fstat(fd, &sb) != 0 || sb.st_size < 8) {
        snprintf(err, err_len, "%s: too short", path);
        rc = MS_ECORRUPT;
    }
    if (rc == MS_OK && want_crc) {
        if (sb.st_size < TOC_LEN + 8) rc = MS_ECORRUPT;
        size_t upto = (size_t)sb.st_size - 8, done = 0;
        uint32_t crc = 0;
        uint8_t *buf = xmalloc(1u << 20);
        uint8_t tail[8];
        while (rc == MS_OK && done < upto) {
            size_t want = upto - done < (1u << 20) ? upto - done : (1u << 20);
            ssize_t k = pread(fd, buf, want, (off_t)done);
            if (k < 0) rc = MS_EIO;
            else if (k == 0) rc = MS_ECORRUPT; /* shrank under us */
            else {
                crc = crc32c(crc, buf, (size_t)k);
                done += (size_t)k;
            }
        }
        free(buf);
        if (rc == MS_OK && (pread(fd, tail, 8, (off_t)upto) != 8 || rd32(tail) != crc)) rc = MS_ECORRUPT;
        if (rc != MS_OK) snprintf(err, err_len, "%s: checksum mismatch or read error", path);
    }
    if (rc == MS_OK) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, err_len, "mmap %s: %s", path, strerror(errno));
            rc = MS_EIO;
        } else {
            *p = m;
            *len = (size_t)sb.st_size;
        }
    }
    close(fd);
    return rc;
}

static bool entry_get(const block_t *b, uint64_t id, bentry_t *e);
static bool chunk_next(const block_t *b, cursor_t *c, bchunkref_t *r);

/* A truncated chunks file loses its tail, which holds the last series' chunks: the record
 * header of the last series' last chunk must parse and the record (with its CRC) fit in the
 * file. One entry and a few header bytes, so opening stays O(1) in the block size; flipped
 * bytes elsewhere are caught per chunk by the CRC at read time. */
static bool tail_chunk_fits(const block_t *b)
{
    if (b->nser == 0) return true;
    bentry_t e;
    if (!entry_get(b, b->nser - 1, &e)) return false;
    bchunkref_t r = {0};
    for (uint32_t i = 0; i < e.nchunks; i++)
        if (!chunk_next(b, &e.chunks, &r)) return false;
    cursor_t c;
    cursor_init(&c, b->ch + r.off, b->chlen - r.off);
    cursor_u8(&c);
    uint64_t raw_len = cursor_uvarint(&c), stored_len = cursor_uvarint(&c);
    (void)raw_len;
    return cursor_ok(&c) && stored_len <= cursor_left(&c) && cursor_left(&c) - stored_len >= 4;
}

int block_open(const char *dir, uint32_t seq, block_t **out, char *err, size_t err_len)
{
    char dummy[1];
    if (!err || !err_len) {
        err = dummy;
        err_len = sizeof(dummy);
    }
    block_t *b = xcalloc(1, sizeof(*b));
    b->dir = xstrdup(dir);
    b->seq = seq;
    int rc = read_meta(dir, &b->meta, err, err_len);
    char path[PATH_MAX];
    if (rc == MS_OK) {
        snprintf(path, sizeof(path), "%s/index", dir);
        rc = map_file(path, &b->ix, &b->ixlen, true, err, err_len);
    }
    if (rc == MS_OK) {
        snprintf(path, sizeof(path), "%s/chunks", dir);
        rc = map_file(path, &b->ch, &b->chlen, false, err, err_len);
    }
    if (rc == MS_OK) {
        const uint8_t *t = b->ix + b->ixlen - TOC_LEN;
        uint64_t toc[8];
        for (int i = 0; i < 8; i++) toc[i] = rd64(t + 8 * i);
        b->s_off = toc[0], b->nsym = toc[1], b->st_off = toc[2], b->e_off = toc[3];
        b->nser = toc[4], b->et_off = toc[5], b->p_off = toc[6], b->npost = toc[7];
        uint64_t end = b->ixlen - TOC_LEN;
        bool ok = memcmp(b->ix, "MSBI", 4) == 0 && b->ix[4] == 1 && memcmp(b->ch, "MSBC", 4) == 0 && b->ch[4] == 1;
        ok = ok && b->ixlen == b->meta.index_size && b->nser == b->meta.nseries;
        ok = ok && b->nsym <= end / 4 && b->st_off <= end - b->nsym * 4;
        ok = ok && b->nser <= end / 8 && b->et_off <= end - b->nser * 8;
        ok = ok && b->npost <= end / 16 && b->p_off <= end - b->npost * 16;
        if (ok) b->pt_off = end - b->npost * 16;
        if (!ok) {
            snprintf(err, err_len, "%s: bad index or chunks header/table of contents", dir);
            rc = MS_ECORRUPT;
        }
    }
    if (rc == MS_OK && !tail_chunk_fits(b)) {
        snprintf(err, err_len, "%s: chunks file truncated (the last series' last chunk runs past its end)", dir);
        rc = MS_ECORRUPT;
    }
    if (rc != MS_OK) {
        block_close(b);
        return rc;
    }
    atomic_init(&b->read_errors, 0);
    b->disk = b->ixlen + b->chlen + BLOCK_META_LEN;
    *out = b;
    return MS_OK;
}

void block_close(block_t *b)
{
    if (!b) return;
    if (b->ix) munmap((void *)b->ix, b->ixlen);
    if (b->ch) munmap((void *)b->ch, b->chlen);
    free(b->dir);
    free(b);
}

const block_meta_t *block_meta(const block_t *b) { return &b->meta; }
uint32_t block_seq(const block_t *b) { return b->seq; }
const char *block_dir(const block_t *b) { return b->dir; }
uint64_t block_disk_bytes(const block_t *b) { return b->disk; }

/* ---- lookups ---- */

static bool sym_get(const block_t *b, uint64_t id, const char **s, uint32_t *len)
{
    if (id >= b->nsym) return false;
    uint64_t off = rd32(b->ix + b->st_off + 4 * id);
    if (off >= b->ixlen) return false;
    cursor_t c;
    cursor_init(&c, b->ix + off, b->ixlen - off);
    uint64_t n = cursor_uvarint(&c);
    if (!cursor_ok(&c) || n >= UINT32_MAX || n + 1 > cursor_left(&c)) return false;
    const uint8_t *p = cursor_bytes(&c, (size_t)n + 1);
    if (!p || p[n] != 0) return false;
    *s = (const char *)p;
    *len = (uint32_t)n;
    return true;
}

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

/* Symbol id of a string, or -1. */
static int64_t sym_find(const block_t *b, const char *s, size_t n)
{
    uint64_t lo = 0, hi = b->nsym;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const char *x;
        uint32_t xl;
        if (!sym_get(b, mid, &x, &xl)) return -1;
        int c = bytes_cmp(x, xl, s, n);
        if (c == 0) return (int64_t)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static void prow(const block_t *b, uint64_t i, uint32_t *name, uint32_t *value, uint64_t *off)
{
    const uint8_t *p = b->ix + b->pt_off + 16 * i;
    *name = rd32(p);
    *value = rd32(p + 4);
    *off = rd64(p + 8);
}

/* Rows [*lo, *hi) of the postings table for label name id. */
static void prows_for_name(const block_t *b, uint32_t name, uint64_t *lo_out, uint64_t *hi_out)
{
    uint64_t lo = 0, hi = b->npost;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint32_t n, v;
        uint64_t o;
        prow(b, mid, &n, &v, &o);
        if (n < name) lo = mid + 1;
        else hi = mid;
    }
    uint64_t first = lo;
    hi = b->npost;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint32_t n, v;
        uint64_t o;
        prow(b, mid, &n, &v, &o);
        if (n <= name) lo = mid + 1;
        else hi = mid;
    }
    *lo_out = first;
    *hi_out = lo;
}

typedef struct idset {
    uint32_t *v;
    size_t n, cap;
} idset_t;

static void idset_push(idset_t *s, uint32_t x)
{
    if (s->n == s->cap) XGROW(s->v, s->cap, s->n + 1);
    s->v[s->n++] = x;
}

/* Appends the postings list at off to out (unsorted across calls). False if corrupt. */
static bool postings_read(const block_t *b, uint64_t off, idset_t *out)
{
    if (off < b->p_off || off >= b->pt_off) return false;
    cursor_t c;
    cursor_init(&c, b->ix + off, b->pt_off - off);
    uint64_t n = cursor_uvarint(&c), id = 0;
    if (n > b->nser) return false;
    for (uint64_t i = 0; i < n && cursor_ok(&c); i++) {
        uint64_t d = cursor_uvarint(&c);
        if (i > 0 && d == 0) cursor_fail(&c);
        id += d;
        if (id >= b->nser) cursor_fail(&c);
        else idset_push(out, (uint32_t)id);
    }
    return cursor_ok(&c);
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void idset_sort_uniq(idset_t *s)
{
    if (s->n > 1) qsort(s->v, s->n, sizeof(uint32_t), u32_cmp);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (k == 0 || s->v[k - 1] != s->v[i]) s->v[k++] = s->v[i];
    s->n = k;
}


static bool entry_get(const block_t *b, uint64_t id, bentry_t *e)
{
    if (id >= b->nser) return false;
    uint64_t off = rd64(b->ix + b->et_off + 8 * id);
    if (off < b->e_off || off >= b->et_off) return false;
    cursor_t c;
    cursor_init(&c, b->ix + off, b->et_off - off);
    uint64_t nl = cursor_uvarint(&c);
    if (!cursor_ok(&c) || nl == 0 || nl > 10000) return false;
    e->nlabels = (uint32_t)nl;
    e->labels = c;
    for (uint64_t i = 0; i < 2 * nl; i++) cursor_uvarint(&c);
    uint64_t nc = cursor_uvarint(&c);
    if (!cursor_ok(&c) || nc == 0 || nc > b->meta.nchunks) return false;
    e->nchunks = (uint32_t)nc;
    e->chunks = c;
    return true;
}

static bool entry_labels(const block_t *b, bentry_t *e, label_t *out)
{
    cursor_t c = e->labels;
    for (uint32_t i = 0; i < e->nlabels; i++) {
        uint64_t ni = cursor_uvarint(&c), vi = cursor_uvarint(&c);
        if (!cursor_ok(&c) || !sym_get(b, ni, &out[i].name, &out[i].name_len) ||
            !sym_get(b, vi, &out[i].value, &out[i].value_len))
            return false;
    }
    return true;
}


static bool chunk_next(const block_t *b, cursor_t *c, bchunkref_t *r)
{
    r->mint = cursor_varint(c);
    uint64_t d = cursor_uvarint(c);
    r->maxt = (int64_t)((uint64_t)r->mint + d);
    r->off = cursor_uvarint(c);
    return cursor_ok(c) && r->maxt >= r->mint && r->off >= 8 && r->off < b->chlen;
}

static void view_error(block_view_t *v, const char *what, uint64_t id)
{
    atomic_fetch_add(&v->b->read_errors, 1);
    if (atomic_fetch_add(&v->errors, 1) == 0) log_warn("block %s: corrupt %s (series %llu); reading it as empty", v->b->dir, what,
                                   (unsigned long long)id);
}

static vdec_t *vdec_get(block_view_t *v)
{
    pthread_mutex_lock(&v->mu);
    vdec_t *d = v->pool;
    if (d) v->pool = d->next;
    pthread_mutex_unlock(&v->mu);
    if (!d) {
        d = xcalloc(1, sizeof(*d));
        d->dec = bchunk_dec_new();
    }
    return d;
}

static void vdec_put(block_view_t *v, vdec_t *d)
{
    pthread_mutex_lock(&v->mu);
    d->next = v->pool;
    v->pool = d;
    pthread_mutex_unlock(&v->mu);
}

/* Does series id hold a sample in [mint, maxt]? */
static bool series_in_range(block_view_t *v, uint64_t id, int64_t mint, int64_t maxt)
{
    const block_t *b = v->b;
    bentry_t e;
    if (!entry_get(b, id, &e)) {
        view_error(v, "series entry", id);
        return false;
    }
    for (uint32_t i = 0; i < e.nchunks; i++) {
        bchunkref_t r;
        if (!chunk_next(b, &e.chunks, &r)) {
            view_error(v, "chunk reference", id);
            return false;
        }
        if (r.maxt < mint || r.mint > maxt) continue;
        if (r.mint >= mint || r.maxt <= maxt) return true;
        vdec_t *d = vdec_get(v);
        d->scratch.n = 0;
        if (bchunk_decode(d->dec, b->ch + r.off, b->chlen - r.off, mint, maxt, &d->scratch) != MS_OK)
            view_error(v, "chunk", id);
        bool any = d->scratch.n > 0;
        vdec_put(v, d);
        if (any) return true;
    }
    return false;
}

/* ---- the reader interface ---- */

block_view_t *block_view_new(block_t *b)
{
    block_view_t *v = xcalloc(1, sizeof(*v));
    v->b = b;
    pthread_mutex_init(&v->mu, NULL);
    atomic_init(&v->errors, 0);
    return v;
}

void block_view_free(block_view_t *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->nallocs; i++) free(v->allocs[i]);
    free(v->allocs);
    while (v->pool) {
        vdec_t *d = v->pool;
        v->pool = d->next;
        bchunk_dec_free(d->dec);
        sample_vec_free(&d->scratch);
        free(d);
    }
    pthread_mutex_destroy(&v->mu);
    free(v);
}

uint64_t block_read_errors(const block_t *b) { return atomic_load(&((block_t *)b)->read_errors); }

uint64_t block_view_errors(const block_view_t *v) { return v ? atomic_load(&((block_view_t *)v)->errors) : 0; }

static bool range_covers_block(const block_t *b, int64_t mint, int64_t maxt)
{
    return mint <= b->meta.mint && maxt >= b->meta.maxt;
}

/* Series ids matching one matcher, sorted; *all set when it places no constraint. */
static void match_one(block_view_t *v, const matcher_t *m, idset_t *out, bool *all)
{
    const block_t *b = v->b;
    *all = false;
    int64_t nid = sym_find(b, m->name, m->name_len);
    if (nid < 0) {
        *all = m->matches_empty; /* no series has the label: all or nothing */
        return;
    }
    uint64_t lo, hi;
    prows_for_name(b, (uint32_t)nid, &lo, &hi);
    idset_t excl = {0};
    for (uint64_t i = lo; i < hi; i++) {
        uint32_t n, vid;
        uint64_t off;
        prow(b, i, &n, &vid, &off);
        const char *s;
        uint32_t sl;
        if (!sym_get(b, vid, &s, &sl)) {
            view_error(v, "postings symbol", i);
            continue;
        }
        bool hit = matcher_matches(m, s, sl);
        /* matches_empty: the result is every series except those with a non-matching value */
        idset_t *dst = m->matches_empty ? (hit ? NULL : &excl) : (hit ? out : NULL);
        if (dst && !postings_read(b, off, dst)) view_error(v, "postings list", i);
    }
    if (m->matches_empty) {
        idset_sort_uniq(&excl);
        size_t k = 0;
        for (uint64_t id = 0; id < b->nser; id++) {
            while (k < excl.n && excl.v[k] < id) k++;
            if (k < excl.n && excl.v[k] == id) continue;
            idset_push(out, (uint32_t)id);
        }
        free(excl.v);
    } else {
        idset_sort_uniq(out);
    }
}

static void block_select(void *self, const matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt, rs_vec_t *out)
{
    block_view_t *v = self;
    const block_t *b = v->b;
    if (maxt < b->meta.mint || mint > b->meta.maxt) return;
    idset_t cur = {0};
    bool cur_all = true;
    for (size_t i = 0; i < n; i++) {
        idset_t s = {0};
        bool all;
        match_one(v, ms[i], &s, &all);
        if (all) {
            free(s.v);
            continue;
        }
        if (cur_all) {
            cur = s;
            cur_all = false;
        } else {
            size_t a = 0, c = 0, k = 0;
            while (a < cur.n && c < s.n) {
                if (cur.v[a] < s.v[c]) a++;
                else if (cur.v[a] > s.v[c]) c++;
                else {
                    cur.v[k++] = cur.v[a];
                    a++;
                    c++;
                }
            }
            cur.n = k;
            free(s.v);
        }
        if (!cur_all && cur.n == 0) break;
    }
    if (cur_all)
        for (uint64_t id = 0; id < b->nser; id++) idset_push(&cur, (uint32_t)id);
    bool covers = range_covers_block(b, mint, maxt);
    for (size_t i = 0; i < cur.n; i++) {
        uint32_t id = cur.v[i];
        bentry_t e;
        if (!entry_get(b, id, &e)) {
            view_error(v, "series entry", id);
            continue;
        }
        if (!covers && !series_in_range(v, id, mint, maxt)) continue;
        label_t *ls = xmalloc(e.nlabels * sizeof(label_t));
        /* sorted, unique, UTF-8 as ingestion guarantees: anything else is damage (behind a
         * valid CRC only through a writer bug), kept away from the querier and PromQL */
        if (!entry_labels(b, &e, ls) || labels_validate(ls, e.nlabels) != LABELS_OK) {
            free(ls);
            view_error(v, "series labels", id);
            continue;
        }
        pthread_mutex_lock(&v->mu);
        if (v->nallocs == v->capallocs) XGROW(v->allocs, v->capallocs, v->nallocs + 1);
        v->allocs[v->nallocs++] = ls;
        pthread_mutex_unlock(&v->mu);
        if (out->n == out->cap) XGROW(out->v, out->cap, out->n + 1);
        out->v[out->n++] = (reader_series_t){{ls, e.nlabels}, (void *)(uintptr_t)(id + 1), 0};
    }
    free(cur.v);
}

static void block_samples(void *self, void *h, int64_t mint, int64_t maxt, sample_vec_t *out)
{
    block_view_t *v = self;
    const block_t *b = v->b;
    uint64_t id = (uint64_t)(uintptr_t)h - 1;
    bentry_t e;
    if (!entry_get(b, id, &e)) {
        view_error(v, "series entry", id);
        return;
    }
    vdec_t *d = NULL;
    for (uint32_t i = 0; i < e.nchunks; i++) {
        bchunkref_t r;
        if (!chunk_next(b, &e.chunks, &r)) {
            view_error(v, "chunk reference", id);
            break;
        }
        if (r.maxt < mint) continue;
        if (r.mint > maxt) break;
        if (!d) d = vdec_get(v);
        if (bchunk_decode(d->dec, b->ch + r.off, b->chlen - r.off, mint, maxt, out) != MS_OK) view_error(v, "chunk", id);
    }
    if (d) vdec_put(v, d);
}

/* Does any series of the postings list at off hold data in range? */
static bool postings_any(block_view_t *v, uint64_t off, int64_t mint, int64_t maxt)
{
    idset_t s = {0};
    bool any = false;
    if (!postings_read(v->b, off, &s)) view_error(v, "postings list", 0);
    for (size_t i = 0; i < s.n && !any; i++) any = series_in_range(v, s.v[i], mint, maxt);
    free(s.v);
    return any;
}

static void block_label_names(void *self, int64_t mint, int64_t maxt, str_vec_t *out)
{
    block_view_t *v = self;
    const block_t *b = v->b;
    if (maxt < b->meta.mint || mint > b->meta.maxt) return;
    bool covers = range_covers_block(b, mint, maxt);
    uint32_t done = UINT32_MAX;
    for (uint64_t i = 0; i < b->npost; i++) {
        uint32_t n, vid;
        uint64_t off;
        prow(b, i, &n, &vid, &off);
        if (n == done) continue;
        if (!covers && !postings_any(v, off, mint, maxt)) continue;
        const char *s;
        uint32_t sl;
        if (!sym_get(b, n, &s, &sl)) {
            view_error(v, "label name symbol", i);
            continue;
        }
        str_vec_push(out, s, sl);
        done = n;
    }
}

static void block_label_values(void *self, const char *name, size_t len, int64_t mint, int64_t maxt, str_vec_t *out)
{
    block_view_t *v = self;
    const block_t *b = v->b;
    if (maxt < b->meta.mint || mint > b->meta.maxt) return;
    int64_t nid = sym_find(b, name, len);
    if (nid < 0) return;
    bool covers = range_covers_block(b, mint, maxt);
    uint64_t lo, hi;
    prows_for_name(b, (uint32_t)nid, &lo, &hi);
    for (uint64_t i = lo; i < hi; i++) {
        uint32_t n, vid;
        uint64_t off;
        prow(b, i, &n, &vid, &off);
        if (!covers && !postings_any(v, off, mint, maxt)) continue;
        const char *s;
        uint32_t sl;
        if (!sym_get(b, vid, &s, &sl)) {
            view_error(v, "label value symbol", i);
            continue;
        }
        str_vec_push(out, s, sl);
    }
}

const reader_ops_t block_reader_ops = {block_select, block_samples, block_label_names, block_label_values};
