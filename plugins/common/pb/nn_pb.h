/* nn_pb.h: a small encoder of the protobuf wire format (varints, fixed-width numbers,
 * length-delimited fields) into growable buffers: what the tensorboard logger's event files
 * and libnncore's ONNX export are written with. Static library libnn_pb.a (hidden symbols),
 * linked into both; it depends on libc only and never includes core/ or plugin headers.
 * A failed allocation sets buf->oom and later appends do nothing: check oom once at the end. */
#ifndef NN_PB_H
#define NN_PB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_pb_buf {
    uint8_t *p;
    size_t len, cap;
    int oom; /* an append failed; the buffer keeps what it had */
} nn_pb_buf;

/* wire types */
enum { NN_PB_VARINT = 0, NN_PB_FIXED64 = 1, NN_PB_LEN = 2, NN_PB_FIXED32 = 5 };

void nn_pb_free(nn_pb_buf *b); /* frees the bytes; the buffer is then empty and reusable */
void nn_pb_reset(nn_pb_buf *b); /* empties it (and clears oom), keeping its memory */
/* appends n raw bytes */
void nn_pb_raw(nn_pb_buf *b, const void *data, size_t n);
/* appends the n low bytes of v, little-endian (fixed32 and fixed64 payloads, TFRecord) */
void nn_pb_le(nn_pb_buf *b, uint64_t v, int n);
void nn_pb_varint(nn_pb_buf *b, uint64_t v);
/* the bytes nn_pb_varint(v) would append */
size_t nn_pb_varint_size(uint64_t v);
void nn_pb_tag(nn_pb_buf *b, int field, int wire_type);

/* one field each: number, then value */
void nn_pb_int64(nn_pb_buf *b, int field, int64_t v); /* int64/int32/enum/bool: a varint
                                                         (a negative one takes ten bytes) */
void nn_pb_float(nn_pb_buf *b, int field, float v);
void nn_pb_double(nn_pb_buf *b, int field, double v);
void nn_pb_bytes(nn_pb_buf *b, int field, const void *data, size_t n); /* bytes, sub-message */
void nn_pb_string(nn_pb_buf *b, int field, const char *s);
/* a sub-message already encoded in sub */
void nn_pb_message(nn_pb_buf *b, int field, const nn_pb_buf *sub);
/* a packed repeated double field */
void nn_pb_packed_doubles(nn_pb_buf *b, int field, const double *v, size_t n);

#ifdef __cplusplus
}
#endif
#endif
