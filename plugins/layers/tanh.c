/* tanh.c: the layer plugin "tanh", y = tanh(x),
 * elementwise on an F32 tensor of any shape. Forward and backward are plain loops that never
 * allocate. Backward reads the layer's output, which the graph keeps alive until backward. */
#include <math.h>
#include <nntrain/nntrain.h>
#include <stdlib.h>

typedef struct tanh_layer {
    int unused;
} tanh_layer;

static int tanh_create(const nn_params *params, void **self, nn_error *err)
{
    (void)params;
    tanh_layer *a = calloc(1, sizeof *a);
    if (!a)
        return nn_error_set(err, NN_ENOMEM, "tanh: out of memory");
    *self = a;
    return NN_OK;
}

static void tanh_destroy(void *self)
{
    free(self);
}

static int tanh_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (tanh): takes 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (tanh): input %s must be F32",
                            s->layer_name, nn_shape_str(x, shape, sizeof shape));
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    s->flops = (uint64_t)nn_tensor_numel(x) * 6;
    return NN_OK;
}

static int tanh_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    (void)self;
    const float *restrict x = NN_F32P(io->inputs[0]);
    float *restrict y = NN_F32P(io->output);
    int64_t n = nn_tensor_numel(io->output);
    for (int64_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
    return NN_OK;
}

static int tanh_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    (void)self;
    if (!io->grad_inputs[0])
        return NN_OK;
    const float *restrict g = NN_F32P(io->grad_output);
    float *restrict gx = NN_F32P(io->grad_inputs[0]);
    int64_t n = nn_tensor_numel(io->output);
    const float *restrict y = NN_F32P(io->output);
    for (int64_t i = 0; i < n; i++)
        gx[i] = g[i] * (1.0f - y[i] * y[i]);
    return NN_OK;
}

static const nn_layer_vtable tanh_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = tanh_create,
    .destroy = tanh_destroy,
    .setup = tanh_setup,
    .forward = tanh_forward,
    .backward = tanh_backward,
};

static const nn_param_spec tanh_params[] = {
    {.name = NULL},
};

static const nn_plugin_desc tanh_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "tanh", .version = "1.0.0", .license = "MIT",
    .summary = "Hyperbolic tangent: y = tanh(x), elementwise",
    .caps = NN_CAP_BACKWARD, .params = tanh_params, .vtable = &tanh_vtable);

NN_PLUGIN_EXPORT(&tanh_desc);
