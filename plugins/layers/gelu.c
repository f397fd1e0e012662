/* gelu.c: the layer plugin "gelu", y = x * Phi(x) (exact, erf) or its tanh approximation,
 * elementwise on an F32 tensor of any shape. Forward and backward are plain loops that never
 * allocate. Backward reads the layer's input, which the graph keeps alive until backward. */
#include <math.h>
#include <nntrain/nntrain.h>
#include <stdlib.h>

#define GELU_RSQRT2 0.70710678118654752f   /* 1 / sqrt(2) */
#define GELU_RSQRT2PI 0.39894228040143268f /* 1 / sqrt(2 pi) */
#define GELU_K0 0.79788456080286536f       /* sqrt(2 / pi) */
#define GELU_K1 0.044715f

typedef struct gelu {
    int approx_tanh; /* 0: exact erf form (PyTorch's default), 1: tanh form */
} gelu;

static int gelu_create(const nn_params *params, void **self, nn_error *err)
{
    gelu *a = calloc(1, sizeof *a);
    if (!a)
        return nn_error_set(err, NN_ENOMEM, "gelu: out of memory");
    a->approx_tanh = nn_params_enum(params, "approximate") == 1;
    *self = a;
    return NN_OK;
}

static void gelu_destroy(void *self)
{
    free(self);
}

static int gelu_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (gelu): takes 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (gelu): input %s must be F32",
                            s->layer_name, nn_shape_str(x, shape, sizeof shape));
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    s->flops = (uint64_t)nn_tensor_numel(x) * 10;
    return NN_OK;
}

static int gelu_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const int approx_tanh = ((const gelu *)self)->approx_tanh;
    const float *restrict x = NN_F32P(io->inputs[0]);
    float *restrict y = NN_F32P(io->output);
    int64_t n = nn_tensor_numel(io->output);
    if (approx_tanh) {
        for (int64_t i = 0; i < n; i++) {
            float u = GELU_K0 * (x[i] + GELU_K1 * x[i] * x[i] * x[i]);
            y[i] = 0.5f * x[i] * (1.0f + tanhf(u));
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * GELU_RSQRT2));
    }
    return NN_OK;
}

static int gelu_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const int approx_tanh = ((const gelu *)self)->approx_tanh;
    if (!io->grad_inputs[0])
        return NN_OK;
    const float *restrict g = NN_F32P(io->grad_output);
    float *restrict gx = NN_F32P(io->grad_inputs[0]);
    int64_t n = nn_tensor_numel(io->output);
    const float *restrict x = NN_F32P(io->inputs[0]);
    if (approx_tanh) {
        for (int64_t i = 0; i < n; i++) {
            float x2 = x[i] * x[i];
            float t = tanhf(GELU_K0 * (x[i] + GELU_K1 * x2 * x[i]));
            float du = GELU_K0 * (1.0f + 3.0f * GELU_K1 * x2);
            gx[i] = g[i] * (0.5f * (1.0f + t) + 0.5f * x[i] * (1.0f - t * t) * du);
        }
    } else {
        /* d/dx x Phi(x) = Phi(x) + x phi(x) */
        for (int64_t i = 0; i < n; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * GELU_RSQRT2));
            float pdf = GELU_RSQRT2PI * expf(-0.5f * x[i] * x[i]);
            gx[i] = g[i] * (cdf + x[i] * pdf);
        }
    }
    return NN_OK;
}

static const nn_layer_vtable gelu_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = gelu_create,
    .destroy = gelu_destroy,
    .setup = gelu_setup,
    .forward = gelu_forward,
    .backward = gelu_backward,
};

static const nn_param_spec gelu_params[] = {
    {.name = "approximate", .type = NN_PARAM_ENUM, .def = "none", .choices = "none|tanh",
     .doc = "none: exact x * Phi(x) with erf (PyTorch's default); tanh: the tanh approximation"},
    {.name = NULL},
};

static const nn_plugin_desc gelu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "gelu", .version = "1.0.0", .license = "MIT",
    .summary = "Gaussian error linear unit: y = x * Phi(x), exact (erf) or tanh-approximated",
    .caps = NN_CAP_BACKWARD, .params = gelu_params, .vtable = &gelu_vtable);

NN_PLUGIN_EXPORT(&gelu_desc);
