/* export.h: how a plugin describes what it computes to runtimes outside nntrain (ABI 0.5).
 * A layer, or a transform that runs at inference, fills the optional `export_as` slot of its
 * vtable. `nntrain export` calls it once per instance with the file being written, and the
 * plugin adds the ONNX nodes of its evaluation-mode function through the builder below
 * (implemented in libnncore). A plugin without the slot makes the export fail with its name:
 * nntrain never writes a graph it cannot vouch for. The same slot adds what PyTorch's state
 * dict holds beyond the plugin's parameters (`--format safetensors-torch`). */
#ifndef NNTRAIN_EXPORT_H
#define NNTRAIN_EXPORT_H

#include <stdint.h>

#include "layer.h"
#include "params.h"
#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the slot is asked to write (nn_layer_export.format). */
typedef enum nn_export_format {
    /* the ONNX nodes computing `output` from `inputs` in evaluation mode (dropout off,
     * running statistics): nothing may be left out or approximated */
    NN_EXPORT_ONNX = 1,
    /* a PyTorch state dict: the core writes every parameter and STATE buffer under its name
     * ("LAYER.weight") as stored; the slot adds or replaces tensors with nn_export_tensor()
     * where PyTorch's module has more or lays them out otherwise (batch norm's
     * num_batches_tracked). A layer without the slot is written as stored. */
    NN_EXPORT_TORCH = 2,
} nn_export_format;

/* The file being written: opaque, owned by the core. Every function below records its first
 * failure in it (a bad argument, an unknown value name, out of memory) and then does nothing;
 * the core reports that failure naming the plugin even when the slot returned NN_OK. */
typedef struct nn_export nn_export;

typedef struct nn_layer_export {
    uint32_t struct_size;
    int format;                 /* nn_export_format */
    nn_export *out;             /* for the nn_export_* calls */
    const char *layer_name;
    const nn_params *keys;      /* the layer's keys, as create() got them */
    int opset;                  /* ONNX: the opset version being written (17 or later) */
    int n_inputs;
    const char *inputs[NN_MAX_INPUTS];           /* ONNX: the inputs' value names */
    const nn_tensor *input_descs[NN_MAX_INPUTS]; /* shapes and dtypes as setup() saw them (no
                                                    data). Dim 0 is the batch, which the graph
                                                    keeps dynamic: never write its extent into
                                                    a node (nn_export_reshape keeps it) */
    const char *output;         /* ONNX: the value name the layer's output must get */
    const nn_tensor *output_desc;
    int n_params;
    const nn_tensor *const *params;  /* n_params values on the host, in declaration order */
    const nn_tensor *const *buffers; /* per buffer index of setup(): a STATE buffer's values on
                                        the host (running statistics), NULL for the others */
    int64_t steps;              /* optimizer steps the weights have had (the checkpoint's
                                   global_step), -1 when unknown */
    const void *reserved[8];
} nn_layer_export;

/* A transform that runs at evaluation (setup cleared train_only) exports the same way: the
 * ONNX nodes turning the graph's input into what the model's first layer reads. */
typedef struct nn_transform_export {
    uint32_t struct_size;
    int format;                 /* NN_EXPORT_ONNX */
    nn_export *out;
    const char *name;           /* NAME of [transform.NAME] */
    const nn_params *keys;
    int opset;
    const char *input, *output; /* value names */
    const nn_tensor *in_desc, *out_desc; /* ONE sample, as setup() saw it: in the graph these
                                            values have a leading batch dimension */
    const void *reserved[8];
} nn_transform_export;

/* ---- value names and constants ---------------------------------------------------------- */

/* A fresh value name for an intermediate result, "LAYER.hint" (made unique). returns a string
 * owned by out, valid until the export ends, or NULL after a failure. */
const char *nn_export_value(nn_export *out, const char *hint);
/* A constant (an initializer) holding a copy of the host tensor t (contiguous; F32, F64, F16,
 * BF16, I32, I64 or U8), named "LAYER.hint": a parameter keeps its checkpoint name with
 * hint = its declared name. returns the value name (owned by out) or NULL. */
const char *nn_export_const(nn_export *out, const char *hint, const nn_tensor *t);
/* The same from plain arrays: float32 or int64 values of the given shape (ndim 0: a scalar). */
const char *nn_export_const_f32(nn_export *out, const char *hint, int ndim,
                                const int64_t *shape, const float *v);
const char *nn_export_const_i64(nn_export *out, const char *hint, int ndim,
                                const int64_t *shape, const int64_t *v);

/* ---- nodes --------------------------------------------------------------------------- */

/* Adds the node op (an ONNX operator of the default domain) reading the values in[0..n_in)
 * and writing out_names[0..n_out). An input must already exist (the graph input, a constant,
 * an earlier node's output); "" leaves an optional input out. An output must be a name from
 * nn_export_value() or the slot's `output`, written by no other node. returns the node's
 * index (>= 0) for the attribute calls, or a negative status. */
int nn_export_node(nn_export *out, const char *op, int n_in, const char *const *in, int n_out,
                   const char *const *out_names);
/* y = op(x), y = op(a, b): the common shapes of a node; return as nn_export_node */
int nn_export_op1(nn_export *out, const char *op, const char *x, const char *y);
int nn_export_op2(nn_export *out, const char *op, const char *a, const char *b, const char *y);
/* Attributes of node `node`; return NN_OK or a negative status */
int nn_export_attr_int(nn_export *out, int node, const char *name, int64_t v);
int nn_export_attr_float(nn_export *out, int node, const char *name, float v);
int nn_export_attr_string(nn_export *out, int node, const char *name, const char *v);
int nn_export_attr_ints(nn_export *out, int node, const char *name, int n, const int64_t *v);
int nn_export_attr_floats(nn_export *out, int node, const char *name, int n, const float *v);

/* ---- helpers for what many layers need --------------------------------------------- */

/* y = x reshaped to [N, dims[0], ..., dims[ndim-1]], N being x's (dynamic) batch. */
int nn_export_reshape(nn_export *out, const char *x, int ndim, const int64_t *dims,
                      const char *y);
/* An int64 shape value [N, dims...] with N the batch of value `like` (for Expand and the
 * like). returns the value name, or NULL. */
const char *nn_export_batch_shape(nn_export *out, const char *like, int ndim,
                                  const int64_t *dims);
/* y = op(x) reduced over axes (ReduceMean, ReduceMax, ReduceSum, ...), written as the opset
 * wants them (an attribute before opset 18, an input from 18 on). */
int nn_export_reduce(nn_export *out, const char *op, int n_axes, const int64_t *axes,
                     int keepdims, const char *x, const char *y);
/* y = x W^T + b over the last axis of x (of rank x_ndim >= 2), with W [out, in] and b [out]
 * host tensors as PyTorch's Linear holds them (b may be NULL): Gemm for a rank-2 x, else
 * MatMul with a transposed copy of W, then Add. Constants are named "LAYER.hint.weight" (or
 * ".weight_t"), "LAYER.hint.bias"; hint NULL or "" leaves that part out. */
int nn_export_linear(nn_export *out, const char *hint, const char *x, int x_ndim,
                     const nn_tensor *w, const nn_tensor *b, const char *y);
/* y = layer normalisation of x over its last axis (of extent d), times w [d] plus b [d] (host
 * tensors; w NULL: ones, b NULL: none), as PyTorch's LayerNorm: LayerNormalization (opset
 * 17) with constants "LAYER.hint.weight", "LAYER.hint.bias". */
int nn_export_layernorm(nn_export *out, const char *hint, const char *x, int64_t d,
                        const nn_tensor *w, const nn_tensor *b, double eps, const char *y);
/* y = f(x) for a common activation, in the nodes the opset has for it:
 *   identity, none, relu, sigmoid, tanh, swish, silu, mish, hardswish: no argument;
 *   leaky_relu: args[0] = negative slope;  elu: args[0] = alpha;
 *   gelu: args[0] = 0 exact (erf), 1 the tanh approximation;
 *   softplus: args[0] = beta, args[1] = threshold (PyTorch's: the identity above it).
 * Missing arguments take PyTorch's defaults. An unknown name fails (NN_ENOTSUP) naming it. */
int nn_export_activation(nn_export *out, const char *fn, int n_args, const double *args,
                         const char *x, const char *y);

/* ---- PyTorch state dicts (NN_EXPORT_TORCH) ------------------------------------------ */

/* Writes host tensor t (copied) as "LAYER.name", replacing the parameter or state buffer of
 * that name if there is one. Also tells `--init-from` that a file's tensor of that name is
 * PyTorch's bookkeeping, not a weight the model lacks. */
int nn_export_tensor(nn_export *out, const char *name, const nn_tensor *t);

/* Records a failure of the plugin's own (out of memory, a configuration with no ONNX form)
 * as the export's first failure, unless one is recorded already; returns status. For
 * helpers that return value names (NULL then means: see nn_export_status). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int nn_export_fail(nn_export *out, int status, const char *fmt, ...);
/* NN_OK, or the first failure recorded in out (err gets its sentence). */
int nn_export_status(const nn_export *out, nn_error *err);

#ifdef __cplusplus
}
#endif
#endif
