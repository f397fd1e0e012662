/* nn_pointwise.h: a loss that sums a function of each (prediction, target) pair of two F32
 * tensors of one shape, reduced by mean or sum, made from its value and its derivative
 * (plugins/losses/mse.c):
 *
 *   static inline double mse_v(double p, double t, const double *k) { return (p-t)*(p-t); }
 *   static inline float mse_d(float p, float t, const float *k) { return 2.0f * (p - t); }
 *   NN_POINTWISE_LOSS(mse, mse_v, mse_d, mse_params);
 *
 * The schema holds `reduction` (NN_STOCK_POINTWISE_REDUCTION) and up to four more numbers, read in
 * order into k (double for the value, float for the derivative). The value is summed in double;
 * the gradient loop is generated in the plugin around its inlined derivative, so it vectorises.
 * Static helper library (libnn_kit.a) for plugins only; never part of the core. */
#ifndef NN_POINTWISE_H
#define NN_POINTWISE_H

#include <string.h>

#include <nntrain/nntrain.h>

#define NN_POINTWISE_MAX_ARGS 4

typedef struct nn_pointwise_def {
    const char *name;
    const nn_param_spec *params;
} nn_pointwise_def;

typedef struct nn_pointwise {
    const nn_pointwise_def *def;
    int sum;                        /* reduction: 0 mean, 1 sum */
    double k[NN_POINTWISE_MAX_ARGS];
    float kf[NN_POINTWISE_MAX_ARGS];
} nn_pointwise;

/* Cases with targets in [0, 1] and predictions around them (nn_plugin_desc.test). */
extern const nn_test_spec nn_pointwise_test;

int nn_pointwise_create(const nn_pointwise_def *def, const nn_params *p, void **self,
                        nn_error *err);
void nn_pointwise_destroy(void *self);
/* predictions and targets: F32 of one shape */
int nn_pointwise_setup(void *self, nn_loss_setup *s, nn_error *err);

/* Defines NAME_vtable for loss = reduce(VALUE(p, t, k)), dloss/dp = DERIV(p, t, kf). */
#define NN_POINTWISE_LOSS(NAME, VALUE, DERIV, PARAMS)                                        \
    static const nn_pointwise_def NAME##_pointwise = {#NAME, PARAMS};                        \
    static int NAME##_create(const nn_params *p, void **self, nn_error *err)                 \
    {                                                                                        \
        return nn_pointwise_create(&NAME##_pointwise, p, self, err);                         \
    }                                                                                        \
    static int NAME##_forward(void *self, nn_loss_io *io, nn_error *err)                     \
    {                                                                                        \
        (void)err;                                                                           \
        const nn_pointwise *l = self;                                                        \
        const float *restrict p = NN_F32P(io->pred), *restrict t = NN_F32P(io->target);      \
        const int64_t n = nn_tensor_numel(io->pred);                                         \
        const double scale = l->sum || n == 0 ? 1.0 : 1.0 / (double)n;                       \
        double total = 0;                                                                    \
        for (int64_t i = 0; i < n; i++)                                                      \
            total += VALUE((double)p[i], (double)t[i], l->k);                                \
        io->loss = total * scale;                                                            \
        if (io->grad_pred) {                                                                 \
            float *restrict g = NN_F32P(io->grad_pred);                                      \
            float kf[NN_POINTWISE_MAX_ARGS]; /* a local copy: loads it may speculate */      \
            memcpy(kf, l->kf, sizeof kf);                                                    \
            const float s = (float)scale;                                                    \
            for (int64_t i = 0; i < n; i++)                                                  \
                g[i] = s * DERIV(p[i], t[i], kf);                                            \
        }                                                                                    \
        return NN_OK;                                                                        \
    }                                                                                        \
    static const nn_loss_vtable NAME##_vtable = {                                            \
        .struct_size = sizeof(nn_loss_vtable),                                               \
        .create = NAME##_create,                                                             \
        .destroy = nn_pointwise_destroy,                                                     \
        .setup = nn_pointwise_setup,                                                         \
        .forward = NAME##_forward,                                                           \
    }

#endif
