/* fuzz_head_snapshot.c is the libFuzzer target for loading a head snapshot (head_snapshot.c)
 * from damaged or hostile bytes: the input becomes <data_dir>/head.snapshot of a data dir with an
 * empty WAL, db_open loads it (or refuses it and replays nothing), the head is read back in full,
 * one sample is appended to every loaded series (the encoder resumes from the loaded chunk
 * state), and the db is closed (writing a snapshot of its own). Nothing may crash, hang or leak.
 *
 * Input: byte 0 is a mode. Mode bit 0 clear: the rest is the file as is (header, length and CRC
 * checks). Bit 0 set: the rest is the payload after an empty WAL list, framed here with a valid
 * header, length and CRC, so mutations reach the metadata, series and chunk decoding. */
#include "fuzz_db.h"
#include "storage/storage.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/log.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char root[64];
static char wal_dir[96];
static char snap_path[96];

static void write_snapshot(const uint8_t *p, size_t n)
{
    FILE *f = fopen(snap_path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

/* Appends one sample after each loaded series' newest one (at most 64 series). */
static void append_to_each(db_t *db)
{
    querier_t *q = NULL;
    if (db_querier(db, INT64_MIN, INT64_MAX, &q) != 0) abort();
    matcher_t *m = NULL;
    char err[128];
    if (matcher_new(MATCH_RE, "__name__", 8, ".*", 2, &m, err, sizeof err) != 0) abort();
    const matcher_t *ms[1] = {m};
    series_set_t *ss = NULL;
    appender_t *a = NULL;
    if (querier_select(q, ms, 1, &ss) == 0 && db_appender(db, &a) == 0) {
        sample_vec_t sv = {NULL, 0, 0};
        for (size_t i = 0; i < series_set_len(ss) && i < 64; i++) {
            labels_t l = series_set_labels(ss, i);
            sv.n = 0;
            if (series_set_samples(ss, i, INT64_MIN, INT64_MAX, &sv) != 0 || sv.n == 0) continue;
            int64_t t = sv.v[sv.n - 1].t;
            if (t >= INT64_MAX - 1000) continue;
            sample_t s = {t + 1000, 1.5};
            appender_add(a, l.v, l.n, labels_hash(l.v, l.n), &s, 1); /* refusals are fine */
        }
        sample_vec_free(&sv);
        appender_commit(a, NULL); /* too old / too new / invalid: refused, not a crash */
    } else if (a) {
        appender_rollback(a);
    }
    series_set_free(ss);
    matcher_free(m);
    querier_close(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/ms-fuzz-snap-XXXXXX");
        if (!mkdtemp(root)) abort();
        snprintf(wal_dir, sizeof wal_dir, "%s/wal", root);
        snprintf(snap_path, sizeof snap_path, "%s/head.snapshot", root);
        mkdir(wal_dir, 0755);
        log_set_level(LOG_ERROR);
    }
    if (size < 1 || size > 1 << 16) return 0;
    fuzz_clear_dir(wal_dir); /* an empty WAL: the framed payload's empty WAL list matches it */
    uint8_t mode = data[0];
    data++, size--;
    if (!(mode & 1)) {
        write_snapshot(data, size);
    } else {
        buf_t b = BUF_INIT;
        static const uint8_t hdr[8] = {'M', 'S', 'H', 'S', 1, 0, 0, 0};
        buf_append(&b, hdr, sizeof hdr);
        buf_put_varint(&b, 0); /* written at */
        buf_put_uvarint(&b, 1); /* next ref */
        buf_put_uvarint(&b, 0); /* no WAL segments */
        buf_append(&b, data, size);
        buf_put_u64le(&b, b.len - sizeof hdr);
        uint32_t crc = crc32c(0, b.data, b.len);
        buf_put_u32le(&b, crc);
        write_snapshot(b.data, b.len);
        buf_free(&b);
    }
    db_options_t o;
    db_options_default(&o);
    o.data_dir = root;
    o.wal_fsync = WAL_FSYNC_NEVER;
    o.retention_ms = 0;
    o.head_window_ms = 0; /* no cuts: only the snapshot's head */
    o.no_compaction = true;
    db_t *db = NULL;
    char err[512];
    if (db_open(&o, &db, err, sizeof err) == 0) {
        /* loaded chunks are trusted to the CRC for their bit streams: damaged ones may decode to
         * garbage (never out of bounds), so no order checks here */
        fuzz_read_all(db, false);
        append_to_each(db);
        fuzz_read_all(db, false);
        db_close(db);
    }
    return 0;
}
