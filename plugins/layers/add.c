/* add.c: the layer plugin "add", y = x0 + x1 + ... for 2 to 8 F32 inputs of one shape (the
 * residual connection). Backward hands grad_output to every input that asks for it. Plain
 * loops over contiguous floats; never allocates. */
#include <nntrain/nntrain.h>
#include <stdlib.h>
#include <string.h>

typedef struct add {
    int unused;
} add;

static int add_create(const nn_params *params, void **self, nn_error *err)
{
    (void)params;
    add *a = calloc(1, sizeof *a);
    if (!a)
        return nn_error_set(err, NN_ENOMEM, "add: out of memory");
    *self = a;
    return NN_OK;
}

static void add_destroy(void *self)
{
    free(self);
}

static int add_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    char a[128], b[128];
    if (s->n_inputs < 2)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (add): needs at least 2 inputs, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x0 = s->inputs[0];
    for (int i = 0; i < s->n_inputs; i++) {
        const nn_tensor *x = s->inputs[i];
        if (nn_tensor_dtype(x) != NN_F32)
            return nn_error_set(err, NN_EINVAL, "layer '%s' (add): input %d %s must be F32",
                                s->layer_name, i, nn_shape_str(x, a, sizeof a));
        if (!nn_shape_equal(x, x0))
            return nn_error_set(err, NN_ESHAPE,
                                "layer '%s' (add): input 0 has shape %s but input %d has shape "
                                "%s; all inputs must have the same shape",
                                s->layer_name, nn_shape_str(x0, a, sizeof a), i,
                                nn_shape_str(x, b, sizeof b));
    }
    nn_tensor_describe(&s->output, NN_F32, x0->dl.ndim, x0->shape);
    s->flops = (uint64_t)nn_tensor_numel(x0) * (uint64_t)(s->n_inputs - 1);
    return NN_OK;
}

static int add_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    float *restrict y = NN_F32P(io->output);
    const float *restrict x0 = NN_F32P(io->inputs[0]);
    const float *restrict x1 = NN_F32P(io->inputs[1]);
    int64_t n = nn_tensor_numel(io->output);
    for (int64_t i = 0; i < n; i++)
        y[i] = x0[i] + x1[i];
    for (int k = 2; k < io->n_inputs; k++) {
        const float *restrict x = NN_F32P(io->inputs[k]);
        for (int64_t i = 0; i < n; i++)
            y[i] += x[i];
    }
    return NN_OK;
}

static int add_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float *g = NN_F32P(io->grad_output);
    size_t bytes = nn_tensor_nbytes(io->grad_output);
    for (int k = 0; k < io->n_inputs; k++) {
        if (!io->grad_inputs[k])
            continue;
        float *gx = NN_F32P(io->grad_inputs[k]);
        if (gx != g)
            memcpy(gx, g, bytes);
    }
    return NN_OK;
}

/* ONNX: a chain of Add in the order forward sums, so the rounding is the same */
static int add_export(void *self, const nn_layer_export *x, nn_error *err)
{
    (void)self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    const char *acc = x->inputs[0];
    for (int k = 1; k < x->n_inputs; k++) {
        const char *y = k + 1 == x->n_inputs ? x->output : nn_export_value(x->out, "sum");
        nn_export_op2(x->out, "Add", acc, x->inputs[k], y);
        acc = y;
    }
    return nn_export_status(x->out, err);
}

static const nn_layer_vtable add_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = add_create,
    .destroy = add_destroy,
    .setup = add_setup,
    .forward = add_forward,
    .backward = add_backward,
    .export_as = add_export, /* optional: ONNX */
};

static const nn_param_spec add_params[] = {
    {.name = NULL},
};

static const nn_plugin_desc add_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "add", .version = "1.0.0", .license = "MIT",
    .summary = "Elementwise sum of 2 or more inputs of the same shape (residual connections)",
    .caps = NN_CAP_BACKWARD, .params = add_params, .vtable = &add_vtable);

NN_PLUGIN_EXPORT(&add_desc);
