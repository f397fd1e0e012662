/* cosine_warm_restarts.c: the "cosine_warm_restarts" scheduler plugin: SGDR, cosine annealing
 * restarted after t_0 epochs and then periods growing by t_mult, as
 * torch.optim.lr_scheduler.CosineAnnealingWarmRestarts stepped once per epoch. The position in
 * the cycle is derived from the epoch count with integers, so resume is exact. No state. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/scheduler.h>

#define SGDR_PI 3.14159265358979323846

typedef struct sgdr {
    int64_t t_0, t_mult;
    double eta_min;
} sgdr;

static int sgdr_create(const nn_params *p, void **self, nn_error *err)
{
    sgdr *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->t_0 = nn_params_int(p, "t_0");
    s->t_mult = nn_params_int(p, "t_mult");
    s->eta_min = nn_params_float(p, "eta_min");
    *self = s;
    return NN_OK;
}

static void sgdr_destroy(void *self)
{
    free(self);
}

/* the same walk as PyTorch's step(): t_cur += 1, and at t_i restart with t_i *= t_mult */
static double sgdr_lr(const sgdr *s, const nn_sched_ctx *c)
{
    int64_t t_cur = c->epoch, t_i = s->t_0;
    if (s->t_mult == 1) {
        t_cur %= t_i;
    } else {
        while (t_cur >= t_i) {
            t_cur -= t_i;
            t_i *= s->t_mult;
        }
    }
    return s->eta_min +
           (c->base_lr - s->eta_min) * (1.0 + cos(SGDR_PI * (double)t_cur / (double)t_i)) / 2;
}

static int sgdr_start(void *self, const nn_sched_ctx *c, nn_sched_info *info, double *lr,
                      nn_error *err)
{
    const sgdr *s = self;
    if (s->eta_min > c->base_lr) /* each cosine would climb from lr to eta_min */
        return nn_error_set(err, NN_EINVAL, "key 'eta_min' = %g is above the optimizer's key "
                            "'lr' = %g: each cycle would raise the rate instead of lowering it; "
                            "give eta_min <= lr", s->eta_min, c->base_lr);
    info->per_batch = 0;
    info->monitor = NULL;
    *lr = sgdr_lr(s, c);
    return NN_OK;
}

static int sgdr_step(void *self, const nn_sched_ctx *c, double *lr, nn_error *err)
{
    (void)err;
    *lr = sgdr_lr(self, c);
    return NN_OK;
}

static const nn_param_spec sgdr_params[] = {
    {.name = "t_0", .type = NN_PARAM_INT, .range = "[1, inf)", .required = 1,
     .doc = "number of epochs until the first restart"},
    {.name = "t_mult", .type = NN_PARAM_INT, .def = "1", .range = "[1, 1000]",
     .doc = "each period is t_mult times longer than the one before"},
    {.name = "eta_min", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",
     .doc = "the rate at the bottom of each cosine; at most the optimizer's lr"},
    {.name = NULL},
};

static const nn_scheduler_vtable sgdr_vtable = {
    .struct_size = sizeof(nn_scheduler_vtable),
    .create = sgdr_create,
    .destroy = sgdr_destroy,
    .start = sgdr_start,
    .step = sgdr_step,
};

static const nn_plugin_desc sgdr_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_SCHEDULER, .name = "cosine_warm_restarts", .version = "1.0.0",
    .license = "MIT",
    .summary = "per epoch: cosine annealing with warm restarts, SGDR (CosineAnnealingWarmRestarts)",
    .params = sgdr_params, .vtable = &sgdr_vtable);

NN_PLUGIN_EXPORT(&sgdr_desc);
