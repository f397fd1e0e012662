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

/* ABI 0.6: an opaque layout, e.g. oneDNN's blocked formats (nChw8c) or a bf16 copy of an f32
 * activation, that a tensor may carry between two layers of the same family so that neither
 * reorders it (shared/DESIGN.md, "Layouts"). Offered by the producer in setup, accepted or not
 * by the single consumer (layer.h, nn_layer_setup.layout_accept). A tensor with a layout keeps
 * its logical dtype and shape in the DLTensor, but its strides describe nothing and only its
 * family may read its bytes. Users, losses and every layer that did not accept one see plain
 * strided tensors; gradients travel in the layout of the tensor they belong to. */
typedef struct nn_layout {
    uint32_t struct_size;   /* sizeof(nn_layout) of the plugin that made it */
    const char *family;     /* who can read it, compared with strcmp: "onednn2" = a oneDNN 2.x
                               dnnl_memory_desc_t, which desc then points to */
    const void *desc;       /* the family's own description; borrowed from the producer */
    size_t bytes;           /* storage the tensor takes (padding included; zero-filled) */
    int32_t stored_dtype;   /* the nn_dtype of the stored elements (NN_BF16 under bf16) */
    uint32_t props;         /* ABI 0.8 (was reserved, 0): NN_LAYOUT_* facts about the values */
    const void *reserved[3];
} nn_layout;

/* ABI 0.8, nn_layout.props: the values are max(z, 0) of the producer's own z, and its backward
 * turns dLoss/dy into dLoss/dz by zeroing it where y <= 0 (or y is NaN). A consumer that can
 * write its input gradient that way already, at no extra pass, says so in setup
 * (nn_layer_setup.grad_input_masked) and the producer skips its own pass over the gradient. */
#define NN_LAYOUT_RELU 1u

typedef struct nn_tensor {
    DLTensor dl;                     /* first member: (DLTensor *)t is valid */
    int64_t shape[NN_MAX_DIMS];      /* dl.shape points here */
    int64_t strides[NN_MAX_DIMS];    /* dl.strides points here; in elements */
    const char *name;                /* borrowed, may be NULL; used in error messages */
    /* ABI 0.6: NULL for plain strided data (always, outside a plan's layer-to-layer edges);
     * else the opaque layout its bytes are in (see nn_layout); borrowed */
    const nn_layout *layout;
    void *reserved[3];               /* zero; room to grow without breaking plugins */
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

/* bytes of the tensor's storage: its layout's when it has one (ABI 0.6) */
static inline size_t nn_tensor_nbytes(const nn_tensor *t)
{
    return t->layout ? t->layout->bytes : (size_t)nn_tensor_numel(t) * (t->dl.dtype.bits / 8u);
}

/* Sets dtype, shape and contiguous row-major strides on CPU, and a plain layout (ABI 0.6);
 * data stays as it was. Returns 0, or -1 if ndim is out of [0, NN_MAX_DIMS]. */
static inline int nn_tensor_describe(nn_tensor *t, nn_dtype dt, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > NN_MAX_DIMS)
        return -1;
    t->layout = NULL;
    t->dl.dtype = nn_dtype_dl(dt);
    t->dl.ndim = ndim;
    t->dl.shape = t->shape;
    t->dl.strides = t->strides;
    t->dl.byte_offset = 0;
    if (t->dl.device.device_type == 0)
        t->dl.device = (DLDevice){kDLCPU, 0};
    /* unsigned: an absurd shape wraps (the core's size check refuses it by its extents)
     * instead of overflowing a signed product, which is undefined */
    uint64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->strides[i] = (int64_t)s;
        s *= (uint64_t)shape[i];
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
