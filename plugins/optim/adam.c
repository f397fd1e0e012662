/* adam.c: the "adam" optimizer plugin, Adam with L2 weight decay added to the gradient and the
 * AMSGrad variant, following torch.optim.Adam's update (bias correction included) exactly
 * (nn_adam.h holds the update shared with adamw). Its state lives only in its slots. */
#include "nn_adam.h"

static int adam_create(const nn_params *p, void **self, nn_error *err)
{
    return nn_adam_create(p, 0, self, err);
}

static const nn_param_spec adam_params[] = {NN_STOCK_ADAM_PARAMS, {.name = NULL}};

static const nn_optimizer_vtable adam_vtable = {
    .struct_size = sizeof(nn_optimizer_vtable),
    .create = adam_create,
    .destroy = nn_adam_destroy,
    .setup = nn_adam_setup,
    .step = nn_adam_step,
};

static const nn_plugin_desc adam_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "adam", .version = "1.0.0", .license = "MIT",
    .caps = NN_CAP_ELEMENTWISE,
    .summary = "Adam with bias correction, L2 weight decay and AMSGrad (torch.optim.Adam)",
    .params = adam_params, .vtable = &adam_vtable);

NN_PLUGIN_EXPORT(&adam_desc);
