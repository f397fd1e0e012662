/* sigmoid.c: the layer plugin "sigmoid", y = 1 / (1 + exp(-x)), elementwise on an F32 tensor
 * of any shape (nn_unary.h makes the rest). The derivative y (1 - y) reads the output, which
 * the graph keeps until backward. Never allocates per step. */
#include <math.h>

#include "nn_unary.h"

static inline float sigmoid_f(float x, const float *k)
{
    (void)k;
    return 1.0f / (1.0f + expf(-x));
}

static inline float sigmoid_d(float x, float y, const float *k)
{
    (void)x;
    (void)k;
    return y * (1.0f - y);
}

NN_UNARY_LAYER(sigmoid, sigmoid_f, sigmoid_d, 4, NULL);

static const nn_plugin_desc sigmoid_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "sigmoid", .version = "1.0.0", .license = "MIT",
    .summary = "Logistic sigmoid: y = 1 / (1 + exp(-x)), elementwise",
    .caps = NN_CAP_BACKWARD, .vtable = &sigmoid_vtable, .test = &nn_unary_test);

NN_PLUGIN_EXPORT(&sigmoid_desc);
