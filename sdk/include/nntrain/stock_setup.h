/* nntrain/stock_setup.h: what every implementation of a stock layer or optimizer must do
 * alike in create() and setup(), so that the CPU plugin, the sim pack, the CUDA pack and a
 * third-party backend pack read the same keys (<nntrain/stock_params.h>), refuse the same
 * values and inputs with the same sentences, and declare the same output, parameters (names,
 * shapes, initialisers) and optimizer slots, which is what makes a checkpoint load on any
 * device. A pack adds its own buffers and kernels after these. Header-only, ABI 0.8. */
#ifndef NNTRAIN_STOCK_SETUP_H
#define NNTRAIN_STOCK_SETUP_H

#include <stdint.h>

#include <nntrain/layer.h>
#include <nntrain/optimizer.h>
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

/* ---- optimizers: keys and slots (the update itself is each device's) ---------------------- */

/* The stock sgd optimizer's keys (NN_STOCK_SGD_PARAMS) */
typedef struct nn_stock_sgd {
    double momentum, dampening, weight_decay;
    int nesterov;
} nn_stock_sgd;

/* Reads them; refuses Nesterov without momentum or with dampening, as torch.optim.SGD does */
static inline int nn_stock_sgd_read(const nn_params *p, nn_stock_sgd *k, nn_error *err)
{
    k->momentum = nn_params_float(p, "momentum");
    k->dampening = nn_params_float(p, "dampening");
    k->weight_decay = nn_params_float(p, "weight_decay");
    k->nesterov = nn_params_bool(p, "nesterov");
    if (k->nesterov && (k->momentum <= 0 || k->dampening != 0))
        return nn_error_set(err, NN_EINVAL, "key 'nesterov' = true needs 'momentum' > 0 and "
                            "'dampening' = 0 (as in torch.optim.SGD)");
    return NN_OK;
}

/* one slot, "momentum_buffer", when there is momentum */
static inline void nn_stock_sgd_slots(const nn_stock_sgd *k, nn_optim_setup *st)
{
    st->n_slots = k->momentum != 0 ? 1 : 0;
    st->slot_names[0] = "momentum_buffer";
}

/* The stock adam and adamw optimizers' keys (NN_STOCK_ADAM_PARAMS, NN_STOCK_ADAMW_PARAMS) */
typedef struct nn_stock_adam {
    double beta1, beta2, eps, weight_decay;
    int amsgrad;
} nn_stock_adam;

/* Reads them; `betas` must hold exactly two numbers */
static inline int nn_stock_adam_read(const nn_params *p, nn_stock_adam *k, nn_error *err)
{
    int nb = 0;
    const double *betas = nn_params_floats(p, "betas", &nb);
    if (nb != 2)
        return nn_error_set(err, NN_EINVAL, "key 'betas' needs exactly 2 numbers (beta1, beta2), "
                            "got %d", nb);
    k->beta1 = betas[0];
    k->beta2 = betas[1];
    k->eps = nn_params_float(p, "eps");
    k->weight_decay = nn_params_float(p, "weight_decay");
    k->amsgrad = nn_params_bool(p, "amsgrad");
    return NN_OK;
}

/* "exp_avg" and "exp_avg_sq", and "max_exp_avg_sq" with AMSGrad */
static inline void nn_stock_adam_slots(const nn_stock_adam *k, nn_optim_setup *st)
{
    st->n_slots = k->amsgrad ? 3 : 2;
    st->slot_names[0] = "exp_avg";
    st->slot_names[1] = "exp_avg_sq";
    st->slot_names[2] = "max_exp_avg_sq";
}

#ifdef __cplusplus
}
#endif
#endif
