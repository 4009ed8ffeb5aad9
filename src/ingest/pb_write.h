/* pb_write.h owns the protobuf writing primitives shared by our encoders (remote_write requests,
 * remote_read responses): varint sizes, field keys, length-delimited fields and prompb.Label
 * messages. Proto3 style: empty strings in a Label are omitted. */
#ifndef MS_INGEST_PB_WRITE_H
#define MS_INGEST_PB_WRITE_H
#include "model/labels.h"
#include "util/buf.h"
#include <stddef.h>
#include <stdint.h>

static inline size_t pb_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline void pb_put_key(buf_t *b, uint32_t field, uint32_t wire_type)
{
    buf_put_uvarint(b, (uint64_t)field << 3 | wire_type);
}

/* Size of a length-delimited field with a one-byte key (field numbers < 16). */
static inline size_t pb_len_field_size(size_t n) { return 1 + pb_varint_len(n) + n; }

static inline void pb_put_len_field(buf_t *b, uint32_t field, const void *p, size_t n)
{
    pb_put_key(b, field, 2);
    buf_put_uvarint(b, n);
    buf_append(b, p, n);
}

/* Size of one prompb.Label message body (name = 1, value = 2). */
static inline size_t pb_label_size(const label_t *l)
{
    return (l->name_len ? pb_len_field_size(l->name_len) : 0) + (l->value_len ? pb_len_field_size(l->value_len) : 0);
}

/* Writes each label as a length-delimited Label message in field `field`. */
static inline void pb_put_labels(buf_t *b, uint32_t field, const label_t *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const label_t *l = &labels[i];
        pb_put_key(b, field, 2);
        buf_put_uvarint(b, pb_label_size(l));
        if (l->name_len) pb_put_len_field(b, 1, l->name, l->name_len);
        if (l->value_len) pb_put_len_field(b, 2, l->value, l->value_len);
    }
}

/* Size of n Label messages written by pb_put_labels, keys included. */
static inline size_t pb_labels_size(const label_t *labels, size_t n)
{
    size_t sz = 0;
    for (size_t i = 0; i < n; i++) sz += pb_len_field_size(pb_label_size(&labels[i]));
    return sz;
}

#endif
