/* huber.c: the loss plugin "huber", Huber loss (quadratic within delta, linear outside)
 * between F32 predictions and F32 targets of the same shape, reduced by mean (over all
 * elements) or sum (nn_pointwise.h makes the rest). Never allocates per step. */
#include <math.h>

#include "nn_pointwise.h"

/* k[0] = delta */
static inline double huber_value(double p, double t, const double *k)
{
    double d = p - t, a = fabs(d);
    return a <= k[0] ? 0.5 * d * d : k[0] * (a - 0.5 * k[0]);
}

/* d clamped to [-delta, delta] */
static inline float huber_deriv(float p, float t, const float *k)
{
    float d = p - t;
    return d > k[0] ? k[0] : (d < -k[0] ? -k[0] : d);
}

static const nn_param_spec huber_params[] = {NN_STOCK_HUBER_PARAMS, {.name = NULL}};

NN_POINTWISE_LOSS(huber, huber_value, huber_deriv, huber_params);

static const nn_plugin_desc huber_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "huber", .version = "1.0.0", .license = "MIT",
    .summary = "Huber loss: squared error near 0, absolute error beyond delta",
    .params = huber_params, .vtable = &huber_vtable, .test = &nn_pointwise_test);

NN_PLUGIN_EXPORT(&huber_desc);
