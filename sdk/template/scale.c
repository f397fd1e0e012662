/* scale.c: the SDK's template plugin, a layer "scale" computing y = factor * alpha * x, where
 * factor is a fixed parameter from the model file and alpha a learned scalar (starts at 1).
 * Copy this file to start a plugin. It includes only <nntrain/...> and never allocates in
 * forward or backward: the core owns every tensor, including alpha and its gradient.
 * `nntrain plugins test scale --plugin-dir build` checks it; test_scale.c is its unit test. */
#include <stdlib.h>

#include <nntrain/nntrain.h>

typedef struct scale {
    double factor; /* from the model file, already parsed and range-checked by the core */
} scale;

/* create: the parameters are valid (schema below); keep what forward needs */
static int scale_create(const nn_params *params, void **self, nn_error *err)
{
    scale *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "%s: scale: out of memory",
                            nn_params_origin(params));
    s->factor = nn_params_float(params, "factor");
    *self = s;
    return NN_OK;
}

static void scale_destroy(void *self)
{
    free(self);
}

/* setup: check the input, describe the output, declare the learned scalar alpha */
static int scale_setup(void *self, nn_layer_setup *su, nn_error *err)
{
    (void)self;
    char shape[128];
    if (su->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s' (scale): takes 1 input, got %d",
                            su->layer_name, su->n_inputs);
    const nn_tensor *x = su->inputs[0];
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (scale): input %s must be F32",
                            su->layer_name, nn_shape_str(x, shape, sizeof shape));
    nn_tensor_describe(&su->output, NN_F32, x->dl.ndim, x->shape);
    const int64_t one[1] = {1};
    if (nn_layer_add_param(su, "alpha", 1, one, NN_INIT_ONES, 1, 1, 0) < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s' (scale): cannot declare alpha",
                            su->layer_name);
    su->flops = 2 * (uint64_t)nn_tensor_numel(x);
    return NN_OK;
}

/* forward: y = factor * alpha * x */
static int scale_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const scale *s = self;
    (void)err;
    const float k = (float)s->factor * NN_F32P(io->params[0])[0];
    const float *restrict x = NN_F32P(io->inputs[0]);
    float *restrict y = NN_F32P(io->output);
    const int64_t n = nn_tensor_numel(io->output);
    for (int64_t i = 0; i < n; i++)
        y[i] = k * x[i];
    return NN_OK;
}

/* backward: dx = factor * alpha * dy (when asked); dalpha = factor * sum(x * dy) */
static int scale_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const scale *s = self;
    (void)err;
    const float alpha = NN_F32P(io->params[0])[0];
    const float *restrict x = NN_F32P(io->inputs[0]);
    const float *restrict dy = NN_F32P(io->grad_output);
    const int64_t n = nn_tensor_numel(io->grad_output);
    double dalpha = 0;
    for (int64_t i = 0; i < n; i++)
        dalpha += (double)x[i] * dy[i];
    NN_F32P(io->param_grads[0])[0] = (float)(s->factor * dalpha);
    if (io->grad_inputs[0]) {
        const float k = (float)s->factor * alpha;
        float *restrict dx = NN_F32P(io->grad_inputs[0]);
        for (int64_t i = 0; i < n; i++)
            dx[i] = k * dy[i];
    }
    return NN_OK;
}

/* optional (ABI 0.5): what forward computes in evaluation, as ONNX nodes, for
 * `nntrain export --format onnx`: one Mul by the constant factor * alpha, rounded to float as
 * forward rounds it. Without this slot export fails naming the layer. For
 * --format safetensors-torch alpha is written as stored ("LAYER.alpha"): nothing to add. */
static int scale_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const scale *s = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    const float k = (float)s->factor * NN_F32P(x->params[0])[0];
    const char *kc = nn_export_const_f32(x->out, "k", 0, NULL, &k);
    nn_export_op2(x->out, "Mul", x->inputs[0], kc, x->output);
    return nn_export_status(x->out, err); /* the first failure of the calls above, if any */
}

static const nn_layer_vtable scale_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = scale_create,
    .destroy = scale_destroy,
    .setup = scale_setup,
    .bind = NULL, /* optional: build per-plan state once memory is assigned */
    .forward = scale_forward,
    .backward = scale_backward, /* optional: omit (and NN_CAP_BACKWARD) for inference-only */
    .export_as = scale_export,  /* optional: ONNX export (ABI 0.5) */
};

/* every key the model file may give this layer: type, default, range, and a doc string */
static const nn_param_spec scale_params[] = {
    {.name = "factor", .type = NN_PARAM_FLOAT, .def = "1", .range = "(-inf, inf)",
     .doc = "fixed multiplier applied on top of the learned scalar alpha"},
    {.name = NULL},
};

/* optional: the cases `nntrain plugins test scale` checks (shapes with the batch dimension,
 * then a dtype and a value range if need be); without them it derives some from the schema */
static const nn_test_case scale_cases[] = {
    {.params = "factor=0.5", .inputs = "2x3"},
    {.params = "factor=-3", .inputs = "4x1x5x5 f32 [-10, 10]"},
};
static const nn_test_spec scale_test = {
    .struct_size = sizeof(nn_test_spec),
    .n_cases = 2,
    .cases = scale_cases,
};

static const nn_plugin_desc scale_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER,
    .name = "scale",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "y = factor * alpha * x with a learned scalar alpha (the SDK template)",
    .caps = NN_CAP_BACKWARD,
    .params = scale_params,
    .vtable = &scale_vtable,
    .test = &scale_test);

NN_PLUGIN_EXPORT(&scale_desc);
