/* adamw.c: the "adamw" optimizer plugin, Adam with decoupled weight decay (the weights shrink by
 * lr*weight_decay before the Adam update) and AMSGrad, following torch.optim.AdamW exactly
 * (nn_adam.h holds the update shared with adam). Its state lives only in its slots. */
#include "nn_adam.h"

static int adamw_create(const nn_params *p, void **self, nn_error *err)
{
    return nn_adam_create(p, 1, self, err);
}

static const nn_param_spec adamw_params[] = {NN_STOCK_ADAMW_PARAMS, {.name = NULL}};

static const nn_optimizer_vtable adamw_vtable = {
    .struct_size = sizeof(nn_optimizer_vtable),
    .create = adamw_create,
    .destroy = nn_adam_destroy,
    .setup = nn_adam_setup,
    .step = nn_adam_step,
};

static const nn_plugin_desc adamw_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "adamw", .version = "1.0.0", .license = "MIT",
    .caps = NN_CAP_ELEMENTWISE,
    .summary = "AdamW: Adam with decoupled weight decay and AMSGrad (torch.optim.AdamW)",
    .params = adamw_params, .vtable = &adamw_vtable);

NN_PLUGIN_EXPORT(&adamw_desc);
