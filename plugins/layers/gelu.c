/* gelu.c: the layer plugin "gelu", y = x * Phi(x) (exact, erf) or its tanh approximation,
 * elementwise on an F32 tensor of any shape (nn_unary.h makes the rest). Backward reads the
 * input, which the graph keeps alive until backward. Never allocates per step. */
#include <math.h>

#include "nn_unary.h"

#define GELU_RSQRT2 0.70710678118654752f   /* 1 / sqrt(2) */
#define GELU_RSQRT2PI 0.39894228040143268f /* 1 / sqrt(2 pi) */
#define GELU_K0 0.79788456080286536f       /* sqrt(2 / pi) */
#define GELU_K1 0.044715f

/* k[0] = approximate: 0 none (erf, PyTorch's default), 1 tanh */
static inline float gelu_f(float x, const float *k)
{
    if (k[0] != 0.0f)
        return 0.5f * x * (1.0f + tanhf(GELU_K0 * (x + GELU_K1 * x * x * x)));
    return 0.5f * x * (1.0f + erff(x * GELU_RSQRT2));
}

static inline float gelu_d(float x, float y, const float *k)
{
    (void)y;
    if (k[0] != 0.0f) {
        float x2 = x * x;
        float t = tanhf(GELU_K0 * (x + GELU_K1 * x2 * x));
        float du = GELU_K0 * (1.0f + 3.0f * GELU_K1 * x2);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    /* d/dx x Phi(x) = Phi(x) + x phi(x) */
    float cdf = 0.5f * (1.0f + erff(x * GELU_RSQRT2));
    float pdf = GELU_RSQRT2PI * expf(-0.5f * x * x);
    return cdf + x * pdf;
}

static const nn_param_spec gelu_params[] = {NN_STOCK_GELU_PARAMS, {.name = NULL}};

NN_UNARY_LAYER(gelu, gelu_f, gelu_d, 10, gelu_params);

static const nn_plugin_desc gelu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "gelu", .version = "1.0.0", .license = "MIT",
    .summary = "Gaussian error linear unit: y = x * Phi(x), exact (erf) or tanh-approximated",
    .caps = NN_CAP_BACKWARD, .params = gelu_params, .vtable = &gelu_vtable,
    .test = &nn_unary_test);

NN_PLUGIN_EXPORT(&gelu_desc);
