/* layer.h: the vtable of a layer plugin, and what the core hands it.
 * Life of a layer: create (once per compiled plan) -> setup (shapes in; output, parameters
 * and buffers declared) -> bind (memory assigned; build primitives) -> forward/backward
 * many times, never allocating -> destroy. The core owns every tensor. */
#ifndef NNTRAIN_LAYER_H
#define NNTRAIN_LAYER_H

#include <stdint.h>
#include "device.h"
#include "plugin.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NN_MAX_INPUTS 8
#define NN_MAX_LAYER_PARAMS 8 /* the fixed arrays of nn_layer_setup and nn_layer_io */
/* ABI 0.5: a layer may declare up to NN_MAX_LAYER_PARAMS_ALL parameters (a stacked
 * bidirectional LSTM, a transformer block). Those past the first NN_MAX_LAYER_PARAMS live in
 * arrays the core hands over (params_more); read any of them with nn_layer_param_decl(),
 * nn_layer_param() and nn_layer_param_grad(). */
#define NN_MAX_LAYER_PARAMS_ALL 64
#define NN_MAX_LAYER_BUFFERS 8
#define NN_NAME_MAX 48

struct nn_dist_info; /* <nntrain/communicator.h> */

/* How the core initialises a parameter or state buffer from the run's seed.
 * fan_in/fan_out come from the declaration. */
typedef enum nn_init {
    NN_INIT_ZEROS = 0,
    NN_INIT_ONES,
    NN_INIT_HE_UNIFORM,     /* U(-b, b), b = gain * sqrt(3 / fan_in), gain = sqrt(2) */
    NN_INIT_HE_NORMAL,      /* N(0, 2 / fan_in) */
    NN_INIT_XAVIER_UNIFORM, /* U(-b, b), b = sqrt(6 / (fan_in + fan_out)) */
    NN_INIT_XAVIER_NORMAL,  /* N(0, 2 / (fan_in + fan_out)) */
    NN_INIT_FAN_IN_UNIFORM, /* U(-b, b), b = 1 / sqrt(fan_in): PyTorch's Linear/Conv default */
    NN_INIT_NORMAL,         /* N(0, init_arg^2) */
    NN_INIT_UNIFORM,        /* U(-init_arg, init_arg) */
    NN_INIT_CONSTANT,       /* ABI 0.4: every element = init_arg, e.g. a learned beta that starts
                               at the model file's value: k = nn_layer_add_param(...), then
                               (k >= 0) nn_layer_param_decl(s, k)->init_arg = value */
} nn_init;

/* parameter and buffer flags */
#define NN_TENSOR_BIAS (1u << 0) /* a bias: excluded from decay when the run asks */
#define NN_TENSOR_NORM (1u << 1) /* a normalisation scale/shift: likewise */

typedef struct nn_param_decl {
    /* "weight", "bias", "self_attn.in_proj_weight": [A-Za-z0-9_] words joined by single
     * dots (no leading, trailing or double dot, nothing else: it becomes part of a
     * checkpoint's tensor name "LAYER.weight"); setup's declarations are refused otherwise.
     * The same rule holds for a buffer's name. */
    char name[NN_NAME_MAX];
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    nn_init init;
    double init_arg;
    int64_t fan_in, fan_out;
    uint32_t flags; /* NN_TENSOR_* */
} nn_param_decl;

typedef enum nn_buffer_kind {
    NN_BUF_SAVED = 1, /* written by a training forward, read by backward; absent in eval plans */
    NN_BUF_WORKSPACE, /* scratch valid during one call only */
    NN_BUF_STATE,     /* persistent, not trained (running mean); saved in checkpoints */
} nn_buffer_kind;

typedef struct nn_buffer_decl {
    char name[NN_NAME_MAX];
    nn_buffer_kind kind;
    nn_dtype dtype;
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    nn_init init; /* NN_BUF_STATE only */
    double init_arg;
} nn_buffer_decl;

typedef struct nn_layer_setup {
    uint32_t struct_size;
    /* in */
    const char *layer_name;
    int training;                           /* 1 if this plan will run backward */
    int n_inputs;
    const nn_tensor *inputs[NN_MAX_INPUTS]; /* shape and dtype only (data NULL); dim 0 = batch */
    /* out */
    nn_tensor output;                       /* set with nn_tensor_describe() */
    int n_params;
    nn_param_decl params[NN_MAX_LAYER_PARAMS];
    int n_buffers;
    nn_buffer_decl buffers[NN_MAX_LAYER_BUFFERS];
    uint64_t flops; /* forward FLOPs for the whole batch; a multiply-add counts 2 */
    const nn_device *device; /* in, ABI 0.4: where the tensors will live (never NULL) */
    /* in, ABI 0.5: room for parameters NN_MAX_LAYER_PARAMS .. NN_MAX_LAYER_PARAMS_ALL - 1,
     * filled by nn_layer_add_param() (NULL from a host older than 0.5) */
    nn_param_decl *params_more;
    /* in, ABI 0.5: as nn_layer_io.dist (NULL: one process); rows and offsets are not set yet */
    const struct nn_dist_info *dist;
    /* ABI 0.6, layouts (tensor.h, nn_layout). A layer may offer one for its output: point
     * output.layout, after nn_tensor_describe(), at an nn_layout it owns (valid until destroy).
     * The core passes the offer on only to a single consumer (never to the model's output),
     * which sees it as inputs[k]->layout: it sets bit k of layout_accept to read input k, and
     * write grad_inputs[k], in that layout, and must copy what it needs from the offer during
     * setup. When the consumer accepts, the core runs setup again on a fresh instance of the
     * producer with output_layout_taken = 1, where it must offer the same layout and may
     * declare fewer buffers (no reorder to plain); in bind, io->output->layout (and
     * io->grad_output's) then point to it. Otherwise every tensor the layer sees is plain. */
    uintptr_t layout_accept;       /* out: bit k = input k taken in its offered layout */
    uintptr_t output_layout_taken; /* in: 1 = the output's offer was accepted */
    /* in, ABI 0.6: the compute type the run asks for: NN_F32, or NN_BF16 for `[train]
     * precision = bf16` (parameters, their gradients and the loss stay f32). A layer with bf16
     * kernels uses them; one whose library has none on this CPU refuses in setup with a
     * sentence; a layer without bf16 kernels at all computes in f32. */
    intptr_t precision;
    const void *reserved[2];
    /* in, ABI 0.7: bit k set = this plan never asks for grad_inputs[k] (an eval plan, the
     * data input, or no parameter before input k), so buffers that only gradient needs may be
     * left undeclared. 0 from an older host: every gradient may be asked for. */
    uintptr_t input_grad_unused;
    /* in, ABI 0.7: 1 = backward may overwrite grad_output's data, which nothing reads after
     * this layer's backward (an activation's derivative applied in place). 0 from an older
     * host: grad_output is read-only. */
    uintptr_t grad_output_scratch;
    /* out, ABI 0.8: bit k = backward writes grad_inputs[k] already zero where inputs[k] <= 0
     * (the ReLU's derivative applied), for an input this layer takes in its offered layout
     * (layout_accept bit k) whose offer says NN_LAYOUT_RELU (tensor.h). The core refuses the
     * bit for any other input. */
    uintptr_t grad_input_masked;
    /* in, ABI 0.8: 1 = the consumer took this layer's offer (output_layout_taken) and, as its
     * NN_LAYOUT_RELU allowed, writes dLoss/dy already zero where y <= 0: backward must not
     * apply the ReLU's derivative again (it may declare fewer buffers). 0 otherwise. */
    uintptr_t output_grad_masked;
} nn_layer_setup;

/* Declaration k of s (k < s->n_params); a borrowed pointer into s. */
static inline nn_param_decl *nn_layer_param_decl(const nn_layer_setup *s, int k)
{
    return k < NN_MAX_LAYER_PARAMS ? (nn_param_decl *)&s->params[k]
                                   : &s->params_more[k - NN_MAX_LAYER_PARAMS];
}

/* Declares a parameter; returns its index k (nn_layer_param(io, k); io.params[k] for k < 8),
 * or -1 when full. */
static inline int nn_layer_add_param(nn_layer_setup *s, const char *name, int ndim,
                                     const int64_t *shape, nn_init init, int64_t fan_in,
                                     int64_t fan_out, uint32_t flags)
{
    if (s->n_params >= NN_MAX_LAYER_PARAMS_ALL || ndim > NN_MAX_DIMS ||
        (s->n_params >= NN_MAX_LAYER_PARAMS && !s->params_more))
        return -1;
    nn_param_decl *d = nn_layer_param_decl(s, s->n_params);
    int i;
    for (i = 0; name[i] && i < NN_NAME_MAX - 1; i++)
        d->name[i] = name[i];
    d->name[i] = 0;
    d->ndim = ndim;
    for (i = 0; i < ndim; i++)
        d->shape[i] = shape[i];
    d->init = init;
    d->init_arg = 0;
    d->fan_in = fan_in;
    d->fan_out = fan_out;
    d->flags = flags;
    return s->n_params++;
}

/* Declares a buffer; returns its index in nn_layer_io.buffers, or -1 when full. */
static inline int nn_layer_add_buffer(nn_layer_setup *s, const char *name, nn_buffer_kind kind,
                                      nn_dtype dtype, int ndim, const int64_t *shape)
{
    if (s->n_buffers >= NN_MAX_LAYER_BUFFERS || ndim > NN_MAX_DIMS)
        return -1;
    nn_buffer_decl *d = &s->buffers[s->n_buffers];
    int i;
    for (i = 0; name[i] && i < NN_NAME_MAX - 1; i++)
        d->name[i] = name[i];
    d->name[i] = 0;
    d->kind = kind;
    d->dtype = dtype;
    d->ndim = ndim;
    for (i = 0; i < ndim; i++)
        d->shape[i] = shape[i];
    d->init = NN_INIT_ZEROS;
    d->init_arg = 0;
    return s->n_buffers++;
}

/* Everything one call of forward or backward touches. The core fills it once per plan; the
 * pointers stay valid (and the same) until the plan is destroyed, so bind() may keep them. */
typedef struct nn_layer_io {
    uint32_t struct_size;
    int training;                                /* forward: 1 = train mode */
    int n_inputs;
    const nn_tensor *inputs[NN_MAX_INPUTS];
    nn_tensor *output;
    nn_tensor *params[NN_MAX_LAYER_PARAMS];
    nn_tensor *param_grads[NN_MAX_LAYER_PARAMS]; /* backward overwrites; NULL in eval plans */
    nn_tensor *buffers[NN_MAX_LAYER_BUFFERS];    /* NULL for SAVED buffers in eval plans */
    const nn_tensor *grad_output;                /* backward: dLoss/dOutput */
    nn_tensor *grad_inputs[NN_MAX_INPUTS];       /* backward overwrites; NULL = not needed */
    uint64_t seed;                               /* fresh every step: nn_rng_init(&r, seed,..) */
    const nn_device *device;                     /* ABI 0.4: as in setup; never NULL */
    /* ABI 0.5: parameters NN_MAX_LAYER_PARAMS .. n_params - 1 and their gradients (entries
     * NULL in eval plans); NULL when the layer declared no more than NN_MAX_LAYER_PARAMS.
     * Prefer nn_layer_param() / nn_layer_param_grad(), which read both halves. */
    nn_tensor *const *params_more;
    nn_tensor *const *param_grads_more;
    /* ABI 0.5: the data-parallel run this plan belongs to (<nntrain/communicator.h>), or NULL
     * when the run is one process. Per-sample random streams key on row_offset + row so that
     * N processes draw what one process would; cross-process statistics use allreduce_sum. */
    const struct nn_dist_info *dist;
    const void *reserved[4];
} nn_layer_io;

/* Parameter k of io (k < the n_params the layer declared), or NULL when absent. */
static inline nn_tensor *nn_layer_param(const nn_layer_io *io, int k)
{
    if (k < NN_MAX_LAYER_PARAMS)
        return io->params[k];
    return io->params_more ? io->params_more[k - NN_MAX_LAYER_PARAMS] : NULL;
}

/* The gradient of parameter k, or NULL (eval plans). */
static inline nn_tensor *nn_layer_param_grad(const nn_layer_io *io, int k)
{
    if (k < NN_MAX_LAYER_PARAMS)
        return io->param_grads[k];
    return io->param_grads_more ? io->param_grads_more[k - NN_MAX_LAYER_PARAMS] : NULL;
}

struct nn_layer_export; /* export.h */

typedef struct nn_layer_vtable {
    NN_VTABLE_COMMON;
    /* required: check inputs (return NN_ESHAPE with a sentence naming the shapes), set output,
     * declare params and buffers. Called once per instance. */
    int (*setup)(void *self, nn_layer_setup *s, nn_error *err);
    /* optional: memory is assigned; create primitives bound to io's tensors */
    int (*bind)(void *self, const nn_layer_io *io, nn_error *err);
    /* required */
    int (*forward)(void *self, const nn_layer_io *io, nn_error *err);
    /* required when caps has NN_CAP_BACKWARD: write grad_inputs[i] that are not NULL and
     * every param_grads[i] */
    int (*backward)(void *self, const nn_layer_io *io, nn_error *err);
    /* optional, ABI 0.5 (took reserved[0]; NULL in older plugins): describe the evaluation-
     * mode function to another runtime (ONNX nodes, PyTorch state-dict extras; see export.h).
     * self has been set up (with the batch of some plan) and holds the trained state.
     * Without it `nntrain export --format onnx` fails naming the layer. */
    int (*export_as)(void *self, const struct nn_layer_export *x, nn_error *err);
    const void *reserved[7];
} nn_layer_vtable;

#ifdef __cplusplus
}
#endif
#endif
