/* nn_pb.c: the protobuf wire-format encoder of nn_pb.h. Only appends bytes; it knows no
 * message types (callers hold the field numbers of their .proto). */
#include "nn_pb.h"

#include <stdlib.h>
#include <string.h>

void nn_pb_free(nn_pb_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void nn_pb_reset(nn_pb_buf *b)
{
    b->len = 0;
    b->oom = 0;
}

static int reserve(nn_pb_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void nn_pb_raw(nn_pb_buf *b, const void *data, size_t n)
{
    if (n == 0 || reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void nn_pb_le(nn_pb_buf *b, uint64_t v, int n)
{
    uint8_t t[8];
    for (int i = 0; i < n && i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    nn_pb_raw(b, t, (size_t)n);
}

void nn_pb_varint(nn_pb_buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    nn_pb_raw(b, t, n);
}

size_t nn_pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >>= 7)
        n++;
    return n;
}

void nn_pb_tag(nn_pb_buf *b, int field, int wire_type)
{
    nn_pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire_type);
}

void nn_pb_int64(nn_pb_buf *b, int field, int64_t v)
{
    nn_pb_tag(b, field, NN_PB_VARINT);
    nn_pb_varint(b, (uint64_t)v);
}

void nn_pb_float(nn_pb_buf *b, int field, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    nn_pb_tag(b, field, NN_PB_FIXED32);
    nn_pb_le(b, u, 4);
}

void nn_pb_double(nn_pb_buf *b, int field, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    nn_pb_tag(b, field, NN_PB_FIXED64);
    nn_pb_le(b, u, 8);
}

void nn_pb_bytes(nn_pb_buf *b, int field, const void *data, size_t n)
{
    nn_pb_tag(b, field, NN_PB_LEN);
    nn_pb_varint(b, n);
    nn_pb_raw(b, data, n);
}

void nn_pb_string(nn_pb_buf *b, int field, const char *s)
{
    nn_pb_bytes(b, field, s, strlen(s));
}

void nn_pb_message(nn_pb_buf *b, int field, const nn_pb_buf *sub)
{
    if (sub->oom)
        b->oom = 1;
    nn_pb_bytes(b, field, sub->p, sub->len);
}

void nn_pb_packed_doubles(nn_pb_buf *b, int field, const double *v, size_t n)
{
    nn_pb_tag(b, field, NN_PB_LEN);
    nn_pb_varint(b, 8 * n);
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        nn_pb_le(b, u, 8);
    }
}
