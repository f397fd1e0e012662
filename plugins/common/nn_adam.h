/* nn_adam.h: the Adam family the stock optimizers share (adam, adamw): betas, eps, weight
 * decay (L2 added to the gradient, or decoupled), AMSGrad, torch.optim's bias correction, and
 * the update loop built for AVX-512, AVX2 and baseline x86-64. Each plugin keeps its schema
 * (NN_ADAM_PARAMS) and descriptor; its state lives only in its slots, and step() never
 * allocates. Static helper library (libnn_kit.a) for plugins only; never in the core. */
#ifndef NN_ADAM_H
#define NN_ADAM_H

#include <nntrain/optimizer.h>

/* the schema of an Adam optimizer; only weight_decay's default and meaning differ */
#define NN_ADAM_PARAMS(WD_DEFAULT, WD_DOC)                                                 \
    {.name = "lr", .type = NN_PARAM_FLOAT, .def = "0.001", .range = "[0, inf)",            \
     .doc = "base learning rate; the scheduler and each parameter's lr_mult scale it"},    \
    {.name = "betas", .type = NN_PARAM_FLOAT_LIST, .def = "0.9, 0.999", .range = "[0, 1)", \
     .doc = "two numbers: decay rates of the running mean of the gradient and of its "     \
            "square"},                                                                     \
    {.name = "eps", .type = NN_PARAM_FLOAT, .def = "1e-8", .range = "[0, inf)",            \
     .doc = "added to the denominator for numerical stability"},                          \
    {.name = "weight_decay", .type = NN_PARAM_FLOAT, .def = WD_DEFAULT, .range = "[0, inf)", \
     .doc = WD_DOC},                                                                       \
    {.name = "amsgrad", .type = NN_PARAM_BOOL, .def = "false",                             \
     .doc = "use the running maximum of the squared-gradient average (AMSGrad); adds a slot"}

/* decoupled = 0: Adam (weight decay added to the gradient); 1: AdamW (weights shrink by
 * lr * weight_decay before the update) */
int nn_adam_create(const nn_params *p, int decoupled, void **self, nn_error *err);
void nn_adam_destroy(void *self);
int nn_adam_setup(void *self, nn_optim_setup *s, nn_error *err);
int nn_adam_step(void *self, const nn_optim_step *st, nn_error *err);

#endif
