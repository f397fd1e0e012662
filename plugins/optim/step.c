/* step.c: the "step" scheduler plugin: the rate is multiplied by gamma every step_size epochs,
 * as torch.optim.lr_scheduler.StepLR, computed in closed form from the epoch count so that a
 * resumed run gets the same rates. It keeps no state and never allocates after create. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/scheduler.h>

typedef struct step_sched {
    int64_t step_size;
    double gamma;
} step_sched;

static int step_create(const nn_params *p, void **self, nn_error *err)
{
    step_sched *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->step_size = nn_params_int(p, "step_size");
    s->gamma = nn_params_float(p, "gamma");
    *self = s;
    return NN_OK;
}

static void step_destroy(void *self)
{
    free(self);
}

static double step_lr(const step_sched *s, const nn_sched_ctx *c)
{
    return c->base_lr * pow(s->gamma, (double)(c->epoch / s->step_size));
}

static int step_start(void *self, const nn_sched_ctx *c, nn_sched_info *info, double *lr,
                      nn_error *err)
{
    (void)err;
    info->per_batch = 0;
    info->monitor = NULL;
    *lr = step_lr(self, c);
    return NN_OK;
}

static int step_step(void *self, const nn_sched_ctx *c, double *lr, nn_error *err)
{
    (void)err;
    *lr = step_lr(self, c);
    return NN_OK;
}

static const nn_param_spec step_params[] = {
    {.name = "step_size", .type = NN_PARAM_INT, .range = "[1, inf)", .required = 1,
     .doc = "number of epochs between two decays"},
    {.name = "gamma", .type = NN_PARAM_FLOAT, .def = "0.1", .range = "(0, inf)",
     .doc = "factor the rate is multiplied by at each decay"},
    {.name = NULL},
};

static const nn_scheduler_vtable step_vtable = {
    .struct_size = sizeof(nn_scheduler_vtable),
    .create = step_create,
    .destroy = step_destroy,
    .start = step_start,
    .step = step_step,
};

static const nn_plugin_desc step_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_SCHEDULER, .name = "step", .version = "1.0.0", .license = "MIT",
    .summary = "per epoch: lr = base * gamma^floor(epoch / step_size) (StepLR)",
    .params = step_params, .vtable = &step_vtable);

NN_PLUGIN_EXPORT(&step_desc);
