/* test_head_mem.c tests the head's chunk buffer sizing (head_append.c): full chunks hold no
 * unused bytes, an open chunk's slack stays small, head_bytes accounting matches the buffers
 * actually held, and out-of-order appends into trimmed chunks still read back exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "storage/head.h"
#include "testutil.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next_rand(void) { return tu_xorshift(&rng); }

/* Bytes the head should account for one series: struct, labels, chunk array and buffers. */
static int64_t series_bytes(const series_t *s)
{
    int64_t b = (int64_t)(sizeof(*s) + s->nlabels * sizeof(label_t) + s->capchunks * sizeof(xor_chunk_t));
    for (uint32_t i = 0; i < s->nchunks; i++) b += s->chunks[i].cap;
    return b;
}

static series_t *make_series(head_t *h, const char *name)
{
    label_t ls[1] = {{"__name__", name, 8, strlen(name)}};
    bool created;
    series_t *s = head_get_or_create(h, ls, 1, labels_hash(ls, 1), 0, &created);
    assert_true(created);
    return s;
}

static void test_full_chunks_trimmed_and_accounted(void **state)
{
    (void)state;
    head_t h;
    head_init(&h);
    int64_t base = atomic_load(&h.mem);
    series_t *s = make_series(&h, "gauge");
    int64_t after_create = atomic_load(&h.mem);
    double v = 1000.0;
    size_t n = 4 * CHUNK_TARGET_SAMPLES + 37; /* four full chunks and an open one */
    for (size_t i = 0; i < n; i++) {
        v = round((v + (double)(next_rand() % 2001) / 100.0 - 10.0) * 100.0) / 100.0;
        pthread_mutex_lock(&s->mu);
        assert_int_equal(series_append(s, (int64_t)i * 15000, tu_bits(v), &h.mem, &h.nchunks), APPEND_NEW);
        pthread_mutex_unlock(&s->mu);
        /* the open chunk always has room for one more sample without the encoder growing it */
        const xor_chunk_t *last = &s->chunks[s->nchunks - 1];
        assert_true(last->cap >= chunk_bytes(last));
        if (i + 1 == 4 * CHUNK_TARGET_SAMPLES) /* the fourth chunk is trimmed on its last sample */
            assert_int_equal(last->cap, chunk_bytes(last));
    }
    assert_int_equal(s->nchunks, 5);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(s->chunks[i].n, CHUNK_TARGET_SAMPLES);
        assert_int_equal(s->chunks[i].cap, chunk_bytes(&s->chunks[i])); /* trimmed when full */
    }
    const xor_chunk_t *open = &s->chunks[4];
    /* sized from its predecessor: far less than the doubling encoder's up-to-2x */
    assert_true(open->cap <= chunk_bytes(&s->chunks[3]) * 33 / 32 + 64);
    assert_true(after_create - base >= (int64_t)(sizeof(*s) + sizeof(label_t)));
    /* every byte the series' chunks hold is accounted in head_bytes */
    assert_int_equal(atomic_load(&h.mem) - after_create, series_bytes(s) - (int64_t)(sizeof(*s) + sizeof(label_t)));
    head_destroy(&h);
}

static void test_out_of_order_into_trimmed_chunks(void **state)
{
    (void)state;
    head_t h;
    head_init(&h);
    series_t *s = make_series(&h, "counter");
    int64_t after_create = atomic_load(&h.mem);
    size_t n = 3 * CHUNK_TARGET_SAMPLES;
    /* even timestamps in order, then odd ones late: the late ones land in trimmed chunks */
    double *want = calloc(2 * n, sizeof(double));
    for (size_t i = 0; i < 2 * n; i++) want[i] = (double)(next_rand() % 1000000) / 100.0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < 2 * n; i += 2)
        assert_int_equal(series_append(s, (int64_t)i * 1000, tu_bits(want[i]), &h.mem, &h.nchunks), APPEND_NEW);
    for (size_t i = 1; i < 2 * n; i += 2)
        assert_int_equal(series_append(s, (int64_t)i * 1000, tu_bits(want[i]), &h.mem, &h.nchunks), APPEND_NEW);
    /* a replacement and an exact duplicate */
    assert_int_equal(series_append(s, 2000, tu_bits(-1.5), &h.mem, &h.nchunks), APPEND_REPLACED);
    want[2] = -1.5;
    assert_int_equal(series_append(s, 4000, tu_bits(want[4]), &h.mem, &h.nchunks), APPEND_DUP);
    sample_vec_t out = {0};
    series_read(s, INT64_MIN, INT64_MAX, &out);
    pthread_mutex_unlock(&s->mu);
    assert_int_equal(out.n, 2 * n);
    for (size_t i = 0; i < 2 * n; i++) {
        assert_int_equal(out.v[i].t, (int64_t)i * 1000);
        assert_int_equal(tu_bits(out.v[i].v), tu_bits(want[i]));
    }
    assert_int_equal(atomic_load(&h.mem) - after_create, series_bytes(s) - (int64_t)(sizeof(*s) + sizeof(label_t)));
    sample_vec_free(&out);
    free(want);
    head_destroy(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_chunks_trimmed_and_accounted),
        cmocka_unit_test(test_out_of_order_into_trimmed_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
