/* elu.c: the layer plugin "elu", y = x for x > 0, alpha * (exp(x) - 1) otherwise,
 * elementwise on an F32 tensor of any shape. Forward and backward are plain loops that never
 * allocate. Backward reads the layer's input and output, which the graph keeps until backward. */
#include <math.h>
#include <nntrain/nntrain.h>
#include <stdlib.h>

typedef struct elu {
    float alpha;
} elu;

static int elu_create(const nn_params *params, void **self, nn_error *err)
{
    elu *a = calloc(1, sizeof *a);
    if (!a)
        return nn_error_set(err, NN_ENOMEM, "elu: out of memory");
    a->alpha = (float)nn_params_float(params, "alpha");
    *self = a;
    return NN_OK;
}

static void elu_destroy(void *self)
{
    free(self);
}

static int elu_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (elu): takes 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (elu): input %s must be F32",
                            s->layer_name, nn_shape_str(x, shape, sizeof shape));
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    s->flops = (uint64_t)nn_tensor_numel(x) * 4;
    return NN_OK;
}

static int elu_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const float alpha = ((const elu *)self)->alpha;
    const float *restrict x = NN_F32P(io->inputs[0]);
    float *restrict y = NN_F32P(io->output);
    int64_t n = nn_tensor_numel(io->output);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
    return NN_OK;
}

static int elu_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const float alpha = ((const elu *)self)->alpha;
    if (!io->grad_inputs[0])
        return NN_OK;
    const float *restrict g = NN_F32P(io->grad_output);
    float *restrict gx = NN_F32P(io->grad_inputs[0]);
    int64_t n = nn_tensor_numel(io->output);
    const float *restrict x = NN_F32P(io->inputs[0]);
    const float *restrict y = NN_F32P(io->output);
    /* for x <= 0: dy/dx = alpha * exp(x) = y + alpha, no second exp */
    for (int64_t i = 0; i < n; i++)
        gx[i] = x[i] > 0.0f ? g[i] : g[i] * (y[i] + alpha);
    return NN_OK;
}

static const nn_layer_vtable elu_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = elu_create,
    .destroy = elu_destroy,
    .setup = elu_setup,
    .forward = elu_forward,
    .backward = elu_backward,
};

static const nn_param_spec elu_params[] = {
    {.name = "alpha", .type = NN_PARAM_FLOAT, .def = "1.0", .range = "[0, inf)",
     .doc = "value the output approaches for very negative x: y = alpha * (exp(x) - 1)"},
    {.name = NULL},
};

static const nn_plugin_desc elu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "elu", .version = "1.0.0", .license = "MIT",
    .summary = "Exponential linear unit: y = x if x > 0 else alpha * (exp(x) - 1)",
    .caps = NN_CAP_BACKWARD, .params = elu_params, .vtable = &elu_vtable);

NN_PLUGIN_EXPORT(&elu_desc);
