/* cosine.c: the "cosine" scheduler plugin: cosine annealing from the base rate to eta_min over
 * t_max epochs (or batches), as torch.optim.lr_scheduler.CosineAnnealingLR's closed form, so a
 * resumed run gets the same rates. No state; no allocation after create. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/scheduler.h>

#define COSINE_PI 3.14159265358979323846

typedef struct cosine {
    int64_t t_max; /* 0 until start() when the run length is the default */
    double eta_min;
    int per_batch;
} cosine;

static int cosine_create(const nn_params *p, void **self, nn_error *err)
{
    cosine *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->t_max = nn_params_has(p, "t_max") ? nn_params_int(p, "t_max") : 0;
    s->eta_min = nn_params_float(p, "eta_min");
    s->per_batch = nn_params_enum(p, "unit") == 1;
    *self = s;
    return NN_OK;
}

static void cosine_destroy(void *self)
{
    free(self);
}

/* eta_min + (base - eta_min) * (1 + cos(pi * t / t_max)) / 2; periodic past t_max like
 * PyTorch's closed form */
static double cosine_lr(const cosine *s, const nn_sched_ctx *c)
{
    double t = (double)(s->per_batch ? c->step : c->epoch);
    return s->eta_min +
           (c->base_lr - s->eta_min) * (1.0 + cos(COSINE_PI * t / (double)s->t_max)) / 2;
}

static int cosine_start(void *self, const nn_sched_ctx *c, nn_sched_info *info, double *lr,
                        nn_error *err)
{
    cosine *s = self;
    /* eta_min is the bottom of the cosine: above lr, the "annealing" would raise the rate */
    if (s->eta_min > c->base_lr)
        return nn_error_set(err, NN_EINVAL, "key 'eta_min' = %g is above the optimizer's key "
                            "'lr' = %g, so the annealing would raise the rate; give eta_min <= "
                            "lr", s->eta_min, c->base_lr);
    if (!s->t_max) {
        int64_t len = s->per_batch ? c->steps_per_epoch * c->total_epochs : c->total_epochs;
        if (len <= 0)
            return nn_error_set(err, NN_EINVAL, "key 't_max' is not set and the run's length in "
                                "%s is unknown; set t_max", s->per_batch ? "batches" : "epochs");
        s->t_max = len;
    }
    info->per_batch = s->per_batch;
    info->monitor = NULL;
    *lr = cosine_lr(s, c);
    return NN_OK;
}

static int cosine_step(void *self, const nn_sched_ctx *c, double *lr, nn_error *err)
{
    (void)err;
    *lr = cosine_lr(self, c);
    return NN_OK;
}

static const nn_param_spec cosine_params[] = {
    {.name = "t_max", .type = NN_PARAM_INT, .range = "[1, inf)",
     .doc = "length of the half cosine in units; default: the whole run (epochs, or "
            "batches with unit = batch)"},
    {.name = "eta_min", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",
     .doc = "the rate at the bottom of the cosine; at most the optimizer's lr"},
    {.name = "unit", .type = NN_PARAM_ENUM, .def = "epoch", .choices = "epoch|batch",
     .doc = "what t counts and when the rate changes: after every epoch or every batch"},
    {.name = NULL},
};

static const nn_scheduler_vtable cosine_vtable = {
    .struct_size = sizeof(nn_scheduler_vtable),
    .create = cosine_create,
    .destroy = cosine_destroy,
    .start = cosine_start,
    .step = cosine_step,
};

static const nn_plugin_desc cosine_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_SCHEDULER, .name = "cosine", .version = "1.0.0", .license = "MIT",
    .summary = "cosine annealing to eta_min over t_max epochs or batches (CosineAnnealingLR)",
    .params = cosine_params, .vtable = &cosine_vtable);

NN_PLUGIN_EXPORT(&cosine_desc);
