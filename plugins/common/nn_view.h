/* nn_view.h: what the layers share whose output is their input's bytes under another shape
 * (flatten, reshape): the input check of their setup, and forward and backward, which copy
 * the bytes unless the graph gave input and output the same memory. They never allocate.
 * Static helper library (libnn_kit.a) for plugins only; never part of the core. */
#ifndef NN_VIEW_H
#define NN_VIEW_H

#include <nntrain/nntrain.h>

/* s has one input with a known dtype and a batch dimension; else NN_EINVAL naming the layer,
 * its plugin `kind` and the input's shape. The dtype goes to *dtype. */
int nn_view_input(const nn_layer_setup *s, const char *kind, nn_dtype *dtype, nn_error *err);

/* output = input, and grad_input = grad_output (none: nothing to do) */
int nn_view_forward(void *self, const nn_layer_io *io, nn_error *err);
int nn_view_backward(void *self, const nn_layer_io *io, nn_error *err);

#endif
