/* nntest_square.h: the layer y = x * x that the deliberately broken test plugins start from
 * (each replaces one call with a wrong one): stateless create/destroy, set-up for one F32
 * input, forward, and the correct backward dx = 2 x dy. Test code; never installed. */
#ifndef NNTEST_SQUARE_H
#define NNTEST_SQUARE_H

#include <stdint.h>
#include <stdlib.h>

#include <nntrain/nntrain.h>

static inline int one_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    if (!(*self = calloc(1, 1)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    return NN_OK;
}

static inline void one_destroy(void *self)
{
    free(self);
}

static inline int sq_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    if (s->n_inputs != 1 || nn_tensor_dtype(s->inputs[0]) != NN_F32)
        return nn_error_set(err, NN_ESHAPE, "takes one F32 input");
    nn_tensor_describe(&s->output, NN_F32, s->inputs[0]->dl.ndim, s->inputs[0]->shape);
    return NN_OK;
}

static inline int sq_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float *x = NN_F32P(io->inputs[0]);
    float *y = NN_F32P(io->output);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++)
        y[i] = x[i] * x[i];
    return NN_OK;
}

/* dx = k x dy: k = 2 is the true derivative, a broken plugin passes another k */
static inline int sq_backward_times(const nn_layer_io *io, float k)
{
    const float *x = NN_F32P(io->inputs[0]), *dy = NN_F32P(io->grad_output);
    float *dx = io->grad_inputs[0] ? NN_F32P(io->grad_inputs[0]) : NULL;
    for (int64_t i = 0, n = nn_tensor_numel(io->output); dx && i < n; i++)
        dx[i] = k * x[i] * dy[i];
    return NN_OK;
}

static inline int sq_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    return sq_backward_times(io, 2);
}

#endif
