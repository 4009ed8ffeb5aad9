/* seedgen.c writes the generated part of the fuzz seed corpora (valid chunks, WAL records and
 * segments made by our own encoders) into tests/fuzz/corpus/; not a fuzz target. Build and run:
 *   cc -std=c11 -D_GNU_SOURCE -Isrc tests/fuzz/seedgen.c build/libmetricstor.a $(pkg-config --libs
 *      libmicrohttpd snappy libpcre2-8 libxxhash libzstd) -lm -pthread -o build/seedgen
 *   build/seedgen tests/fuzz/corpus */
#include "storage/chunk.h"
#include "storage/record.h"
#include "storage/storage.h"
#include "storage/wal.h"
#include "util/buf.h"
#include "util/cursor.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *dir;

static void put(const char *target, const char *name, uint8_t prefix, bool use_prefix, const buf_t *b)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    if (use_prefix) fputc(prefix, f);
    fwrite(b->data, 1, b->len, f);
    fclose(f);
}

static void series_payload(buf_t *b, uint64_t ref, const char *name, const char *job)
{
    label_t ls[2] = {{"__name__", name, 8, (uint32_t)strlen(name)}, {"job", job, 3, (uint32_t)strlen(job)}};
    record_put_series(b, ref, ls, 2);
}

/* head_snapshot: a real snapshot of a small head (three series, one with a late sample, and
 * metadata), as the file (mode 0) and as the payload after its WAL list (mode 1). */
static void snapshot_seeds(void)
{
    char tmp[] = "/tmp/ms-seedgen-XXXXXX";
    if (!mkdtemp(tmp)) { perror("mkdtemp"); exit(1); }
    db_options_t o;
    db_options_default(&o);
    o.data_dir = tmp;
    o.retention_ms = 0;
    o.head_window_ms = 0;
    o.wal_fsync = WAL_FSYNC_NEVER;
    db_t *db;
    char err[256];
    if (db_open(&o, &db, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); exit(1); }
    appender_t *a;
    if (db_appender(db, &a) != 0) exit(1);
    const char *jobs[3] = {"api", "db", "node"};
    for (int k = 0; k < 3; k++) {
        label_t ls[2] = {{"__name__", "up", 8, 2}, {"job", jobs[k], 3, (uint32_t)strlen(jobs[k])}};
        sample_t smp[150];
        for (int i = 0; i < 150; i++) smp[i] = (sample_t){1700000000000LL + i * 15000, (double)(k * 1000 + i) / 4};
        if (k == 1) smp[149] = (sample_t){1700000000000LL + 7, -1}; /* late */
        if (appender_add(a, ls, 2, labels_hash(ls, 2), smp, 150) != 0) exit(1);
    }
    appender_add_metadata(a, "up", 2, "gauge", 5, "1 if up", 7, "", 0);
    if (appender_commit(a, NULL) != 0) exit(1);
    db_close(db);
    char path[128];
    snprintf(path, sizeof path, "%s/head.snapshot", tmp);
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    buf_t file = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&file, chunk, n);
    fclose(f);
    put("fuzz_head_snapshot", "gen_file", 0, true, &file);
    cursor_t c;
    cursor_init(&c, file.data + 8, file.len - 8 - 12);
    (void)cursor_varint(&c);
    (void)cursor_uvarint(&c);
    uint64_t nsegs = cursor_uvarint(&c);
    for (uint64_t i = 0; i < nsegs; i++) {
        (void)cursor_uvarint(&c);
        (void)cursor_uvarint(&c);
        (void)cursor_varint(&c);
    }
    if (!cursor_ok(&c)) exit(1);
    buf_t payload = BUF_INIT;
    buf_append(&payload, c.p, (size_t)(c.end - c.p));
    put("fuzz_head_snapshot", "gen_payload", 1, true, &payload);
    buf_free(&file);
    buf_free(&payload);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: seedgen <corpus dir>\n"); return 2; }
    dir = argv[1];
    /* chunks */
    for (int k = 0; k < 3; k++) {
        xor_chunk_t c;
        chunk_init(&c);
        int n = k == 0 ? 1 : k == 1 ? 30 : CHUNK_TARGET_SAMPLES;
        for (int i = 0; i < n; i++) {
            double v = k == 2 ? (double)i * 1.5 : 42.0 + (i % 3);
            uint64_t bits;
            memcpy(&bits, &v, sizeof bits);
            chunk_append(&c, 1700000000000LL + i * 15000 + (i % 7), bits);
        }
        buf_t b = BUF_INIT;
        chunk_serialize(&c, &b);
        char name[32];
        snprintf(name, sizeof name, "gen_chunk_%d", n);
        put("fuzz_chunk", name, 0, false, &b);
        buf_free(&b);
        chunk_free(&c);
    }
    /* records: payload after a selector byte (0 series, 1 samples, 2 metadata) */
    buf_t s = BUF_INIT, m = BUF_INIT, md = BUF_INIT;
    series_payload(&s, 1, "up", "node");
    series_payload(&s, 2, "http_requests_total", "api");
    int64_t base = 0, ts[4] = {1700000000000LL, 1700000015000LL, 1700000030000LL, 1700000045000LL};
    double vs[4] = {1, 2, 3.5, -0.0};
    record_put_samples(&m, &base, 1, ts, vs, 4, sizeof(int64_t));
    record_put_samples(&m, &base, 2, ts, vs, 2, sizeof(int64_t));
    record_put_metadata(&md, "up", 2, "gauge", 5, "1 if up", 7, "", 0);
    put("fuzz_wal_record", "gen_series", 0, true, &s);
    put("fuzz_wal_record", "gen_samples", 1, true, &m);
    put("fuzz_wal_record", "gen_metadata", 2, true, &md);
    /* wal_replay: mode 0 = a raw segment; mode 1/3 = [type][len] items framed by the target */
    buf_t seg = BUF_INIT;
    static const uint8_t h[WAL_SEG_HEADER_LEN] = {'M', 'S', 'W', 'L', 1, 0, 0, 0};
    buf_append(&seg, h, sizeof h);
    size_t o = record_begin(&seg, REC_SERIES);
    buf_append(&seg, s.data, s.len);
    record_end(&seg, o);
    o = record_begin(&seg, REC_SAMPLES);
    buf_append(&seg, m.data, m.len);
    record_end(&seg, o);
    o = record_begin(&seg, REC_METADATA);
    buf_append(&seg, md.data, md.len);
    record_end(&seg, o);
    put("fuzz_wal_replay", "gen_segment", 0, true, &seg);
    seg.len -= 5; /* torn tail */
    put("fuzz_wal_replay", "gen_segment_torn", 0, true, &seg);
    buf_t items = BUF_INIT;
    const buf_t *parts[3] = {&s, &m, &md};
    for (int i = 0; i < 3; i++) { /* type byte t maps to REC_SERIES + t % 3 */
        if (parts[i]->len > 255) abort();
        buf_putc(&items, (char)i);
        buf_putc(&items, (char)parts[i]->len);
        buf_append(&items, parts[i]->data, parts[i]->len);
    }
    put("fuzz_wal_replay", "gen_items", 1, true, &items);
    put("fuzz_wal_replay", "gen_items_2seg", 3, true, &items);
    buf_free(&s); buf_free(&m); buf_free(&md); buf_free(&seg); buf_free(&items);
    snapshot_seeds();
    return 0;
}
