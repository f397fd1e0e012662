/* nn_unary.h: an elementwise layer y = f(x) made from its forward function and its derivative,
 * so a new activation is a few lines (plugins/layers/swish.c):
 *
 *   static inline float swish_f(float x, const float *k) { ... }
 *   static inline float swish_d(float x, float y, const float *k) { ... }  // dy/dx
 *   NN_UNARY_LAYER(swish, swish_f, swish_d, 5, NULL);
 *   static const nn_plugin_desc swish_desc = NN_DESCRIPTOR(.kind = NN_KIND_LAYER,
 *       .name = "swish", ..., .caps = NN_CAP_BACKWARD, .vtable = &swish_vtable,
 *       .test = &nn_unary_test);
 *
 * k holds the plugin's parameters, in schema order, as floats (an enum as its index, a bool as
 * 0/1). Export: the layer's name is looked up in nn_export_activation() (<nntrain/export.h>)
 * with k as its arguments, so a layer whose name that function does not know cannot be
 * exported (it fails saying so, never writes another function). The loops are generated in
 * the plugin, around its inlined f and f', so the compiler vectorises them as it would
 * hand-written ones; they never allocate. Static helper library
 * (libnn_kit.a) for plugins only; never part of the core. */
#ifndef NN_UNARY_H
#define NN_UNARY_H

#include <string.h>

#include <nntrain/nntrain.h>

#define NN_UNARY_MAX_ARGS 4

typedef struct nn_unary_def {
    const char *name;              /* the layer's name, for messages */
    int flops;                     /* per element */
    const nn_param_spec *params;   /* read into k[] in order; at most NN_UNARY_MAX_ARGS */
} nn_unary_def;

typedef struct nn_unary {
    const nn_unary_def *def;
    float k[NN_UNARY_MAX_ARGS];
} nn_unary;

/* Cases that reach both tails of an activation, with a kink or two inside: the test spec the
 * stock activations declare (nn_plugin_desc.test). */
extern const nn_test_spec nn_unary_test;

int nn_unary_create(const nn_unary_def *def, const nn_params *p, void **self, nn_error *err);
void nn_unary_destroy(void *self);
/* one F32 input of any shape; the output has its shape */
int nn_unary_setup(void *self, nn_layer_setup *s, nn_error *err);
/* ONNX: nn_export_activation(def->name, k) */
int nn_unary_export(void *self, const nn_layer_export *x, nn_error *err);

/* Defines NAME_vtable (and its functions) for y = FWD(x, k), dy/dx = DERIV(x, y, k). */
#define NN_UNARY_LAYER(NAME, FWD, DERIV, FLOPS, PARAMS)                                      \
    static const nn_unary_def NAME##_unary = {#NAME, FLOPS, PARAMS};                         \
    static int NAME##_create(const nn_params *p, void **self, nn_error *err)                 \
    {                                                                                        \
        return nn_unary_create(&NAME##_unary, p, self, err);                                 \
    }                                                                                        \
    static int NAME##_forward(void *self, const nn_layer_io *io, nn_error *err)              \
    {                                                                                        \
        (void)err;                                                                           \
        float k[NN_UNARY_MAX_ARGS]; /* a local copy: loads the loop may speculate */          \
        memcpy(k, ((const nn_unary *)self)->k, sizeof k);                                    \
        const float *restrict x = NN_F32P(io->inputs[0]);                                    \
        float *restrict y = NN_F32P(io->output);                                             \
        const int64_t n = nn_tensor_numel(io->output);                                       \
        for (int64_t i = 0; i < n; i++)                                                      \
            y[i] = FWD(x[i], k);                                                             \
        return NN_OK;                                                                        \
    }                                                                                        \
    static int NAME##_backward(void *self, const nn_layer_io *io, nn_error *err)             \
    {                                                                                        \
        (void)err;                                                                           \
        if (!io->grad_inputs[0])                                                             \
            return NN_OK;                                                                    \
        float k[NN_UNARY_MAX_ARGS];                                                          \
        memcpy(k, ((const nn_unary *)self)->k, sizeof k);                                    \
        const float *restrict x = NN_F32P(io->inputs[0]);                                    \
        const float *restrict y = NN_F32P(io->output);                                       \
        const float *restrict g = NN_F32P(io->grad_output);                                  \
        float *restrict gx = NN_F32P(io->grad_inputs[0]);                                    \
        const int64_t n = nn_tensor_numel(io->output);                                       \
        for (int64_t i = 0; i < n; i++)                                                      \
            gx[i] = g[i] * DERIV(x[i], y[i], k);                                             \
        return NN_OK;                                                                        \
    }                                                                                        \
    static const nn_layer_vtable NAME##_vtable = {                                           \
        .struct_size = sizeof(nn_layer_vtable),                                              \
        .create = NAME##_create,                                                             \
        .destroy = nn_unary_destroy,                                                         \
        .setup = nn_unary_setup,                                                             \
        .forward = NAME##_forward,                                                           \
        .backward = NAME##_backward,                                                         \
        .export_as = nn_unary_export,                                                        \
    }

#endif
