/* fixture_layer.h: the layer (y = factor * x) that the registry's test plugins share, so that
 * each test plugin file shows only what makes it broken (or valid). Test fixtures only: never
 * installed, never on NNTRAIN_PLUGIN_PATH. */
#ifndef NNTEST_FIXTURE_LAYER_H
#define NNTEST_FIXTURE_LAYER_H

#include <stdlib.h>
#include <string.h>

#include <nntrain/nntrain.h>

typedef struct fixture_self {
    double factor; /* read from the parameters, so a test can see create() ran with them */
} fixture_self;

static int fixture_create(const nn_params *params, void **self, nn_error *err)
{
    fixture_self *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", nn_params_origin(params));
    s->factor = nn_params_has(params, "factor") ? nn_params_float(params, "factor") : 1.0;
    /* lets a test see how nn_instance_create reports a create() that fails */
    const char *tag = nn_params_str(params, "tag");
    if (tag && strcmp(tag, "fail") == 0) {
        free(s);
        return nn_error_set(err, NN_EINVAL, "tag 'fail' asks create() to fail");
    }
    if (tag && strcmp(tag, "fail_at_origin") == 0) { /* as plugins that name their origin do */
        free(s);
        return nn_error_set(err, NN_EINVAL, "%s: tag 'fail_at_origin' asks create() to fail",
                            nn_params_origin(params));
    }
    *self = s;
    return NN_OK;
}

static void fixture_destroy(void *self)
{
    free(self);
}

static int fixture_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': expected 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *in = s->inputs[0];
    nn_tensor_describe(&s->output, (nn_dtype)nn_tensor_dtype(in), in->dl.ndim, in->shape);
    return NN_OK;
}

/* f32 only: the tests that run it pass f32 */
static int fixture_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const fixture_self *s = self;
    (void)err;
    const float *x = NN_F32P(io->inputs[0]);
    float *y = NN_F32P(io->output);
    for (int64_t i = 0; i < nn_tensor_numel(io->output); i++)
        y[i] = (float)(s->factor * x[i]);
    return NN_OK;
}

static int fixture_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const fixture_self *s = self;
    (void)err;
    if (!io->grad_inputs[0])
        return NN_OK;
    const float *dy = NN_F32P(io->grad_output);
    float *dx = NN_F32P(io->grad_inputs[0]);
    for (int64_t i = 0; i < nn_tensor_numel(io->grad_output); i++)
        dx[i] = (float)(s->factor * dy[i]);
    return NN_OK;
}

#define FIXTURE_LAYER_VTABLE                                                    \
    {                                                                          \
        .struct_size = sizeof(nn_layer_vtable),                                \
        .create = fixture_create,                                              \
        .destroy = fixture_destroy,                                            \
        .setup = fixture_setup,                                                \
        .forward = fixture_forward,                                            \
        .backward = fixture_backward,                                          \
    }

#endif
