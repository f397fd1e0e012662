/* optimizer.h: the vtable of an optimizer plugin. An optimizer keeps all of its per-parameter
 * state in named slot tensors that the core allocates (zeroed), saves and restores, so a
 * checkpoint needs no knowledge of the optimizer. Scalars like the step count come from the core. */
#ifndef NNTRAIN_OPTIMIZER_H
#define NNTRAIN_OPTIMIZER_H

#include "device.h"
#include "plugin.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NN_MAX_OPTIM_SLOTS 4

typedef struct nn_optim_setup {
    uint32_t struct_size;
    /* out: names of the slots each parameter gets, shaped like it ("exp_avg") */
    int n_slots;
    const char *slot_names[NN_MAX_OPTIM_SLOTS];
    const nn_device *device; /* in, ABI 0.4: where parameters, gradients and slots live */
    const void *reserved[7];
} nn_optim_setup;

/* One parameter as the optimizer sees it. */
typedef struct nn_optim_param {
    const char *name;        /* "fc1.weight" */
    nn_tensor *value;        /* updated in place; contiguous F32 */
    const nn_tensor *grad;   /* same shape as value */
    nn_tensor *slots[NN_MAX_OPTIM_SLOTS];
    double lr_mult;           /* per-layer multiplier of the learning rate (1 by default) */
    /* per-layer multiplier of weight decay (0 = no decay). The core already applies
     * `[train] decay_bias_and_norm = false` through it: parameters flagged NN_TENSOR_BIAS or
     * NN_TENSOR_NORM then arrive with 0 here, so an optimizer multiplies its decay by this and
     * never looks at flags for that itself */
    double weight_decay_mult;
    uint32_t flags;           /* NN_TENSOR_*; informational */
    const void *reserved[4];
} nn_optim_param;

typedef struct nn_optim_step {
    uint32_t struct_size;
    double lr;     /* this step's learning rate (after the scheduler) */
    int64_t t;     /* 1-based count of optimizer steps, this one included */
    int n_params;
    nn_optim_param *params;
    const nn_device *device; /* ABI 0.4: as in setup; never NULL */
    const void *reserved[7];
} nn_optim_step;

typedef struct nn_optimizer_vtable {
    NN_VTABLE_COMMON;
    /* required: declare slots */
    int (*setup)(void *self, nn_optim_setup *s, nn_error *err);
    /* required: update every parameter; never allocate */
    int (*step)(void *self, const nn_optim_step *st, nn_error *err);
    const void *reserved[8];
} nn_optimizer_vtable;

#ifdef __cplusplus
}
#endif
#endif
