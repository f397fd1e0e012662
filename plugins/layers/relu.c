/* relu.c: the layer plugin "relu", y = max(x, 0), elementwise on an F32 tensor of any shape.
 * Forward and backward are plain loops over contiguous floats that the compiler vectorises;
 * they must never allocate. Backward reads the layer's input, which the graph keeps. */
#include <nntrain/nntrain.h>
#include <stdlib.h>

typedef struct relu {
    int unused;
} relu;

static int relu_create(const nn_params *params, void **self, nn_error *err)
{
    (void)params;
    relu *r = calloc(1, sizeof *r);
    if (!r)
        return nn_error_set(err, NN_ENOMEM, "relu: out of memory");
    *self = r;
    return NN_OK;
}

static void relu_destroy(void *self)
{
    free(self);
}

static int relu_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (relu): takes 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (relu): input %s must be F32",
                            s->layer_name, nn_shape_str(x, shape, sizeof shape));
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    s->flops = (uint64_t)nn_tensor_numel(x);
    return NN_OK;
}

static int relu_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float *restrict x = NN_F32P(io->inputs[0]);
    float *restrict y = NN_F32P(io->output);
    int64_t n = nn_tensor_numel(io->output);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return NN_OK;
}

static int relu_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    if (!io->grad_inputs[0])
        return NN_OK;
    const float *restrict x = NN_F32P(io->inputs[0]);
    const float *restrict g = NN_F32P(io->grad_output);
    float *restrict gx = NN_F32P(io->grad_inputs[0]);
    int64_t n = nn_tensor_numel(io->output);
    for (int64_t i = 0; i < n; i++)
        gx[i] = x[i] > 0.0f ? g[i] : 0.0f;
    return NN_OK;
}

static const nn_layer_vtable relu_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = relu_create,
    .destroy = relu_destroy,
    .setup = relu_setup,
    .forward = relu_forward,
    .backward = relu_backward,
};

static const nn_param_spec relu_params[] = {
    {.name = NULL},
};

static const nn_plugin_desc relu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "relu", .version = "1.0.0", .license = "MIT",
    .summary = "Rectified linear unit: y = max(x, 0), elementwise",
    .caps = NN_CAP_BACKWARD, .params = relu_params, .vtable = &relu_vtable);

NN_PLUGIN_EXPORT(&relu_desc);
