/* mish.c: the layer plugin "mish", y = x * tanh(softplus(x)), elementwise on an F32 tensor of
 * any shape (nn_unary.h makes the rest). softplus in its stable form, so no x overflows.
 * Never allocates per step. */
#include <math.h>

#include "nn_unary.h"

static inline float mish_softplus(float x)
{
    return (x > 0.0f ? x : 0.0f) + log1pf(expf(-fabsf(x)));
}

static inline float mish_f(float x, const float *k)
{
    (void)k;
    return x * tanhf(mish_softplus(x));
}

/* tanh(sp) + x sech^2(sp) sigmoid(x), sp = softplus(x) */
static inline float mish_d(float x, float y, const float *k)
{
    (void)y;
    (void)k;
    float t = tanhf(mish_softplus(x));
    return t + x * (1.0f - t * t) / (1.0f + expf(-x));
}

NN_UNARY_LAYER(mish, mish_f, mish_d, 8, NULL);

static const nn_plugin_desc mish_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "mish", .version = "1.0.0", .license = "MIT",
    .summary = "Mish: y = x * tanh(softplus(x)), elementwise",
    .caps = NN_CAP_BACKWARD, .vtable = &mish_vtable, .test = &nn_unary_test);

NN_PLUGIN_EXPORT(&mish_desc);
