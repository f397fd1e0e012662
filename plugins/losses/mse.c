/* mse.c: the loss plugin "mse", squared error (p - t)^2 between F32 predictions and F32
 * targets of the same shape, reduced by mean (over all elements) or sum (nn_pointwise.h makes
 * the rest: the sum in double, the gradient a vectorised loop). Never allocates per step. */
#include "nn_pointwise.h"

static inline double mse_value(double p, double t, const double *k)
{
    (void)k;
    return (p - t) * (p - t);
}

static inline float mse_deriv(float p, float t, const float *k)
{
    (void)k;
    return 2.0f * (p - t);
}

static const nn_param_spec mse_params[] = {NN_STOCK_POINTWISE_REDUCTION, {.name = NULL}};

NN_POINTWISE_LOSS(mse, mse_value, mse_deriv, mse_params);

static const nn_plugin_desc mse_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "mse", .version = "1.0.0", .license = "MIT",
    .summary = "Mean squared error between predictions and targets of one shape",
    .params = mse_params, .vtable = &mse_vtable, .test = &nn_pointwise_test);

NN_PLUGIN_EXPORT(&mse_desc);
