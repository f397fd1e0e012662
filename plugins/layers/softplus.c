/* softplus.c: the layer plugin "softplus", y = log(1 + exp(beta x)) / beta, and y = x where
 * beta x > threshold (PyTorch's Softplus), elementwise on an F32 tensor of any shape
 * (nn_unary.h makes the rest). Stable for every x. Never allocates per step. */
#include <math.h>

#include "nn_unary.h"

/* k[0] = beta, k[1] = threshold */
static inline float softplus_f(float x, const float *k)
{
    float bx = k[0] * x;
    if (bx > k[1])
        return x;
    return ((bx > 0.0f ? bx : 0.0f) + log1pf(expf(-fabsf(bx)))) / k[0];
}

/* sigmoid(beta x), 1 in the linear region */
static inline float softplus_d(float x, float y, const float *k)
{
    (void)y;
    float bx = k[0] * x;
    return bx > k[1] ? 1.0f : 1.0f / (1.0f + expf(-bx));
}

static const nn_param_spec softplus_params[] = {
    {.name = "beta", .type = NN_PARAM_FLOAT, .def = "1", .range = "(0, inf)",
     .doc = "sharpness: y = log(1 + exp(beta x)) / beta"},
    {.name = "threshold", .type = NN_PARAM_FLOAT, .def = "20", .range = "(0, inf)",
     .doc = "above beta x = threshold the layer is the identity, as in PyTorch"},
    {.name = NULL},
};

NN_UNARY_LAYER(softplus, softplus_f, softplus_d, 6, softplus_params);

static const nn_plugin_desc softplus_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "softplus", .version = "1.0.0", .license = "MIT",
    .summary = "Softplus: y = log(1 + exp(beta x)) / beta, the identity past the threshold",
    .caps = NN_CAP_BACKWARD, .params = softplus_params, .vtable = &softplus_vtable,
    .test = &nn_unary_test);

NN_PLUGIN_EXPORT(&softplus_desc);
