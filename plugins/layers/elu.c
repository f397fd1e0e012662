/* elu.c: the layer plugin "elu", y = x for x > 0, alpha * (exp(x) - 1) otherwise, elementwise
 * on an F32 tensor of any shape (nn_unary.h makes the rest). Backward reads the input and the
 * output, which the graph keeps until backward. Never allocates per step. */
#include <math.h>

#include "nn_unary.h"

/* k[0] = alpha */
static inline float elu_f(float x, const float *k)
{
    return x > 0.0f ? x : k[0] * expm1f(x);
}

/* for x <= 0: dy/dx = alpha * exp(x) = y + alpha, no second exp */
static inline float elu_d(float x, float y, const float *k)
{
    return x > 0.0f ? 1.0f : y + k[0];
}

static const nn_param_spec elu_params[] = {NN_STOCK_ELU_PARAMS, {.name = NULL}};

NN_UNARY_LAYER(elu, elu_f, elu_d, 4, elu_params);

static const nn_plugin_desc elu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "elu", .version = "1.0.0", .license = "MIT",
    .summary = "Exponential linear unit: y = x if x > 0 else alpha * (exp(x) - 1)",
    .caps = NN_CAP_BACKWARD, .params = elu_params, .vtable = &elu_vtable,
    .test = &nn_unary_test);

NN_PLUGIN_EXPORT(&elu_desc);
