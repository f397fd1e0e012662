/* tensor.h: the one tensor type of nntrain, DLPack-compatible.
 * An nn_tensor* is a valid DLTensor* (the DLTensor is the first member and its shape/strides
 * point into the struct's own arrays), so any DLPack consumer can read it zero-copy. */
#ifndef NNTRAIN_TENSOR_H
#define NNTRAIN_TENSOR_H

#include <dlpack/dlpack.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NN_MAX_DIMS 8
#define NN_TENSOR_ALIGN 64 /* bytes; data the core allocates is aligned to this */

typedef enum nn_dtype {
    NN_F32 = 0,
    NN_F64,
    NN_F16,
    NN_BF16,
    NN_I32,
    NN_I64,
    NN_U8,
    NN_DTYPE_COUNT
} nn_dtype;

typedef struct nn_tensor {
    DLTensor dl;                     /* first member: (DLTensor *)t is valid */
    int64_t shape[NN_MAX_DIMS];      /* dl.shape points here */
    int64_t strides[NN_MAX_DIMS];    /* dl.strides points here; in elements */
    const char *name;                /* borrowed, may be NULL; used in error messages */
    void *reserved[4];               /* zero; room to grow without breaking plugins */
} nn_tensor;

/* returns the DLPack type of an nn_dtype */
static inline DLDataType nn_dtype_dl(nn_dtype dt)
{
    static const DLDataType map[NN_DTYPE_COUNT] = {
        [NN_F32] = {kDLFloat, 32, 1}, [NN_F64] = {kDLFloat, 64, 1},
        [NN_F16] = {kDLFloat, 16, 1}, [NN_BF16] = {kDLBfloat, 16, 1},
        [NN_I32] = {kDLInt, 32, 1},   [NN_I64] = {kDLInt, 64, 1},
        [NN_U8] = {kDLUInt, 8, 1},
    };
    return map[(unsigned)dt < NN_DTYPE_COUNT ? dt : NN_F32];
}

/* returns the nn_dtype of a tensor, or -1 if it is none of ours */
static inline int nn_tensor_dtype(const nn_tensor *t)
{
    for (int d = 0; d < NN_DTYPE_COUNT; d++) {
        DLDataType x = nn_dtype_dl((nn_dtype)d);
        if (x.code == t->dl.dtype.code && x.bits == t->dl.dtype.bits && t->dl.dtype.lanes == 1)
            return d;
    }
    return -1;
}

static inline size_t nn_dtype_size(nn_dtype dt)
{
    return (size_t)nn_dtype_dl(dt).bits / 8;
}

static inline int64_t nn_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

static inline int64_t nn_tensor_numel(const nn_tensor *t)
{
    return nn_shape_numel(t->dl.ndim, t->shape);
}

static inline size_t nn_tensor_nbytes(const nn_tensor *t)
{
    return (size_t)nn_tensor_numel(t) * (t->dl.dtype.bits / 8u);
}

/* Sets dtype, shape and contiguous row-major strides on CPU; data stays as it was.
 * Returns 0, or -1 if ndim is out of [0, NN_MAX_DIMS]. */
static inline int nn_tensor_describe(nn_tensor *t, nn_dtype dt, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > NN_MAX_DIMS)
        return -1;
    t->dl.dtype = nn_dtype_dl(dt);
    t->dl.ndim = ndim;
    t->dl.shape = t->shape;
    t->dl.strides = t->strides;
    t->dl.byte_offset = 0;
    if (t->dl.device.device_type == 0)
        t->dl.device = (DLDevice){kDLCPU, 0};
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->strides[i] = s;
        s *= shape[i];
    }
    for (int i = ndim; i < NN_MAX_DIMS; i++)
        t->shape[i] = t->strides[i] = 0;
    return 0;
}

/* True when two tensors have the same ndim and extents. */
static inline int nn_shape_equal(const nn_tensor *a, const nn_tensor *b)
{
    if (a->dl.ndim != b->dl.ndim)
        return 0;
    for (int i = 0; i < a->dl.ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

/* Writes "[128, 1, 28, 28]" into buf; returns buf. For error messages. */
char *nn_shape_str(const nn_tensor *t, char *buf, size_t cap);

/* Typed views of the data (no checks; the caller knows the dtype). */
#define NN_F32P(t) ((float *)((char *)(t)->dl.data + (t)->dl.byte_offset))
#define NN_I32P(t) ((int32_t *)((char *)(t)->dl.data + (t)->dl.byte_offset))
#define NN_I64P(t) ((int64_t *)((char *)(t)->dl.data + (t)->dl.byte_offset))
#define NN_U8P(t) ((uint8_t *)((char *)(t)->dl.data + (t)->dl.byte_offset))

/* Allocates a contiguous tensor on the CPU, data aligned to NN_TENSOR_ALIGN and zeroed.
 * returns an owned tensor to free with nn_tensor_free(), or NULL when out of memory. */
nn_tensor *nn_tensor_new(nn_dtype dt, int ndim, const int64_t *shape);
/* frees a tensor from nn_tensor_new(); NULL is allowed */
void nn_tensor_free(nn_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
