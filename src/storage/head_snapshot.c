/* head_snapshot.c owns the head snapshot: at a clean close the head (series, refs, chunks with
 * their encoder state), the metadata and the WAL's segment list are written to
 * <data_dir>/head.snapshot, and the next open loads it instead of replaying the WAL when the WAL
 * is byte for byte what the snapshot describes. The WAL stays the source of truth: the file is
 * deleted once loaded (and ignored whenever anything about the WAL differs), so a crash after a
 * restart replays the WAL as always. Format: docs/format/snapshot.md.
 *
 * Why: replay re-encodes every sample of the head window into Gorilla chunks (9.6M samples:
 * ~0.4 s on 2 cores, growing with the head); loading copies the encoded chunks (Prometheus has
 * the same idea behind --enable-feature=memory-snapshot-on-shutdown). */
#include "storage/head_snapshot.h"
#include "model/labels.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/fio.h"
#include "util/log.h"
#include "util/mapread.h"
#include "util/status.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t SNAP_MAGIC[4] = {'M', 'S', 'H', 'S'};
#define SNAP_VERSION 1
#define SNAP_HEADER_LEN 8
#define SNAP_TRAILER_LEN 12 /* u64le payload length, u32le CRC32C of everything before it */
#define SNAP_FLUSH_AT (1u << 20)
#define SNAP_WAL_LOGGED 1u

static void snap_path(const db_t *db, const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s/head.snapshot%s", db->data_dir, suffix);
}

/* ---- writing ---- */

typedef struct snap_writer {
    int fd;
    buf_t b;
    uint32_t crc;
    uint64_t written; /* bytes flushed to fd */
    int rc;
} snap_writer_t;

static void sw_flush(snap_writer_t *w)
{
    if (w->rc != MS_OK || !w->b.len) {
        w->b.len = 0;
        return;
    }
    w->crc = crc32c(w->crc, w->b.data, w->b.len);
    w->rc = fio_write_all(w->fd, w->b.data, w->b.len, NULL);
    w->written += w->b.len;
    w->b.len = 0;
}

static void sw_bytes(snap_writer_t *w, const void *p, size_t n)
{
    buf_put_uvarint(&w->b, n);
    buf_append(&w->b, p, n);
}

typedef struct series_list {
    series_t **v;
    size_t n, cap;
} series_list_t;

static void collect_fn(series_t *s, void *arg)
{
    series_list_t *l = arg;
    if (s->nchunks == 0) return; /* no data (a refused batch's series): replay would drop it too */
    if (l->n == l->cap) XGROW(l->v, l->cap, l->n + 1);
    l->v[l->n++] = s;
}

static int by_ref(const void *a, const void *b)
{
    uint64_t x = (*(series_t *const *)a)->ref, y = (*(series_t *const *)b)->ref;
    return x < y ? -1 : x > y;
}

static void put_series(snap_writer_t *w, series_t *s)
{
    buf_put_uvarint(&w->b, s->ref);
    buf_putc(&w->b, (char)(atomic_load(&s->wal_logged) ? SNAP_WAL_LOGGED : 0));
    buf_put_uvarint(&w->b, s->nlabels);
    for (uint32_t i = 0; i < s->nlabels; i++) {
        sw_bytes(w, s->labels[i].name, s->labels[i].name_len);
        sw_bytes(w, s->labels[i].value, s->labels[i].value_len);
    }
    pthread_mutex_lock(&s->mu);
    buf_put_uvarint(&w->b, s->nchunks);
    for (uint32_t i = 0; i < s->nchunks; i++) {
        const xor_chunk_t *c = &s->chunks[i];
        buf_put_uvarint(&w->b, c->n);
        buf_put_varint(&w->b, c->mint);
        buf_put_varint(&w->b, c->maxt);
        buf_put_uvarint(&w->b, c->tdelta);
        buf_put_u64le(&w->b, c->vbits);
        buf_putc(&w->b, (char)c->leading);
        buf_putc(&w->b, (char)c->trailing);
        buf_put_uvarint(&w->b, c->nbits);
        buf_append(&w->b, c->b, chunk_bytes(c));
        if (w->b.len >= SNAP_FLUSH_AT) sw_flush(w);
    }
    pthread_mutex_unlock(&s->mu);
    if (w->b.len >= SNAP_FLUSH_AT) sw_flush(w);
}

int head_snapshot_write(db_t *db, const wal_seg_state_t *segs, size_t nsegs)
{
    int64_t t0 = clock_mono_ns();
    char tmp[PATH_MAX], final[PATH_MAX];
    snap_path(db, ".tmp", tmp, sizeof(tmp));
    snap_path(db, "", final, sizeof(final));
    snap_writer_t w = {.fd = -1, .b = BUF_INIT, .rc = MS_OK};
    w.rc = fio_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, &w.fd);
    if (w.rc != MS_OK) {
        log_warn("head snapshot: cannot create %s: %s (the next start replays the WAL)", tmp, strerror(errno));
        return w.rc;
    }
    buf_append(&w.b, SNAP_MAGIC, sizeof(SNAP_MAGIC));
    const uint8_t ver[4] = {SNAP_VERSION, 0, 0, 0};
    buf_append(&w.b, ver, sizeof(ver));
    size_t payload_start = w.b.len;
    buf_put_varint(&w.b, clock_now_ms());
    buf_put_uvarint(&w.b, atomic_load(&db->head.next_ref));
    buf_put_uvarint(&w.b, nsegs);
    for (size_t i = 0; i < nsegs; i++) {
        buf_put_uvarint(&w.b, segs[i].idx);
        buf_put_uvarint(&w.b, segs[i].size);
        buf_put_varint(&w.b, segs[i].maxt);
        buf_put_u32le(&w.b, segs[i].crc);
    }
    pthread_mutex_lock(&db->meta_mu);
    buf_put_uvarint(&w.b, db->meta.n);
    for (size_t i = 0; i < db->meta.cap; i++) {
        if (!db->meta.e[i].k) continue;
        const meta_entry_t *e = db->meta.e[i].v;
        sw_bytes(&w, e->metric, strlen(e->metric));
        sw_bytes(&w, e->type, strlen(e->type));
        sw_bytes(&w, e->help, strlen(e->help));
        sw_bytes(&w, e->unit, strlen(e->unit));
    }
    pthread_mutex_unlock(&db->meta_mu);
    series_list_t l = {0};
    head_each(&db->head, collect_fn, &l);
    if (l.n > 1) qsort(l.v, l.n, sizeof(series_t *), by_ref); /* loading in ref order: cheap postings appends */
    buf_put_uvarint(&w.b, l.n);
    uint64_t nchunks = 0;
    for (size_t i = 0; i < l.n; i++) {
        nchunks += l.v[i]->nchunks;
        put_series(&w, l.v[i]);
    }
    free(l.v);
    uint64_t payload_len = w.written + w.b.len - payload_start;
    buf_put_u64le(&w.b, payload_len);
    /* the CRC covers everything up to here; sw_flush folds the buffer into it */
    sw_flush(&w);
    uint8_t crc[4] = {(uint8_t)w.crc, (uint8_t)(w.crc >> 8), (uint8_t)(w.crc >> 16), (uint8_t)(w.crc >> 24)};
    if (w.rc == MS_OK) w.rc = fio_write_all(w.fd, crc, sizeof(crc), NULL);
    bool sync = db->opts.wal_fsync != WAL_FSYNC_NEVER;
    if (w.rc == MS_OK && sync) w.rc = fio_fsync(w.fd);
    close(w.fd);
    buf_free(&w.b);
    if (w.rc == MS_OK) w.rc = fio_rename(tmp, final);
    if (w.rc == MS_OK && sync) w.rc = fio_fsync_dir(db->data_dir);
    if (w.rc != MS_OK) {
        log_warn("head snapshot: writing %s failed: %s (the next start replays the WAL)", final, strerror(errno));
        unlink(tmp);
        return w.rc;
    }
    log_info("head snapshot: %zu series, %llu chunks, %llu bytes written in %lld ms", l.n,
             (unsigned long long)nchunks, (unsigned long long)(w.written + sizeof(crc)),
             (long long)((clock_mono_ns() - t0) / 1000000));
    return MS_OK;
}

/* ---- loading ---- */

typedef struct snap_file {
    const uint8_t *p;
    size_t len;
} snap_file_t;

/* Maps path and checks its framing and CRC; the payload is then [p + 8, p + len - 12). */
static int map_checked(const char *path, snap_file_t *f, const char **why)
{
    int fd;
    if (fio_open(path, O_RDONLY | O_CLOEXEC, 0, &fd) != MS_OK) {
        *why = errno == ENOENT ? NULL : "cannot open it";
        return errno == ENOENT ? MS_ENOENT : MS_EIO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < SNAP_HEADER_LEN + SNAP_TRAILER_LEN) {
        close(fd);
        *why = "too short";
        return MS_ECORRUPT;
    }
    size_t len = (size_t)sb.st_size;
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        *why = "cannot map it";
        return MS_EIO;
    }
    const uint8_t *p = m;
    cursor_t c;
    cursor_init(&c, p + len - SNAP_TRAILER_LEN, SNAP_TRAILER_LEN);
    uint64_t plen = cursor_u64le(&c);
    uint32_t crc = cursor_u32le(&c);
    if (memcmp(p, SNAP_MAGIC, 4) != 0 || p[4] != SNAP_VERSION || p[5] || p[6] || p[7])
        *why = "bad header";
    else if (plen != len - SNAP_HEADER_LEN - SNAP_TRAILER_LEN)
        *why = "length mismatch (truncated?)";
    else if (mapread_crc32c(p, len - 4, true) != crc)
        *why = "checksum mismatch";
    else
        *why = NULL;
    if (*why) {
        munmap(m, len);
        return MS_ECORRUPT;
    }
    f->p = p;
    f->len = len;
    return MS_OK;
}

static bool get_bytes(cursor_t *c, const char **s, size_t *n)
{
    uint64_t l = cursor_uvarint(c);
    if (l > cursor_left(c)) {
        cursor_fail(c);
        return false;
    }
    *n = (size_t)l;
    *s = (const char *)cursor_bytes(c, *n);
    return cursor_ok(c);
}

/* Reads one series and adds it to the head. Returns NULL on success, else why not. */
static const char *load_series(db_t *db, cursor_t *c, label_t **lbuf, size_t *lcap, int64_t *mint, int64_t *maxt,
                               uint64_t *nchunks_total, uint64_t *prev_ref)
{
    head_t *h = &db->head;
    uint64_t ref = cursor_uvarint(c);
    uint8_t flags = cursor_u8(c);
    uint64_t nl = cursor_uvarint(c);
    if (!cursor_ok(c) || ref == 0 || nl == 0 || nl > cursor_left(c) / 2) return "bad series header";
    if (ref <= *prev_ref) return "series refs not strictly increasing";
    *prev_ref = ref;
    if (nl > *lcap) {
        free(*lbuf);
        *lcap = (size_t)nl;
        *lbuf = xmalloc(*lcap * sizeof(label_t));
    }
    label_t *ls = *lbuf;
    for (size_t i = 0; i < nl; i++) {
        const char *nm, *vl;
        size_t nn, vn;
        if (!get_bytes(c, &nm, &nn) || !get_bytes(c, &vl, &vn)) return "truncated labels";
        ls[i] = (label_t){nm, vl, nn, vn};
    }
    if (labels_validate(ls, nl) != LABELS_OK) return "invalid label set";
    uint64_t nc = cursor_uvarint(c);
    if (!cursor_ok(c) || nc == 0 || nc > cursor_left(c) / 16) return "bad chunk count";
    bool created;
    series_t *s = head_get_or_create(h, ls, nl, labels_hash(ls, nl), ref, &created);
    if (!created) return "a label set appears twice";
    if (flags & SNAP_WAL_LOGGED) atomic_store(&s->wal_logged, true);
    s->chunks = xcalloc((size_t)nc, sizeof(xor_chunk_t));
    s->capchunks = (uint32_t)nc;
    int64_t bytes = (int64_t)(nc * sizeof(xor_chunk_t));
    for (size_t i = 0; i < nc; i++) {
        xor_chunk_t *ch = &s->chunks[i];
        uint64_t n = cursor_uvarint(c);
        int64_t lo = cursor_varint(c), hi = cursor_varint(c);
        uint64_t td = cursor_uvarint(c), vb = cursor_u64le(c);
        uint8_t lead = cursor_u8(c), trail = cursor_u8(c);
        uint64_t nbits = cursor_uvarint(c);
        /* the encoder never stores a window wider than its 5-bit leading field or 63 trailing
         * zeros; a single sample has none */
        if (!cursor_ok(c) || n == 0 || n > CHUNK_MAX_SAMPLES || lo > hi || (n == 1 && lo != hi) || nbits == 0 ||
            nbits > UINT32_MAX || (nbits + 7) / 8 > cursor_left(c) || lead > 31 || trail > 63)
            return "bad chunk";
        if (i > 0 && lo <= s->chunks[i - 1].maxt) return "chunks overlap or are out of order";
        size_t nb = (size_t)((nbits + 7) / 8);
        const uint8_t *bits = c->p; /* the stream's bytes; the bits past nbits must be zero */
        if ((nbits & 7) && (bits[nb - 1] & (0xFFu >> (nbits & 7)))) return "stray bits after a chunk's stream";
        *ch = (xor_chunk_t){.b = xmalloc(nb), .nbits = (uint32_t)nbits, .cap = (uint32_t)nb, .n = (uint16_t)n,
                            .leading = lead, .trailing = trail, .mint = lo, .maxt = hi, .tdelta = td, .vbits = vb};
        memcpy(ch->b, cursor_bytes(c, nb), nb);
        s->nchunks++; /* counted as it is filled: a failure below frees exactly these */
        bytes += (int64_t)nb;
    }
    atomic_fetch_add(&h->mem, bytes);
    atomic_fetch_add(&h->nchunks, (int64_t)nc);
    *nchunks_total += nc;
    if (s->chunks[0].mint < *mint) *mint = s->chunks[0].mint;
    if (s->chunks[nc - 1].maxt > *maxt) *maxt = s->chunks[nc - 1].maxt;
    return NULL;
}

/* Does the WAL directory hold exactly the segments (numbers and sizes) the snapshot lists? */
static const char *wal_matches(const char *wdir, const wal_seg_state_t *want, size_t nwant)
{
    wal_seg_state_t *have;
    size_t nhave;
    int rc = wal_list_dir(wdir, false, &have, &nhave);
    const char *why = NULL;
    if (rc != MS_OK) why = "the WAL directory cannot be listed";
    else if (nhave != nwant) why = "the WAL has other segments than at the snapshot";
    for (size_t i = 0; !why && i < nwant; i++)
        if (have[i].idx != want[i].idx || have[i].size != want[i].size)
            why = "a WAL segment changed size after the snapshot";
    free(have);
    if (why) return why;
    /* same names and sizes: now every byte (a damaged record must be found and reported by
     * replay, not hidden behind a snapshot) */
    rc = wal_list_dir(wdir, true, &have, &nhave);
    if (rc != MS_OK || nhave != nwant) why = "the WAL directory cannot be read";
    for (size_t i = 0; !why && i < nwant; i++)
        if (have[i].crc != want[i].crc) why = "a WAL segment's bytes changed after the snapshot";
    free(have);
    return why;
}

/* Empties the head and metadata again after a load that failed midway. */
static void discard_partial(db_t *db)
{
    head_destroy(&db->head);
    head_init(&db->head);
    db_meta_free_all(db);
    memset(&db->meta, 0, sizeof(db->meta));
}

int head_snapshot_load(db_t *db, const char *wdir, wal_seg_state_t **segs_out, size_t *nsegs_out)
{
    int64_t t0 = clock_mono_ns();
    *segs_out = NULL;
    *nsegs_out = 0;
    char path[PATH_MAX], tmp[PATH_MAX];
    snap_path(db, "", path, sizeof(path));
    snap_path(db, ".tmp", tmp, sizeof(tmp));
    unlink(tmp); /* a close that died while writing */
    snap_file_t f;
    const char *why = NULL;
    int rc = map_checked(path, &f, &why);
    if (rc == MS_ENOENT) return MS_ENOENT;
    wal_seg_state_t *segs = NULL;
    uint64_t nsegs = 0, nseries = 0, nchunks = 0;
    if (rc == MS_OK) {
        cursor_t c;
        cursor_init(&c, f.p + SNAP_HEADER_LEN, f.len - SNAP_HEADER_LEN - SNAP_TRAILER_LEN);
        (void)cursor_varint(&c); /* written at */
        uint64_t next_ref = cursor_uvarint(&c);
        nsegs = cursor_uvarint(&c);
        if (!cursor_ok(&c) || nsegs > cursor_left(&c) / 7) why = "bad WAL list";
        if (!why) {
            segs = xcalloc(nsegs ? (size_t)nsegs : 1, sizeof(wal_seg_state_t));
            for (size_t i = 0; i < nsegs; i++) {
                uint64_t idx = cursor_uvarint(&c), size = cursor_uvarint(&c);
                int64_t mx = cursor_varint(&c);
                uint32_t crc = cursor_u32le(&c);
                if (idx == 0 || idx > UINT32_MAX || (i > 0 && idx <= segs[i - 1].idx)) why = "bad WAL list";
                segs[i] = (wal_seg_state_t){(uint32_t)idx, mx, size, crc};
            }
            if (!cursor_ok(&c)) why = "bad WAL list";
        }
        if (!why) why = wal_matches(wdir, segs, (size_t)nsegs);
        uint64_t nmeta = why ? 0 : cursor_uvarint(&c);
        for (size_t i = 0; !why && i < nmeta; i++) {
            const char *s[4];
            size_t n[4];
            for (int k = 0; k < 4 && !why; k++)
                if (!get_bytes(&c, &s[k], &n[k])) why = "truncated metadata";
            if (!why && n[0] == 0) why = "metadata without a metric name";
            if (!why) db_meta_set(db, s[0], n[0], s[1], n[1], s[2], n[2], s[3], n[3]);
        }
        nseries = why ? 0 : cursor_uvarint(&c);
        if (!cursor_ok(&c)) why = "truncated";
        int64_t mint = INT64_MAX, maxt = INT64_MIN;
        label_t *lbuf = NULL;
        size_t lcap = 0;
        mapread_t win;
        mapread_init(&win, f.p, f.len, true);
        uint64_t prev_ref = 0;
        for (size_t i = 0; !why && i < nseries; i++) {
            mapread_at(&win, c.p);
            why = load_series(db, &c, &lbuf, &lcap, &mint, &maxt, &nchunks, &prev_ref);
        }
        free(lbuf);
        if (!why && !cursor_done(&c)) why = "trailing bytes";
        if (!why) {
            uint64_t cur = atomic_load(&db->head.next_ref);
            if (next_ref > cur) atomic_store(&db->head.next_ref, next_ref);
            if (nseries) db_note_samples(db, mint, maxt);
        } else {
            discard_partial(db);
        }
        munmap((void *)f.p, f.len);
    }
    /* loaded or not, the file has served: the WAL (plus anything appended from now on) is what
     * a later start must read */
    if (unlink(path) == 0) fio_fsync_dir(db->data_dir);
    if (why) {
        log_warn("head snapshot %s ignored (%s): replaying the WAL instead", path, why);
        free(segs);
        return MS_ECORRUPT;
    }
    db->replay_ms = (uint64_t)((clock_mono_ns() - t0) / 1000000);
    db->snapshot_loaded = true;
    log_info("head snapshot: loaded %llu series, %llu chunks in %llu ms; the WAL (%llu segments) is as it "
             "describes, so it is not replayed",
             (unsigned long long)nseries, (unsigned long long)nchunks, (unsigned long long)db->replay_ms,
             (unsigned long long)nsegs);
    *segs_out = segs;
    *nsegs_out = (size_t)nsegs;
    return MS_OK;
}
