/* sigmoid.c: the layer plugin "sigmoid", y = 1 / (1 + exp(-x)),
 * elementwise on an F32 tensor of any shape. Forward and backward are plain loops that never
 * allocate. Backward reads the layer's output, which the graph keeps alive until backward. */
#include <math.h>
#include <nntrain/nntrain.h>
#include <stdlib.h>

typedef struct sigmoid {
    int unused;
} sigmoid;

static int sigmoid_create(const nn_params *params, void **self, nn_error *err)
{
    (void)params;
    sigmoid *a = calloc(1, sizeof *a);
    if (!a)
        return nn_error_set(err, NN_ENOMEM, "sigmoid: out of memory");
    *self = a;
    return NN_OK;
}

static void sigmoid_destroy(void *self)
{
    free(self);
}

static int sigmoid_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (sigmoid): takes 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (sigmoid): input %s must be F32",
                            s->layer_name, nn_shape_str(x, shape, sizeof shape));
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    s->flops = (uint64_t)nn_tensor_numel(x) * 4;
    return NN_OK;
}

static int sigmoid_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    (void)self;
    const float *restrict x = NN_F32P(io->inputs[0]);
    float *restrict y = NN_F32P(io->output);
    int64_t n = nn_tensor_numel(io->output);
    for (int64_t i = 0; i < n; i++)
        y[i] = 1.0f / (1.0f + expf(-x[i]));
    return NN_OK;
}

static int sigmoid_backward(void *self, const nn_layer_io *io, nn_error *err)
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
        gx[i] = g[i] * y[i] * (1.0f - y[i]);
    return NN_OK;
}

static const nn_layer_vtable sigmoid_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = sigmoid_create,
    .destroy = sigmoid_destroy,
    .setup = sigmoid_setup,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
};

static const nn_param_spec sigmoid_params[] = {
    {.name = NULL},
};

static const nn_plugin_desc sigmoid_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "sigmoid", .version = "1.0.0", .license = "MIT",
    .summary = "Logistic sigmoid: y = 1 / (1 + exp(-x)), elementwise",
    .caps = NN_CAP_BACKWARD, .params = sigmoid_params, .vtable = &sigmoid_vtable);

NN_PLUGIN_EXPORT(&sigmoid_desc);
