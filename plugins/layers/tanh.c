/* tanh.c: the layer plugin "tanh", y = tanh(x), elementwise on an F32 tensor of any shape
 * (nn_unary.h makes the rest). The derivative 1 - y^2 reads the output, which the graph keeps
 * until backward. Never allocates per step. */
#include <math.h>

#include "nn_unary.h"

static inline float tanh_f(float x, const float *k)
{
    (void)k;
    return tanhf(x);
}

static inline float tanh_d(float x, float y, const float *k)
{
    (void)x;
    (void)k;
    return 1.0f - y * y;
}

NN_UNARY_LAYER(tanh, tanh_f, tanh_d, 6, NULL);

static const nn_plugin_desc tanh_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "tanh", .version = "1.0.0", .license = "MIT",
    .summary = "Hyperbolic tangent: y = tanh(x), elementwise",
    .caps = NN_CAP_BACKWARD, .vtable = &tanh_vtable, .test = &nn_unary_test);

NN_PLUGIN_EXPORT(&tanh_desc);
