/* swish.c: the layer plugins "swish" and "silu" (two names, one function, as PyTorch's SiLU),
 * y = x * sigmoid(x), elementwise on an F32 tensor of any shape (nn_unary.h makes the rest).
 * Never allocates per step. */
#include <math.h>

#include "nn_unary.h"

static inline float swish_f(float x, const float *k)
{
    (void)k;
    return x / (1.0f + expf(-x));
}

/* s + x s (1 - s) = s + y (1 - s), s = sigmoid(x) */
static inline float swish_d(float x, float y, const float *k)
{
    (void)k;
    float s = 1.0f / (1.0f + expf(-x));
    return s + y * (1.0f - s);
}

NN_UNARY_LAYER(swish, swish_f, swish_d, 5, NULL);

static const nn_plugin_desc swish_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "swish", .version = "1.0.0", .license = "MIT",
    .summary = "Swish: y = x * sigmoid(x), elementwise (also registered as silu)",
    .caps = NN_CAP_BACKWARD, .vtable = &swish_vtable, .test = &nn_unary_test);

static const nn_plugin_desc silu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "silu", .version = "1.0.0", .license = "MIT",
    .summary = "SiLU: y = x * sigmoid(x), elementwise (the same layer as swish)",
    .caps = NN_CAP_BACKWARD, .vtable = &swish_vtable, .test = &nn_unary_test);

NN_PLUGIN_EXPORT(&swish_desc, &silu_desc);
