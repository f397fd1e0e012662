/* export_internal.h: the core's side of <nntrain/export.h>: the nn_export being written (its
 * value names, nodes, constants and PyTorch tensors), the walk over a session's layers and
 * transforms, and the two writers (ONNX, safetensors for PyTorch). Core-only. */
#ifndef NN_EXPORT_INTERNAL_H
#define NN_EXPORT_INTERNAL_H

#include <stdint.h>

#include "nntrain/export.h"
#include "nn_pb.h"
#include "session.h"

#define NN_ONNX_OPSET_MIN 17
#define NN_ONNX_OPSET_MAX 21

/* ---- export_graph.c: the builder behind the nn_export_* calls ---- */

/* returns an owned, empty export of format (NN_EXPORT_*) and opset, or NULL (no memory) */
nn_export *nn_export_new(int format, int opset);
void nn_export_free(nn_export *x);
/* Names what the following calls belong to, for value names ("NAME.hint") and messages:
 * kind "layer" or "transform" (NULL kind and name: the graph itself). */
void nn_export_scope(nn_export *x, const char *kind, const char *name);
/* Takes a value name: `want` if free, else want_1, want_2...; defined = 1 for a value that
 * exists from the start (the graph input), 0 for one a node must write. returns the name
 * (owned by x) or NULL. */
const char *nn_export_claim(nn_export *x, const char *want, int defined);
/* 1 when some node (or the graph input, or a constant) has written the value */
int nn_export_defined(const nn_export *x, const char *name);
int nn_export_opset(const nn_export *x);
int nn_export_kind(const nn_export *x);
/* Appends every node as GraphProto.node fields to graph (in the order added), then the
 * constants as GraphProto.initializer fields. Identity nodes are left out (their readers
 * read their input) unless they write one of keep[0..n_keep), the graph's outputs. */
void nn_export_encode(const nn_export *x, nn_pb_buf *graph, int n_keep,
                      const char *const *keep);
/* TensorProto fields of t (dims, type, raw data) with the given name into b; 0, or -1 for a
 * dtype ONNX is not given here */
int nn_export_tensor_proto(nn_pb_buf *b, const char *name, const nn_tensor *t);

/* NN_EXPORT_TORCH: the state dict being built. The core adds each parameter and STATE buffer
 * (borrowed, extra = 0); nn_export_tensor() replaces one of them or adds an owned copy
 * (extra = 1). */
int nn_export_torch_add(nn_export *x, const char *name, const nn_tensor *t);
int nn_export_torch_count(const nn_export *x);
const nn_tensor *nn_export_torch_at(const nn_export *x, int i, const char **name, int *extra);

/* ---- export_model.c: the session's layers through their export slots ---- */

typedef struct nn_export_walk {
    const char *input;   /* the value the first layers read (after the transforms) */
    const char *output;  /* the model's output value, claimed (not yet written) by the caller */
    int64_t steps;       /* nn_layer_export.steps */
} nn_export_walk;

/* Calls every layer's export_as in topological order on the session's evaluation plan (its
 * first), with the weights of the session's host tensors. A layer without the slot fails
 * the ONNX format naming it and its plugin file. */
int nn_export_model(nn_session *s, nn_export *x, const nn_export_walk *w, nn_error *err);

/* ---- core/data/export_chain.c: the transforms evaluation runs ---- */

/* a sample as the dataset plugin gives it, before the transforms (borrowed) */
const nn_tensor *nn_data_raw_sample(const nn_data *d);
/* Adds the nodes of every transform that runs at evaluation, reading value `input` (a batch
 * of raw samples); *output gets the value the model reads (input itself without any). */
int nn_data_export(const nn_data *d, nn_export *x, const char *input, const char **output,
                   nn_error *err);

/* ---- the writers ---- */

typedef struct nn_export_opts {
    const char *checkpoint; /* where the weights came from (metadata, num_batches_tracked) */
    const char *output;     /* the file to write (replaced atomically) */
    int opset;              /* ONNX: NN_ONNX_OPSET_MIN..MAX */
    int64_t steps;          /* the checkpoint's global_step, -1 unknown */
} nn_export_opts;

/* export_onnx.c: the ONNX model of the session (weights loaded): inference transforms,
 * layers, probabilities for classification, metadata. */
int nn_export_onnx(nn_session *s, const nn_export_opts *o, nn_error *err);
/* export_torch.c: the model's weights under PyTorch's state-dict names, as safetensors */
int nn_export_torch(nn_session *s, const nn_export_opts *o, nn_error *err);
/* export_torch.c: the state-dict names the layers' export slots add beyond the model's own
 * tensors (PyTorch bookkeeping such as num_batches_tracked), for --init-from. *names is an
 * owned NULL-terminated array (free each entry and the array). */
int nn_export_torch_extras(nn_session *s, char ***names, nn_error *err);

#endif
