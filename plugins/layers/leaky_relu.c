/* leaky_relu.c: the layer plugin "leaky_relu", y = x for x > 0, negative_slope * x otherwise,
 * elementwise on an F32 tensor of any shape (nn_unary.h makes the rest). Backward reads the
 * input, which the graph keeps. Never allocates per step. */
#include "nn_unary.h"

/* k[0] = negative_slope */
static inline float leaky_relu_f(float x, const float *k)
{
    return x > 0.0f ? x : k[0] * x;
}

static inline float leaky_relu_d(float x, float y, const float *k)
{
    (void)y;
    return x > 0.0f ? 1.0f : k[0];
}

static const nn_param_spec leaky_relu_params[] = {NN_STOCK_LEAKY_RELU_PARAMS, {.name = NULL}};

NN_UNARY_LAYER(leaky_relu, leaky_relu_f, leaky_relu_d, 2, leaky_relu_params);

static const nn_plugin_desc leaky_relu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "leaky_relu", .version = "1.0.0", .license = "MIT",
    .summary = "Leaky ReLU: y = x if x > 0 else negative_slope * x",
    .caps = NN_CAP_BACKWARD, .params = leaky_relu_params, .vtable = &leaky_relu_vtable,
    .test = &nn_unary_test);

NN_PLUGIN_EXPORT(&leaky_relu_desc);
