/* nn_axis.h: what the layers share that normalise along one axis of an F32 tensor (softmax,
 * log_softmax): the `axis` key, the input seen as [outer, len, inner] with len along the
 * axis, and a WORKSPACE of 2 * inner floats for per-slice maxima and sums. They never
 * allocate per step. Static helper library (libnn_kit.a) for plugins only; never the core. */
#ifndef NN_AXIS_H
#define NN_AXIS_H

#include <nntrain/nntrain.h>

typedef struct nn_axis_layer {
    const char *kind;          /* the plugin's name, for messages */
    int64_t axis_param;        /* as given: negative counts from the end */
    int64_t outer, len, inner; /* the input seen as [outer, len, inner], len along the axis */
    int ws_buf;                /* WORKSPACE of 2 * inner floats */
} nn_axis_layer;

/* create with the plugin's name (a string literal) and its `axis` key; destroy frees it */
int nn_axis_create(const char *kind, const nn_params *params, void **self, nn_error *err);
void nn_axis_destroy(void *self);

/* one F32 input of 2 or more dimensions; axis names a non-batch axis: the output has the
 * input's shape, the workspace is declared, flops = 5 per element */
int nn_axis_setup(void *self, nn_layer_setup *s, nn_error *err);

/* ONNX: op (Softmax, LogSoftmax) along the same axis (opset 13 and later take one axis) */
int nn_axis_export(void *self, const nn_layer_export *x, const char *op, nn_error *err);

#endif
