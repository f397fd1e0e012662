/* hardswish.c: the layer plugin "hardswish", y = x * min(max(x + 3, 0), 6) / 6, elementwise on
 * an F32 tensor of any shape (nn_unary.h makes the rest), with PyTorch's derivative: 0 below
 * -3, x / 3 + 1/2 up to 3, 1 above. Never allocates per step. */
#include "nn_unary.h"

static inline float hardswish_f(float x, const float *k)
{
    (void)k;
    float r = x + 3.0f;
    r = r < 0.0f ? 0.0f : (r > 6.0f ? 6.0f : r);
    return x * r * (1.0f / 6.0f);
}

static inline float hardswish_d(float x, float y, const float *k)
{
    (void)y;
    (void)k;
    return x < -3.0f ? 0.0f : (x <= 3.0f ? x * (1.0f / 3.0f) + 0.5f : 1.0f);
}

NN_UNARY_LAYER(hardswish, hardswish_f, hardswish_d, 5, NULL);

static const nn_plugin_desc hardswish_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "hardswish", .version = "1.0.0", .license = "MIT",
    .summary = "Hard swish: y = x * relu6(x + 3) / 6, elementwise (MobileNetV3)",
    .caps = NN_CAP_BACKWARD, .vtable = &hardswish_vtable, .test = &nn_unary_test);

NN_PLUGIN_EXPORT(&hardswish_desc);
