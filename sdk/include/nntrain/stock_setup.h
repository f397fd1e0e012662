/* nntrain/stock_setup.h: what every implementation of a stock layer must do alike in
 * create() and setup(), so that the CPU plugin, the sim pack, the CUDA pack and a third-party
 * backend pack read the same keys (<nntrain/stock_params.h>), refuse the same inputs with the
 * same sentences, and declare the same output and parameters (names, shapes, initialisers),
 * which is what makes a checkpoint load on any device. A pack adds its own buffers and
 * kernels after these. Header-only, ABI 0.8. */
#ifndef NNTRAIN_STOCK_SETUP_H
#define NNTRAIN_STOCK_SETUP_H

#include <stdint.h>

#include <nntrain/layer.h>
#include <nntrain/params.h>
#include <nntrain/status.h>
#include <nntrain/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The initialiser a `weight_init` choice names (an index into NN_STOCK_WEIGHT_INIT_CHOICES);
 * the fan-in uniform (PyTorch's default, "torch") for an index out of range. */
static inline nn_init nn_stock_weight_init(int choice)
{
    static const nn_init map[] = {NN_INIT_FAN_IN_UNIFORM, NN_INIT_HE_UNIFORM, NN_INIT_HE_NORMAL,
                                  NN_INIT_XAVIER_UNIFORM, NN_INIT_XAVIER_NORMAL};
    if (choice < 0 || choice >= (int)(sizeof map / sizeof map[0]))
        return NN_INIT_FAN_IN_UNIFORM;
    return map[choice];
}

/* ---- dense ------------------------------------------------------------------------------ */

/* parameter indices of the stock dense layer */
enum { NN_STOCK_DENSE_WEIGHT = 0, NN_STOCK_DENSE_BIAS = 1 };

/* The stock dense layer's keys (NN_STOCK_DENSE_PARAMS), as read in create() */
typedef struct nn_stock_dense {
    int64_t units;
    int bias;       /* declare a learned bias */
    int bias_zeros; /* bias_init = zeros (else fan_in: U(-1/sqrt(in), 1/sqrt(in))) */
    int activation; /* an index into NN_STOCK_ACT_CHOICES: 0 none, 1 relu, 2 tanh, 3 sigmoid,
                       4 gelu */
    nn_init winit;  /* weight_init */
} nn_stock_dense;

static inline void nn_stock_dense_read(const nn_params *p, nn_stock_dense *k)
{
    k->units = nn_params_int(p, "units");
    k->bias = nn_params_bool(p, "bias");
    k->bias_zeros = nn_params_enum(p, "bias_init") == 1;
    k->activation = nn_params_enum(p, "activation");
    k->winit = nn_stock_weight_init(nn_params_enum(p, "weight_init"));
}

/* The stock dense setup: exactly one [batch, features] F32 input (else NN_ESHAPE or NN_EINVAL
 * with a sentence naming the layer and the shape); the output [batch, units]; parameter 0
 * "weight" [units, features] and, with a bias, parameter 1 "bias" [units]; the forward FLOPs.
 * The caller reads batch and features off s->inputs[0] afterwards. */
static inline int nn_stock_dense_setup(const nn_stock_dense *k, const char *layer,
                                       nn_layer_setup *s, nn_error *err)
{
    char buf[96];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': dense takes 1 input, got %d", layer,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 2)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': dense expects a [batch, features] input, got %s "
                            "(put a flatten layer before it)",
                            layer, nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': dense supports float32 (F32) input only, got %s", layer,
                            nn_shape_str(x, buf, sizeof buf));
    int64_t n = x->shape[0], in = x->shape[1];
    int64_t oshape[2] = {n, k->units}, wshape[2] = {k->units, in};
    nn_tensor_describe(&s->output, NN_F32, 2, oshape);
    if (nn_layer_add_param(s, "weight", 2, wshape, k->winit, in, k->units, 0) !=
            NN_STOCK_DENSE_WEIGHT ||
        (k->bias &&
         nn_layer_add_param(s, "bias", 1, &k->units,
                            k->bias_zeros ? NN_INIT_ZEROS : NN_INIT_FAN_IN_UNIFORM, in, k->units,
                            NN_TENSOR_BIAS) != NN_STOCK_DENSE_BIAS))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare its parameters",
                            layer);
    s->flops = (uint64_t)(2 * n * in * k->units);
    return NN_OK;
}

#ifdef __cplusplus
}
#endif
#endif
