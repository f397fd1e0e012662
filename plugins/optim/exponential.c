/* exponential.c: the "exponential" scheduler plugin: the rate is multiplied by gamma every
 * epoch, as torch.optim.lr_scheduler.ExponentialLR, in closed form (base * gamma^epoch) so that
 * a resumed run gets the same rates. No state; no allocation after create. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/scheduler.h>

typedef struct exponential {
    double gamma;
} exponential;

static int exponential_create(const nn_params *p, void **self, nn_error *err)
{
    exponential *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->gamma = nn_params_float(p, "gamma");
    *self = s;
    return NN_OK;
}

static void exponential_destroy(void *self)
{
    free(self);
}

static int exponential_start(void *self, const nn_sched_ctx *c, nn_sched_info *info,
                             double *lr, nn_error *err)
{
    (void)err;
    const exponential *s = self;
    info->per_batch = 0;
    info->monitor = NULL;
    *lr = c->base_lr * pow(s->gamma, (double)c->epoch);
    return NN_OK;
}

static int exponential_step(void *self, const nn_sched_ctx *c, double *lr, nn_error *err)
{
    (void)err;
    const exponential *s = self;
    *lr = c->base_lr * pow(s->gamma, (double)c->epoch);
    return NN_OK;
}

static const nn_param_spec exponential_params[] = {
    {.name = "gamma", .type = NN_PARAM_FLOAT, .range = "(0, inf)", .required = 1,
     .doc = "factor the rate is multiplied by after every epoch"},
    {.name = NULL},
};

static const nn_scheduler_vtable exponential_vtable = {
    .struct_size = sizeof(nn_scheduler_vtable),
    .create = exponential_create,
    .destroy = exponential_destroy,
    .start = exponential_start,
    .step = exponential_step,
};

static const nn_plugin_desc exponential_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_SCHEDULER, .name = "exponential", .version = "1.0.0", .license = "MIT",
    .summary = "per epoch: lr = base * gamma^epoch (ExponentialLR)",
    .params = exponential_params, .vtable = &exponential_vtable);

NN_PLUGIN_EXPORT(&exponential_desc);
