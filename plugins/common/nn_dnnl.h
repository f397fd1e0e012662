/* nn_dnnl.h: the oneDNN plumbing shared by the stock layer plugins (libnn_dnnl.so).
 * One engine and one stream per process, tensor -> memory descriptor helpers, dnnl_status_t
 * -> nn_error sentences, and primitives bound once to fixed tensors. It must never allocate
 * in nn_dnnl_op_run() (the per-step path) and never be reached by the core. */
#ifndef NN_DNNL_H
#define NN_DNNL_H

#include <stdint.h>
#include <oneapi/dnnl/dnnl.h>
#include <nntrain/layer.h>
#include <nntrain/params.h>
#include <nntrain/status.h>
#include <nntrain/stock_params.h>
#include <nntrain/stock_setup.h>
#include <nntrain/tensor.h>

#if defined(__GNUC__)
#define NN_DNNL_API __attribute__((visibility("default")))
#else
#define NN_DNNL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- engine and stream -------------------------------------------------------------- */

/* Creates the process-wide CPU engine and stream on first use (thread-safe).
 * returns NN_OK, or NN_EINTERNAL with a sentence naming layer when oneDNN refuses. */
NN_DNNL_API int nn_dnnl_init(const char *layer, nn_error *err);
/* borrowed, valid for the life of the process; NULL before nn_dnnl_init() succeeded. Streams
 * are the library's: nn_dnnl_op_run() executes on a stream of the calling thread. */
NN_DNNL_API dnnl_engine_t nn_dnnl_engine(void);

/* ---- errors ------------------------------------------------------------------------- */

/* Fills err with "layer 'L': oneDNN WHAT failed: REASON" and returns the matching nn status
 * (NN_ENOMEM, NN_ENOTSUP for unimplemented, NN_EINVAL for invalid arguments, else
 * NN_EINTERNAL). st must not be dnnl_success. */
NN_DNNL_API int nn_dnnl_fail(nn_error *err, dnnl_status_t st, const char *layer,
                             const char *what);

/* Runs a oneDNN call; on failure returns from the enclosing function with the nn status. */
#define NN_DNNL_TRY(err, layer, what, call)                                    \
    do {                                                                       \
        dnnl_status_t nn_dnnl_st_ = (call);                                    \
        if (nn_dnnl_st_ != dnnl_success)                                       \
            return nn_dnnl_fail((err), nn_dnnl_st_, (layer), (what));          \
    } while (0)

/* ---- memory descriptors -------------------------------------------------------------- */

/* A plain f32 descriptor for a tensor, honouring its strides (the ABI's layout).
 * returns NN_OK, or NN_ENOTSUP naming the tensor when it is not f32. */
NN_DNNL_API int nn_dnnl_md_tensor(dnnl_memory_desc_t *md, const nn_tensor *t, const char *layer,
                                  nn_error *err);
/* A contiguous row-major f32 descriptor with the given extents (never fails for ndim <= 8) */
NN_DNNL_API void nn_dnnl_md_dims(dnnl_memory_desc_t *md, int ndim, const int64_t *dims);

/* ---- opaque layouts (ABI 0.6, tensor.h's nn_layout) ------------------------------------ */

/* the family of the layouts these layers offer and accept: a dnnl_memory_desc_t of 2.x */
#define NN_DNNL_LAYOUT "onednn2"

/* Fills lo to offer the layout md; both must live in the layer (lo->desc points to md). */
NN_DNNL_API void nn_dnnl_layout_init(nn_layout *lo, const dnnl_memory_desc_t *md);
/* 1 and *md = its descriptor when t carries a oneDNN layout of t's dims, f32 or bf16; else 0 */
NN_DNNL_API int nn_dnnl_layout_get(const nn_tensor *t, dnnl_memory_desc_t *md);
/* 1 when md is the dense row-major layout of its dims (what crosses the ABI plain) */
NN_DNNL_API int nn_dnnl_md_is_plain(const dnnl_memory_desc_t *md);
/* 8 or 16 when md is a 4-D nChw8c / nChw16c tensor of any type (what our own loops run on:
 * nn_maxpool_blk.c, nn_conv_bwdw_blk.c and nn_conv_bwdw_nchwc.c, these two in f32), else 0 */
NN_DNNL_API int nn_dnnl_md_channel_lanes(const dnnl_memory_desc_t *md);
/* md with its data type changed to dt, layout kept (a bf16 copy of an f32 tensor, say) */
NN_DNNL_API dnnl_memory_desc_t nn_dnnl_md_retype(const dnnl_memory_desc_t *md,
                                                 dnnl_data_type_t dt);

/* ---- precision ([train] precision = bf16) --------------------------------------------- */

/* The oneDNN data type of the activations for nn_layer_setup.precision: dnnl_bf16 when bf16
 * is asked and this CPU runs oneDNN's bf16 kernels, dnnl_f32 for f32. Asked for bf16 on a
 * CPU without them it fails with NN_ENOTSUP and a sentence naming the layer, the ISA oneDNN
 * found and the way out. */
NN_DNNL_API int nn_dnnl_precision(intptr_t precision, dnnl_data_type_t *dt, const char *layer,
                                  nn_error *err);

/* ---- primitives bound to tensors ----------------------------------------------------- */

#define NN_DNNL_MAX_ARGS 12

/* A primitive plus its execution arguments. Every argument is a dnnl_memory_t whose data is
 * a tensor's (re-read before each run, so a tensor whose data moved still works).
 * Zero-initialise before use. */
typedef struct nn_dnnl_op {
    dnnl_primitive_t prim;
    const char *what; /* "inner product forward": static string, for messages */
    int nargs;
    dnnl_exec_arg_t args[NN_DNNL_MAX_ARGS];
    const nn_tensor *tensors[NN_DNNL_MAX_ARGS];
    void *handles[NN_DNNL_MAX_ARGS];            /* the data pointer the memory holds now */
    int scratch;          /* 1 + the argument that is the running thread's scratchpad, or 0 */
    size_t scratch_bytes; /* what that scratchpad must hold */
} nn_dnnl_op;

/* the data of a host tensor, for our own loops (nn_maxpool_blk.c, nn_conv_bwdw_blk.c) */
static inline void *nn_dnnl_data(const nn_tensor *t)
{
    return (char *)t->dl.data + t->dl.byte_offset;
}

static inline float *nn_dnnl_f32(const nn_tensor *t)
{
    return (float *)nn_dnnl_data(t);
}

/* Describes a primitive as dnnl_primitive_desc_create does, with a user-managed scratchpad:
 * attr must ask for one (nn_dnnl_attr's do); NULL gives attributes that do and nothing else. */
NN_DNNL_API dnnl_status_t nn_dnnl_pd_create(dnnl_primitive_desc_t *pd,
                                            const_dnnl_op_desc_t desc,
                                            const_dnnl_primitive_attr_t attr,
                                            const_dnnl_primitive_desc_t hint);
/* Creates op->prim from pd (pd stays owned by the caller). pd must have a user-managed
 * scratchpad (NN_EINTERNAL otherwise, on every CPU alike); when it needs one, the op runs
 * with the running thread's until nn_dnnl_op_scratchpad binds a buffer of the layer's. */
NN_DNNL_API int nn_dnnl_op_create(nn_dnnl_op *op, const_dnnl_primitive_desc_t pd,
                                  const char *what, const char *layer, nn_error *err);
/* Binds argument `arg` (DNNL_ARG_*) to tensor t, using the descriptor pd expects for it.
 * Fails with NN_ESHAPE naming the tensor when t holds fewer bytes than the descriptor needs. */
NN_DNNL_API int nn_dnnl_op_tensor(nn_dnnl_op *op, const_dnnl_primitive_desc_t pd, int arg,
                                  const nn_tensor *t, const char *layer, nn_error *err);
/* Binds the user-managed scratchpad that pd asks for (none: nothing bound) to tensor t,
 * which must hold nn_dnnl_scratchpad_size(pd) bytes (memory of the plan, instead of the
 * running thread's scratchpad). */
NN_DNNL_API int nn_dnnl_op_scratchpad(nn_dnnl_op *op, const_dnnl_primitive_desc_t pd,
                                      const nn_tensor *t, const char *layer, nn_error *err);
/* Executes the primitive on the running thread's stream and waits. Allocates nothing, but a
 * thread's stream and scratchpad at its first run ([train] replicas' threads) and the
 * scratchpad's growth when a larger one is first needed on that thread. */
NN_DNNL_API int nn_dnnl_op_run(nn_dnnl_op *op, const char *layer, nn_error *err);
/* Frees the primitive and the memories; the op is zeroed and may be reused. */
NN_DNNL_API void nn_dnnl_op_destroy(nn_dnnl_op *op);

/* Declares a byte buffer (nn_layer_add_buffer); returns its index, or -1 when full */
NN_DNNL_API int nn_dnnl_add_buffer(nn_layer_setup *s, const char *name, nn_buffer_kind kind,
                                   size_t bytes);
/* Bytes the descriptor that pd expects for argument arg (0 when pd does not use it). */
NN_DNNL_API size_t nn_dnnl_arg_size(const_dnnl_primitive_desc_t pd, int arg);
/* Bytes of the user-managed scratchpad pd needs (0 when none) */
NN_DNNL_API size_t nn_dnnl_scratchpad_size(const_dnnl_primitive_desc_t pd);
/* A new attribute with a user-managed scratchpad (the layer gives the memory: no allocation
 * in oneDNN's execute) and, unless act is NN_ACT_NONE, that activation as an eltwise post-op.
 * The caller destroys *attr. */
NN_DNNL_API dnnl_status_t nn_dnnl_attr(dnnl_primitive_attr_t *attr, int act);
/* Destroys a primitive descriptor if not NULL and sets it to NULL. */
NN_DNNL_API void nn_dnnl_pd_free(dnnl_primitive_desc_t *pd);

/* ---- parameters shared by the stock layers ------------------------------------------- */

/* A fused activation: `activation` key with NN_STOCK_ACT_CHOICES. */

enum { NN_ACT_NONE = 0, NN_ACT_RELU, NN_ACT_TANH, NN_ACT_SIGMOID, NN_ACT_GELU };

/* The activation half of a layer "y = act(z), z = linear(x)" (dense, conv1d, conv2d).
 * Where the main primitive applies post-ops fast (jit kernels, inner product), the activation
 * is its post-op: always in eval plans, and in training plans when the derivative can be read
 * off y (relu, tanh, sigmoid: oneDNN's *_use_dst_for_bwd), which spares a pass over the data
 * and the pre-activation's memory. Otherwise an eltwise primitive runs after the main one: in
 * place on y, or (gelu in training) from a saved pre-activation z to y.
 * Use: nn_dnnl_act_init() before the main primitive (its post-op: nn_dnnl_act_postop()), then
 * nn_dnnl_act_plan() on the main primitive's dst layout, both in setup; nn_dnnl_act_bind() in
 * bind; nn_dnnl_act_forward() after the main forward, nn_dnnl_act_backward() first in
 * backward. */
typedef struct nn_dnnl_act {
    int kind;            /* NN_ACT_* */
    int training;        /* the plan runs backward */
    int fused;           /* the main forward primitive applies it as a post-op */
    int from_pre;        /* forward z -> y and backward reads z (else y) */
    dnnl_primitive_desc_t fwd_pd, hint_pd, bwd_pd;
    nn_dnnl_op fwd, bwd;
} nn_dnnl_act;

/* Decides how the activation kind runs; can_fuse: the main primitive's post-ops are fast. */
NN_DNNL_API void nn_dnnl_act_init(nn_dnnl_act *a, int kind, int training, int can_fuse);
/* The post-op the main primitive must apply (NN_ACT_NONE when not fused), for nn_dnnl_attr. */
NN_DNNL_API int nn_dnnl_act_postop(const nn_dnnl_act *a);
/* Makes the eltwise primitive descriptors on md, the main primitive's dst layout. */
NN_DNNL_API int nn_dnnl_act_plan(nn_dnnl_act *a, const dnnl_memory_desc_t *md,
                                 const char *layer, nn_error *err);
/* Binds: y = the activated output in md's layout; pre = where the main primitive wrote z when
 * a->from_pre (a SAVED buffer), else NULL; dy (dLoss/dy in md's layout) and dz (where
 * dLoss/dz goes; may be dy's buffer when that is the layer's own) NULL in eval plans. */
NN_DNNL_API int nn_dnnl_act_bind(nn_dnnl_act *a, const nn_tensor *y, const nn_tensor *pre,
                                 const nn_tensor *dy, const nn_tensor *dz, const char *layer,
                                 nn_error *err);
/* After the main forward of every step; nothing when fused or none. */
NN_DNNL_API int nn_dnnl_act_forward(nn_dnnl_act *a, const char *layer, nn_error *err);
/* dLoss/dy -> dLoss/dz; nothing when the kind is none. */
NN_DNNL_API int nn_dnnl_act_backward(nn_dnnl_act *a, const char *layer, nn_error *err);
NN_DNNL_API void nn_dnnl_act_destroy(nn_dnnl_act *a);

/* The output side of a layer whose primitive writes its result in a layout of its own, yp
 * (dense, conv1d, conv2d): the activation (nn_dnnl_act), the output offered in yp, and where it
 * stays plain the reorders yp -> output forward and dLoss/dy -> yp backward.
 * Setup: nn_dnnl_act_init(&o->act, ...) before the main primitive, then nn_dnnl_out_setup()
 * once its dst layout is known; bind: nn_dnnl_out_bind(); steps: nn_dnnl_out_forward() after
 * the main forward, and nn_dnnl_out_backward() first in backward, which gives dLoss/dz. */
typedef struct nn_dnnl_out {
    nn_dnnl_act act;
    dnnl_memory_desc_t yp_md;  /* the main primitive's dst */
    dnnl_memory_desc_t y_md;   /* the output as it crosses the ABI: plain f32, or yp when taken */
    nn_layout offer;           /* yp, offered to the consumer when it is not plain f32 */
    int b_z, b_pre, b_dyz;     /* buffers: y in yp when the output is plain; the saved
                                  pre-activation; dLoss/dz; -1 when absent */
    int in_place;              /* dLoss/dz made in grad_output (grad_output_scratch) */
    int grad_masked;           /* the consumer applies the ReLU's derivative
                                  (output_grad_masked): dLoss/dz is grad_output as it comes */
    nn_dnnl_op r_y, r_dy;
} nn_dnnl_out;

/* Plans the activation on yp, offers yp for s->output (already described, plain f32) unless it
 * is plain f32 itself, with NN_LAYOUT_RELU for a ReLU, and declares the buffers; training: the
 * plan runs backward. */
NN_DNNL_API int nn_dnnl_out_setup(nn_dnnl_out *o, const dnnl_memory_desc_t *yp, int training,
                                  nn_layer_setup *s, nn_error *err);
/* 1 when the output (and dLoss/dy) are in yp, so no reorder happens at the output */
NN_DNNL_API int nn_dnnl_out_direct(const nn_dnnl_out *o);
/* Where the main forward primitive writes. */
NN_DNNL_API const nn_tensor *nn_dnnl_out_dst(const nn_dnnl_out *o, const nn_layer_io *io);
/* Where dLoss/dz (in yp) will be after nn_dnnl_out_backward(), for binding the backward ones. */
NN_DNNL_API const nn_tensor *nn_dnnl_out_dz(const nn_dnnl_out *o, const nn_layer_io *io);
/* Binds the activation and reorders to io's tensors (backward ones when io->grad_output). */
NN_DNNL_API int nn_dnnl_out_bind(nn_dnnl_out *o, const nn_layer_io *io, const char *layer,
                                 nn_error *err);
NN_DNNL_API int nn_dnnl_out_forward(nn_dnnl_out *o, const char *layer, nn_error *err);
/* Runs dLoss/dy -> dLoss/dz; returns the tensor holding dLoss/dz in yp, or NULL with err. */
NN_DNNL_API const nn_tensor *nn_dnnl_out_backward(nn_dnnl_out *o, const nn_layer_io *io,
                                                  const char *layer, nn_error *err);
NN_DNNL_API void nn_dnnl_out_destroy(nn_dnnl_out *o);

/* the oneDNN eltwise algorithm of an NN_ACT_* kind other than none */
NN_DNNL_API dnnl_alg_kind_t nn_dnnl_act_alg(int kind);

/* Makes op a reorder from tensor `from` (laid out as from_md) to tensor `to` (as to_md). */
NN_DNNL_API int nn_dnnl_reorder_op(nn_dnnl_op *op, const dnnl_memory_desc_t *from_md,
                                   const nn_tensor *from, const dnnl_memory_desc_t *to_md,
                                   const nn_tensor *to, const char *layer, nn_error *err);

/* 1 when the implementation oneDNN picked for pd has `what` in its name ("gemm", "ref") */
NN_DNNL_API int nn_dnnl_impl_is(const_dnnl_primitive_desc_t pd, const char *what);

/* ---- convolution, shared by conv1d and conv2d ---------------------------------------- */

/* What conv1d/conv2d parse from their keys; sp = number of spatial dims (1 or 2). */
typedef struct nn_dnnl_conv_cfg {
    int sp;
    int64_t filters, groups;
    int64_t kernel[2], stride[2], dilation[2];
    int64_t pad_l[2], pad_r[2];
    int same;      /* padding = same: computed from the input in setup */
    int bias;
    int act;       /* NN_ACT_* */
    nn_init winit;
} nn_dnnl_conv_cfg;

typedef struct nn_dnnl_conv nn_dnnl_conv;

/* Parses the conv keys (filters, kernel, stride, padding, dilation, groups, bias,
 * activation, weight_init) of a conv1d/conv2d schema and allocates the layer. */
NN_DNNL_API int nn_dnnl_conv_create(int sp, const nn_params *params, void **self,
                                    nn_error *err);
NN_DNNL_API void nn_dnnl_conv_destroy(void *self);
NN_DNNL_API int nn_dnnl_conv_setup(void *self, nn_layer_setup *s, nn_error *err);
NN_DNNL_API int nn_dnnl_conv_bind(void *self, const nn_layer_io *io, nn_error *err);
NN_DNNL_API int nn_dnnl_conv_forward(void *self, const nn_layer_io *io, nn_error *err);
NN_DNNL_API int nn_dnnl_conv_backward(void *self, const nn_layer_io *io, nn_error *err);
/* The keys' configuration with the padding setup() resolved (pad_r as the output uses it),
 * for export (nn_dnnl_export.c) */
NN_DNNL_API void nn_dnnl_conv_geometry(const void *self, nn_dnnl_conv_cfg *out);

/* ---- pooling, shared by maxpool2d, avgpool2d and global_avgpool ---------------------- */

enum { NN_POOL_MAX = 0, NN_POOL_AVG, NN_POOL_GLOBAL_AVG };

typedef struct nn_dnnl_pool nn_dnnl_pool;

/* Parses the pooling keys of mode's schema (kernel, stride, padding; count_include_pad for
 * NN_POOL_AVG; none for NN_POOL_GLOBAL_AVG) and allocates the layer. */
NN_DNNL_API int nn_dnnl_pool_create(int mode, const nn_params *params, void **self,
                                    nn_error *err);
NN_DNNL_API void nn_dnnl_pool_destroy(void *self);
NN_DNNL_API int nn_dnnl_pool_setup(void *self, nn_layer_setup *s, nn_error *err);
NN_DNNL_API int nn_dnnl_pool_bind(void *self, const nn_layer_io *io, nn_error *err);
NN_DNNL_API int nn_dnnl_pool_forward(void *self, const nn_layer_io *io, nn_error *err);
NN_DNNL_API int nn_dnnl_pool_backward(void *self, const nn_layer_io *io, nn_error *err);

#ifdef __cplusplus
}
#endif
#endif
