/* leaky_relu.c: the layer plugin "leaky_relu", y = x for x > 0, negative_slope * x otherwise,
 * elementwise on an F32 tensor of any shape. Forward and backward are plain loops that never
 * allocate. Backward reads the layer's input, which the graph keeps alive until backward. */
#include <math.h>
#include <nntrain/nntrain.h>
#include <stdlib.h>

typedef struct leaky_relu {
    float slope;
} leaky_relu;

static int leaky_relu_create(const nn_params *params, void **self, nn_error *err)
{
    leaky_relu *a = calloc(1, sizeof *a);
    if (!a)
        return nn_error_set(err, NN_ENOMEM, "leaky_relu: out of memory");
    a->slope = (float)nn_params_float(params, "negative_slope");
    *self = a;
    return NN_OK;
}

static void leaky_relu_destroy(void *self)
{
    free(self);
}

static int leaky_relu_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (leaky_relu): takes 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (leaky_relu): input %s must be F32",
                            s->layer_name, nn_shape_str(x, shape, sizeof shape));
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    s->flops = (uint64_t)nn_tensor_numel(x) * 2;
    return NN_OK;
}

static int leaky_relu_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const float k = ((const leaky_relu *)self)->slope;
    const float *restrict x = NN_F32P(io->inputs[0]);
    float *restrict y = NN_F32P(io->output);
    int64_t n = nn_tensor_numel(io->output);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : k * x[i];
    return NN_OK;
}

static int leaky_relu_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const float k = ((const leaky_relu *)self)->slope;
    if (!io->grad_inputs[0])
        return NN_OK;
    const float *restrict g = NN_F32P(io->grad_output);
    float *restrict gx = NN_F32P(io->grad_inputs[0]);
    int64_t n = nn_tensor_numel(io->output);
    const float *restrict x = NN_F32P(io->inputs[0]);
    for (int64_t i = 0; i < n; i++)
        gx[i] = x[i] > 0.0f ? g[i] : k * g[i];
    return NN_OK;
}

static const nn_layer_vtable leaky_relu_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = leaky_relu_create,
    .destroy = leaky_relu_destroy,
    .setup = leaky_relu_setup,
    .forward = leaky_relu_forward,
    .backward = leaky_relu_backward,
};

static const nn_param_spec leaky_relu_params[] = {
    {.name = "negative_slope", .type = NN_PARAM_FLOAT, .def = "0.01", .range = "[0, inf)",
     .doc = "slope of the line for x <= 0 (PyTorch's LeakyReLU negative_slope)"},
    {.name = NULL},
};

static const nn_plugin_desc leaky_relu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "leaky_relu", .version = "1.0.0", .license = "MIT",
    .summary = "Leaky ReLU: y = x if x > 0 else negative_slope * x",
    .caps = NN_CAP_BACKWARD, .params = leaky_relu_params, .vtable = &leaky_relu_vtable);

NN_PLUGIN_EXPORT(&leaky_relu_desc);
