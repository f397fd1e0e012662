/* relu.c: the layer plugin "relu", y = max(x, 0), elementwise on an F32 tensor of any shape
 * (nn_unary.h makes the rest; the loops vectorise). Backward reads the input, which the graph
 * keeps. Never allocates per step. */
#include "nn_unary.h"

static inline float relu_f(float x, const float *k)
{
    (void)k;
    return x > 0.0f ? x : 0.0f;
}

/* written without a branch, so the backward loop vectorises */
static inline float relu_d(float x, float y, const float *k)
{
    (void)y;
    (void)k;
    return (float)(x > 0.0f);
}

NN_UNARY_LAYER(relu, relu_f, relu_d, 1, NULL);

static const nn_plugin_desc relu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "relu", .version = "1.0.0", .license = "MIT",
    .summary = "Rectified linear unit: y = max(x, 0), elementwise",
    .caps = NN_CAP_BACKWARD, .vtable = &relu_vtable, .test = &nn_unary_test);

NN_PLUGIN_EXPORT(&relu_desc);
