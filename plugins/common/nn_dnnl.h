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
/* borrowed handles, valid for the life of the process; NULL before nn_dnnl_init() succeeded */
NN_DNNL_API dnnl_engine_t nn_dnnl_engine(void);
NN_DNNL_API dnnl_stream_t nn_dnnl_stream(void);

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
} nn_dnnl_op;

/* Creates op->prim from pd (pd stays owned by the caller). */
NN_DNNL_API int nn_dnnl_op_create(nn_dnnl_op *op, const_dnnl_primitive_desc_t pd,
                                  const char *what, const char *layer, nn_error *err);
/* Binds argument `arg` (DNNL_ARG_*) to tensor t, using the descriptor pd expects for it.
 * Fails with NN_ESHAPE naming the tensor when t holds fewer bytes than the descriptor needs. */
NN_DNNL_API int nn_dnnl_op_tensor(nn_dnnl_op *op, const_dnnl_primitive_desc_t pd, int arg,
                                  const nn_tensor *t, const char *layer, nn_error *err);
/* Executes the primitive on the shared stream and waits. Allocates nothing. */
NN_DNNL_API int nn_dnnl_op_run(nn_dnnl_op *op, const char *layer, nn_error *err);
/* Frees the primitive and the memories; the op is zeroed and may be reused. */
NN_DNNL_API void nn_dnnl_op_destroy(nn_dnnl_op *op);

/* Bytes the descriptor that pd expects for argument arg (0 when pd does not use it). */
NN_DNNL_API size_t nn_dnnl_arg_size(const_dnnl_primitive_desc_t pd, int arg);
/* Destroys a primitive descriptor if not NULL and sets it to NULL. */
NN_DNNL_API void nn_dnnl_pd_free(dnnl_primitive_desc_t *pd);

/* ---- parameters shared by the stock layers ------------------------------------------- */

/* choices string and meaning of the `weight_init` key */
/* maps an index into NN_STOCK_WEIGHT_INIT_CHOICES (<nntrain/stock_params.h>) to its nn_init */
NN_DNNL_API nn_init nn_dnnl_weight_init(int choice);

/* Reads int-list key of 1 value (used for every spatial dim) or sp values into out[sp].
 * returns NN_OK, or NN_EINVAL naming the key, kind and the count given. */
NN_DNNL_API int nn_dnnl_int_list(const nn_params *p, const char *key, int sp, int64_t *out,
                                 const char *kind, nn_error *err);

/* A fused activation: `activation` key with NN_STOCK_ACT_CHOICES. */

enum { NN_ACT_NONE = 0, NN_ACT_RELU, NN_ACT_TANH, NN_ACT_SIGMOID, NN_ACT_GELU };

/* The activation half of a layer "y = act(z), z = linear(x)".
 * Eval plans fuse it into the main primitive as a post-op.
 * Training plans write z into a SAVED buffer `act` and run the eltwise z -> y: backward needs
 * z (or y) anyway, and the main primitive writing z costs the same memory traffic as a fused
 * kernel plus a copy of y, while every activation's derivative then reads one tensor. A
 * WORKSPACE `act_grad` receives dLoss/dz. */
typedef struct nn_dnnl_act {
    int kind;            /* NN_ACT_* */
    int training;        /* the plan runs backward */
    int fused;           /* the main forward primitive applies it as a post-op */
    int buf_saved;       /* buffer index of `act` (z), -1 when none */
    int buf_grad;        /* buffer index of `act_grad`, -1 when none */
    dnnl_primitive_desc_t fwd_pd, bwd_pd;
    nn_dnnl_op fwd;      /* training plans: act -> output */
    nn_dnnl_op bwd;      /* (grad_output, act) -> act_grad */
} nn_dnnl_act;

/* Declares the buffers (training plans only) for an output shaped like s->output. */
NN_DNNL_API int nn_dnnl_act_setup(nn_dnnl_act *a, int kind, nn_layer_setup *s, nn_error *err);
/* Eval plans: puts the activation in attr's post-ops and marks it fused. */
NN_DNNL_API int nn_dnnl_act_attr(nn_dnnl_act *a, dnnl_primitive_attr_t attr, const char *layer,
                                 nn_error *err);
/* Where the main forward primitive writes: `act` in training plans, else the output. */
NN_DNNL_API const nn_tensor *nn_dnnl_act_dst(const nn_dnnl_act *a, const nn_layer_io *io);
/* Builds the eltwise primitives on io's tensors (forward, and backward when io has a
 * grad_output). */
NN_DNNL_API int nn_dnnl_act_bind(nn_dnnl_act *a, const nn_layer_io *io, const char *layer,
                                 nn_error *err);
/* After the main forward of every step (eval steps of training plans too). */
NN_DNNL_API int nn_dnnl_act_forward(nn_dnnl_act *a, const nn_layer_io *io, const char *layer,
                                    nn_error *err);
/* Backward: returns the tensor that holds dLoss/dz (io->grad_output when kind is none), or
 * NULL with err filled. */
NN_DNNL_API const nn_tensor *nn_dnnl_act_backward(nn_dnnl_act *a, const nn_layer_io *io,
                                                  const char *layer, nn_error *err);
NN_DNNL_API void nn_dnnl_act_destroy(nn_dnnl_act *a);

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
