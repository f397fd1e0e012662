/* nn_adam.h: the Adam family the stock optimizers share (adam, adamw): betas, eps, weight
 * decay (L2 added to the gradient, or decoupled), AMSGrad, torch.optim's bias correction, and
 * the update loop built for AVX-512, AVX2 and baseline x86-64. Each plugin keeps its schema
 * (NN_STOCK_ADAM_PARAMS, NN_STOCK_ADAMW_PARAMS) and descriptor; its state lives only in its slots, and step() never
 * allocates. Static helper library (libnn_kit.a) for plugins only; never in the core. */
#ifndef NN_ADAM_H
#define NN_ADAM_H

#include <nntrain/optimizer.h>
#include <nntrain/stock_params.h>
#include <nntrain/stock_setup.h>

/* decoupled = 0: Adam (weight decay added to the gradient); 1: AdamW (weights shrink by
 * lr * weight_decay before the update) */
int nn_adam_create(const nn_params *p, int decoupled, void **self, nn_error *err);
void nn_adam_destroy(void *self);
int nn_adam_setup(void *self, nn_optim_setup *s, nn_error *err);
int nn_adam_step(void *self, const nn_optim_step *st, nn_error *err);

#endif
