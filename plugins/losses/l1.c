/* l1.c: the loss plugin "l1", absolute error |p - t| between F32 predictions and F32 targets
 * of the same shape, reduced by mean (over all elements) or sum (nn_pointwise.h makes the
 * rest). The derivative is sign(p - t), 0 at p = t as in PyTorch. Never allocates per step. */
#include <math.h>

#include "nn_pointwise.h"

static inline double l1_value(double p, double t, const double *k)
{
    (void)k;
    return fabs(p - t);
}

/* sign(d) without branches, so the gradient loop vectorises */
static inline float l1_deriv(float p, float t, const float *k)
{
    (void)k;
    float d = p - t;
    return (float)(d > 0.0f) - (float)(d < 0.0f);
}

static const nn_param_spec l1_params[] = {NN_STOCK_POINTWISE_REDUCTION, {.name = NULL}};

NN_POINTWISE_LOSS(l1, l1_value, l1_deriv, l1_params);

static const nn_plugin_desc l1_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "l1", .version = "1.0.0", .license = "MIT",
    .summary = "Mean absolute error (L1) between predictions and targets of one shape",
    .params = l1_params, .vtable = &l1_vtable, .test = &nn_pointwise_test);

NN_PLUGIN_EXPORT(&l1_desc);
