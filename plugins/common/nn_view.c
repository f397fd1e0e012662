/* nn_view.c: setup check, forward and backward of the layers that only change the shape
 * (nn_view.h). */
#include "nn_view.h"

#include <string.h>

int nn_view_input(const nn_layer_setup *s, const char *kind, nn_dtype *dtype, nn_error *err)
{
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (%s): takes 1 input, got %d",
                            s->layer_name, kind, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    int dt = nn_tensor_dtype(x);
    if (dt < 0 || x->dl.ndim < 1)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s' (%s): input %s needs a known dtype and a batch "
                            "dimension",
                            s->layer_name, kind, nn_shape_str(x, shape, sizeof shape));
    *dtype = (nn_dtype)dt;
    return NN_OK;
}

int nn_view_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    void *y = NN_U8P(io->output);
    const void *x = NN_U8P(io->inputs[0]);
    if (y != x)
        memcpy(y, x, nn_tensor_nbytes(io->output));
    return NN_OK;
}

int nn_view_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    if (!io->grad_inputs[0])
        return NN_OK;
    void *gx = NN_U8P(io->grad_inputs[0]);
    const void *g = NN_U8P(io->grad_output);
    if (gx != g)
        memcpy(gx, g, nn_tensor_nbytes(io->grad_output));
    return NN_OK;
}
